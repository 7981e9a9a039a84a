"""org.evcharge.V2g1 (no postponed annotations: dbus-fast reads the signatures)."""

from typing import TYPE_CHECKING

from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, signal

from ..common import names

if TYPE_CHECKING:
    from .service import V2gService


class V2gInterface(ServiceInterface):
    """org.evcharge.V2g1 on /org/evcharge/V2g1: the SECC of one connector."""

    def __init__(self, svc: "V2gService") -> None:
        super().__init__(names.V2G)
        self._svc = svc

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorId(self) -> "u":
        """The connector this SECC serves."""
        return self._svc.cfg.connector_id

    @dbus_property(access=PropertyAccess.READ)
    def Interface(self) -> "s":
        """Network interface of the PLC modem."""
        return self._svc.cfg.interface

    @dbus_property(access=PropertyAccess.READ)
    def TcpPort(self) -> "q":
        """TCP port announced by SDP."""
        return self._svc.server.tcp_port

    @dbus_property(access=PropertyAccess.READ)
    def Phase(self) -> "s":
        """Idle, or the session's phase (SupportedAppProtocol, SessionSetup, ..., Charging, StoppedCharging, Ended)."""
        return self._svc.phase

    @dbus_property(access=PropertyAccess.READ)
    def Protocol(self) -> "s":
        """Negotiated protocol of the current or last session: iso2, din or empty."""
        secc = self._svc.server.secc
        return (secc.protocol or "") if secc else ""

    @dbus_property(access=PropertyAccess.READ)
    def SessionId(self) -> "s":
        """V2G SessionID (hex) of the current or last session."""
        secc = self._svc.server.secc
        return secc.session_id.hex().upper() if secc and secc.session_id else ""

    @dbus_property(access=PropertyAccess.READ)
    def LastStopReason(self) -> "s":
        """Why the last session ended (SessionStop(Terminate), sequence timeout, FAILED_SequenceError: ...)."""
        return self._svc.server.last_stop_reason

    @dbus_property(access=PropertyAccess.READ)
    def Sessions(self) -> "u":
        """V2G sessions (TCP connections) served since start."""
        return self._svc.server.sessions

    @signal()
    def SessionEnded(self, session_id: str, reason: str) -> "ss":
        """A V2G session ended: SessionID (hex), reason."""
        return [session_id, reason]
