"""org.evcharge.Slac1 (no postponed annotations: dbus-fast reads the signatures)."""

from typing import TYPE_CHECKING

from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, signal

from ..common import names

if TYPE_CHECKING:
    from .service import SlacService


class SlacInterface(ServiceInterface):
    """org.evcharge.Slac1 on /org/evcharge/Slac1: SLAC (ISO 15118-3) on one connector's PLC modem."""

    def __init__(self, svc: "SlacService") -> None:
        super().__init__(names.SLAC)
        self._svc = svc

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorId(self) -> "u":
        """The connector whose PLC modem this is."""
        return self._svc.cfg.connector_id

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> "s":
        """Idle, SetKey, WaitSlacParm, WaitSounds, WaitAttenCharRsp, WaitSlacMatch, Matched or Failed."""
        return self._svc.machine.state.value

    @dbus_property(access=PropertyAccess.READ)
    def EvMac(self) -> "s":
        """MAC address of the matched (or matching) EV."""
        mac = self._svc.machine.ev_mac
        return ":".join(f"{b:02X}" for b in mac) if mac else ""

    @dbus_property(access=PropertyAccess.READ)
    def Reason(self) -> "s":
        """Why the last matching failed."""
        return self._svc.machine.reason

    @signal()
    def Result(self, result: str, reason: str) -> "ss":
        """A matching ended: matched or failed, and why it failed."""
        return [result, reason]
