"""org.evcharge.Update1 on /org/evcharge/Update1 (no postponed annotations: dbus-fast reads them)."""

from typing import TYPE_CHECKING

from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

if TYPE_CHECKING:
    from .service import UpdateService

from ..common import names

UPDATE = names.UPDATE
UPDATE_PATH = names.UPDATE_PATH
RAUC = "de.pengutronix.rauc"
RAUC_PATH = "/"
RAUC_IFACE = "de.pengutronix.rauc.Installer"


class UpdateInterface(ServiceInterface):
    """org.evcharge.Update1: firmware updates (RAUC bundles) with OCPP firmware statuses."""

    def __init__(self, svc: "UpdateService") -> None:
        super().__init__(names.UPDATE)
        self._svc = svc

    @method()
    async def Install(self, location: "s") -> "s":
        """Install a RAUC bundle from an absolute local path or an http(s) URL; returns the
        request id. Scheduled (InstallScheduled) while a charging session is active."""
        return await self._svc.install(location)

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> "s":
        """OCPP firmware status of the last request: Idle, Downloading, Downloaded, DownloadFailed,
        InstallScheduled, Installing, InstallRebooting, Installed, InstallationFailed,
        InvalidSignature, InstallVerificationFailed."""
        return self._svc.core.status.value

    @dbus_property(access=PropertyAccess.READ)
    def RequestId(self) -> "s":
        """Id of the last request ("" if none)."""
        return self._svc.core.request.id if self._svc.core.request else ""

    @dbus_property(access=PropertyAccess.READ)
    def History(self) -> "as":
        """Every status of the last request, in order (survives the reboot)."""
        return list(self._svc.core.request.history) if self._svc.core.request else []

    @dbus_property(access=PropertyAccess.READ)
    def Progress(self) -> "i":
        """Install progress in percent (RAUC's), 0 when not installing."""
        return self._svc.progress

    @dbus_property(access=PropertyAccess.READ)
    def LastError(self) -> "s":
        """Why the last request failed ("" if it did not)."""
        return self._svc.core.request.error if self._svc.core.request else ""

    @dbus_property(access=PropertyAccess.READ)
    def BootSlot(self) -> "s":
        """The slot this system booted (RAUC bootname, e.g. A or B)."""
        return self._svc.boot_slot

    @signal()
    def StatusChanged(self, request_id: str, status: str) -> "ss":
        """A request's firmware status changed."""
        return [request_id, status]
