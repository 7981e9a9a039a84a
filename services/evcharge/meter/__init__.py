"""The meter service (`org.evcharge.Meter1`): one energy meter per connector.

Backends: an Eastron SDM630 over Modbus TCP or RTU, or a simulated meter that follows the
simulated board. The pure parts (register map, reading state, sim integration) have no I/O.
"""
