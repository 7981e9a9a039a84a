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
        """Install a RAUC bundle from an absolute local path or an http, https, ftp or ftps URL
        (downloaded first; ftp(s): passive mode, user and password from the URL or anonymous,
        ftps is explicit FTPS with the server certificate checked like https; no SFTP, no
        implicit FTPS); returns the request id. Scheduled (InstallScheduled) while a charging
        session is active. InvalidArgument for any other location."""
        return await self._svc.install(location)

    @method()
    async def InstallWithOptions(self, location: "s", options: "a{sv}") -> "s":
        """Install with options (what OCPP UpdateFirmware carries); the locations Install
        takes; returns the request id.
        Options: retrieve_datetime (s, RFC 3339 UTC: DownloadScheduled until then),
        install_datetime (s: InstallScheduled until then), retries (i) and retry_interval_s (i)
        for the download, signature (s, base64 SHA-256 signature of the bundle file) with
        signing_certificate (s, PEM; its trust is the caller's check): SignatureVerified or
        InvalidSignature after the download; origin (s, free text shown as Origin, so a caller
        can recognise its request after a crash)."""
        return await self._svc.install(location, {k: v.value for k, v in options.items()})

    @method()
    async def Cancel(self, request_id: "s"):
        """Cancel request_id (final status Canceled) while it has not started installing;
        InvalidState once it is Installing or over."""
        await self._svc.cancel(request_id)

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> "s":
        """OCPP firmware status of the last request: Idle, DownloadScheduled, Downloading,
        Downloaded, DownloadFailed, SignatureVerified, InstallScheduled, Installing,
        InstallRebooting, Installed, InstallationFailed, InvalidSignature,
        InstallVerificationFailed; or Canceled (not OCPP: a newer request replaced it)."""
        return self._svc.core.status.value

    @dbus_property(access=PropertyAccess.READ)
    def RequestId(self) -> "s":
        """Id of the last request ("" if none)."""
        return self._svc.core.request.id if self._svc.core.request else ""

    @dbus_property(access=PropertyAccess.READ)
    def Origin(self) -> "s":
        """The origin given with InstallWithOptions for the last request ("" if none)."""
        return self._svc.core.request.origin if self._svc.core.request else ""

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
