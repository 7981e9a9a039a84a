"""The auth service (`org.evcharge.Auth1`): token sources (RFID readers, remote, simulator) and
the local authorization list. Pure parts: tokens, allow list, PN532 codec, tap debouncing."""
