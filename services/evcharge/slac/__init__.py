"""SLAC (ISO 15118-3) on the PLC interface (`org.evcharge.Slac1`): `messages` (HomePlug AV MMEs),
`evse` (the pure EVSE state machine), `rawsock` (AF_PACKET), `service` (the process)."""
