"""ISO 15118-2 / DIN SPEC 70121 SECC (`org.evcharge.V2g1`).

`sap` (supportedAppProtocol negotiation) and `secc` (the per-connection session state machine) are
pure: they take decoded messages and the monotonic time and return responses; `transport` is the
asyncio adapter (SDP over UDP, V2GTP over TCP), `service` the process with its D-Bus controller.
"""
