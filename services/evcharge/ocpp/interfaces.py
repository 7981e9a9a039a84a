"""org.evcharge.Ocpp1 on /org/evcharge/Ocpp1 (no postponed annotations: dbus-fast reads them)."""

from typing import TYPE_CHECKING

from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

from ..common import names

if TYPE_CHECKING:
    from .service import OcppService


class OcppInterface(ServiceInterface):
    """The OCPP client: link state to the CSMS and the offline queue."""

    def __init__(self, svc: "OcppService") -> None:
        super().__init__(names.OCPP)
        self._svc = svc

    @method()
    def Reconnect(self) -> None:
        """Drop the CSMS connection (if any) and connect again now, without waiting for the back-off."""
        self._svc.reconnect()

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":
        """The WebSocket to the CSMS is open."""
        return self._svc.link is not None

    @dbus_property(access=PropertyAccess.READ)
    def BootStatus(self) -> "s":
        """Disconnected, Booting, Pending, Rejected or Accepted (the CSMS's BootNotification answer)."""
        return self._svc.boot.state

    @dbus_property(access=PropertyAccess.READ)
    def QueueLength(self) -> "u":
        """Messages (transaction and security events) stored and not yet confirmed by the CSMS."""
        return len(self._svc.queue)

    @dbus_property(access=PropertyAccess.READ)
    def CsmsUrl(self) -> "s":
        """The endpoint connected to: <csms_url>/<station_id>."""
        return self._svc.security.url()

    @dbus_property(access=PropertyAccess.READ)
    def StationId(self) -> "s":
        """The charging station identity."""
        return self._svc.cfg.station_id

    @dbus_property(access=PropertyAccess.READ)
    def SecurityProfile(self) -> "u":
        """OCPP security profile in use (0: none, 1: basic auth, 2: TLS + basic auth, 3: TLS client certificate)."""
        return self._svc.security.current_profile()

    @dbus_property(access=PropertyAccess.READ)
    def HeartbeatIntervalS(self) -> "u":
        """Heartbeat interval (from the CSMS at boot or OCPPCommCtrlr.HeartbeatInterval)."""
        return self._svc.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval")

    @dbus_property(access=PropertyAccess.READ)
    def LastError(self) -> "s":
        """Why the last connection attempt failed or closed, empty while connected."""
        return self._svc.last_error
