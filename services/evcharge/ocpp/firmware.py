"""OCPP secure firmware updates (2.0.1 use case L01: UpdateFirmware, FirmwareStatusNotification)
carried out by the update service (org.evcharge.Update1, RAUC A/B).

The station does not install anything itself: it hands the bundle's URL, with the request's
times, retries, signature and signing certificate, to the update service
(InstallWithOptions) and reports that service's statuses, which already are OCPP
FirmwareStatusEnumType values (DownloadScheduled, Downloading, Downloaded, DownloadFailed,
SignatureVerified, InvalidSignature, InstallScheduled, Installing, InstallRebooting, Installed,
InstallationFailed, InstallVerificationFailed). The update service keeps every status of its
request (`History`, persisted on the data partition, decided after mark-good), so the relay only
remembers how many of them it has reported: after a reboot, or a restart of either service, it
sends exactly the ones not sent yet, in order, once.

Here, on the OCPP side: the signing certificate is checked against the installed
ManufacturerRootCertificates when the request arrives (InvalidCertificate and the security
event InvalidFirmwareSigningCertificate, L01.FR.02); InvalidSignature from the update service
raises the security event InvalidFirmwareSignature (L01.FR.03). Once a manufacturer root is
installed, a request without signature and certificate is Rejected (TC_L_18); without one, the
station has nothing to check a certificate against and relies on RAUC's keyring alone. A new
request while one is scheduled, downloading or waiting to install cancels it (AcceptedCanceled,
L01.FR.24); once installing it cannot be cancelled (Rejected, L01.FR.27).

OCPP 1.6J uses the same relay and agent (ocpp/v16/service.py): the security extension's
SignedUpdateFirmware is reported like L01 with SignedFirmwareStatusNotification (`SIGNED16`),
the core UpdateFirmware with FirmwareStatusNotification without requestId and only the seven
core statuses (`CORE16`, `core16_status`). Each tracked request remembers how it is reported.

`FirmwareRelay` is pure (fed requests and the update service's state, returns what to send);
`FirmwareAgent` wires it to D-Bus.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dbus_fast import DBusError, Variant
from dbus_fast.aio import MessageBus

from ..common import ftpurl, names
from ..common.bus import Subscription, call, get_all
from .queue import MessageQueue

if TYPE_CHECKING:
    from .security import Security

log = logging.getLogger("evcharge.ocpp.firmware")

ACTION = "FirmwareStatusNotification"
STATE_KEY = "firmware"

MANUFACTURER_ROOT = "ManufacturerRootCertificate"

# The update service's statuses that are OCPP FirmwareStatusEnumType values (not Idle, Canceled).
OCPP_STATUSES = {"DownloadScheduled", "Downloading", "Downloaded", "DownloadFailed", "SignatureVerified",
                 "InstallScheduled", "Installing", "InstallRebooting", "Installed", "InstallationFailed",
                 "InvalidSignature", "InstallVerificationFailed"}
# Final: the request is over (a new UpdateFirmware is accepted).
FINAL = {"Idle", "DownloadFailed", "Installed", "InstallationFailed", "InvalidSignature",
         "InstallVerificationFailed", "Canceled"}
# Statuses that come with a SecurityEventNotification (sent whatever the event's criticality).
SECURITY_EVENTS = {"InvalidSignature": "InvalidFirmwareSignature", "Installed": "FirmwareUpdated"}
# Nothing written to a slot yet: a new request replaces it (AcceptedCanceled).
CANCELLABLE = {"DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"}

# How a request's statuses are reported (kept with the request: a 1.6 station has both kinds).
V201 = "2.0.1"        # FirmwareStatusNotification with requestId, every OCPP status
SIGNED16 = "1.6-signed"   # SignedFirmwareStatusNotification (1.6 security extension): the same payloads
CORE16 = "1.6"        # FirmwareStatusNotification of 1.6 core: no requestId, seven statuses
REPORT_ACTIONS = {V201: ACTION, SIGNED16: "SignedFirmwareStatusNotification", CORE16: ACTION}
# The update service's statuses as 1.6 core FirmwareStatus values. The refusals core has no
# name for are installation failures; the steps in between (scheduled, verified, rebooting)
# are not reported (the previous status still holds).
CORE16_STATUSES = {"Downloading": "Downloading", "Downloaded": "Downloaded", "DownloadFailed": "DownloadFailed",
                   "Installing": "Installing", "Installed": "Installed", "InstallationFailed": "InstallationFailed",
                   "InvalidSignature": "InstallationFailed", "InstallVerificationFailed": "InstallationFailed"}
# What a triggered 1.6 core FirmwareStatusNotification says in the steps it has no status for.
CORE16_TRIGGER = {**CORE16_STATUSES, "DownloadScheduled": "Idle", "SignatureVerified": "Downloaded",
                  "InstallScheduled": "Downloaded", "InstallRebooting": "Installing"}


def core16_status(status: str) -> str | None:
    """The 1.6 core FirmwareStatusNotification status for an update service status (None: not reported)."""
    return CORE16_STATUSES.get(status)


@dataclass
class Tracked:
    request_id: int          # OCPP requestId of the UpdateFirmware
    location: str
    update_id: str = ""      # the update service's request id ("" until Install returned)
    reported: int = 0        # how many entries of the update's History were sent
    done: bool = False       # a final status was sent
    options: dict[str, Any] = field(default_factory=dict)   # InstallWithOptions' options (plain)
    last: str = ""           # the last status of the update's History seen
    report: str = V201       # how its statuses are reported (V201, SIGNED16, CORE16)


def install_options(firmware: dict[str, Any], retries: int | None, retry_interval: int | None) -> dict[str, Any]:
    """UpdateFirmware's fields as the update service's InstallWithOptions options."""
    o: dict[str, Any] = {}
    for key, name in (("retrieveDateTime", "retrieve_datetime"), ("installDateTime", "install_datetime"),
                      ("signature", "signature"), ("signingCertificate", "signing_certificate")):
        if firmware.get(key):
            o[name] = str(firmware[key])
    if retries is not None:
        o["retries"] = int(retries)
    if retry_interval is not None:
        o["retry_interval_s"] = int(retry_interval)
    return o


def signing_certificate_error(pem: str, roots: list[Any], now: datetime) -> str | None:
    """Why a firmware signing certificate (PEM, leaf first, intermediates may follow) is not
    trusted: None when each certificate is in its validity period and the chain ends at one of
    `roots` (the installed ManufacturerRootCertificates). Loads `cryptography`."""
    from .certificates import CertificateError, parse_pem_chain, verify_chain
    try:
        verify_chain(parse_pem_chain(pem), roots, now)
    except CertificateError as e:
        return str(e)
    return None


def variants(options: dict[str, Any]) -> dict[str, Variant]:
    return {k: Variant("i" if isinstance(v, int) else "s", v) for k, v in options.items()}


def triggered(report: str, update_status: str, current: Tracked | None) -> dict[str, Any]:
    """A triggered FirmwareStatusNotification: the running request's status with its requestId
    (L01.FR.26), Idle when none runs (F06.FR.16, L01.FR.25). CORE16: the 1.6 core status of
    whatever the update service does (no requestId), Idle when it does nothing (1.6 4.5).
    update_status is the update service's Status ("" when it is not on the bus)."""
    if report == CORE16:
        running = update_status not in FINAL and update_status != ""
        return {"status": CORE16_TRIGGER.get(update_status, "Idle") if running else "Idle"}
    if current is not None and not current.done and update_status in OCPP_STATUSES:
        return {"status": update_status, "requestId": current.request_id}
    return {"status": "Idle"}


class FirmwareRelay:
    """Which FirmwareStatusNotifications to send, from the update service's request history."""

    def __init__(self) -> None:
        self.current: Tracked | None = None

    # --- UpdateFirmware -----------------------------------------------------------------------
    @staticmethod
    def check_location(location: str) -> str | None:
        """Why a firmware location is refused (None: fine). Only http, https, ftp and ftps URLs
        (the update service downloads them): a CSMS must not make the station install a file that
        happens to be on its disk."""
        try:
            parts = urlsplit(location)
            _ = parts.port
        except ValueError:
            return "not a URL"
        if parts.scheme not in ("http", "https", "ftp", "ftps") or not parts.hostname:
            return "the location must be an http, https, ftp or ftps URL"
        if parts.scheme in ("ftp", "ftps"):
            try:
                loc = ftpurl.parse(location)
            except ValueError as e:
                return str(e)
            if loc.is_directory:
                return "the FTP location names a directory, not a firmware file"
        return None

    def decide(self, location: str, update_status: str, *, has_signature: bool, has_certificate: bool,
               secure_required: bool, certificate_error: str | None) -> str:
        """The UpdateFirmware answer (UpdateFirmwareStatusEnumType), before anything changes.
        update_status is the update service's Status ("" if it is not running);
        certificate_error: why the signing certificate is not trusted (None: trusted or absent).
        AcceptedCanceled: the caller cancels the running request, then calls accept()."""
        if self.check_location(location) or not update_status:
            return "Rejected"
        if self.current is not None and not self.current.done and self.current.update_id == "":
            return "Rejected"    # the previous request is being handed over right now
        if has_signature != has_certificate:
            return "Rejected"    # one without the other cannot be checked
        if not has_certificate and secure_required:
            return "Rejected"    # TC_L_18: not a secure request while secure updates are set up
        if has_certificate and certificate_error is not None:
            return "InvalidCertificate"
        if update_status in FINAL:
            return "Accepted"
        if update_status in CANCELLABLE:
            return "AcceptedCanceled"
        return "Rejected"        # installing: RAUC writes the other slot, the reboot decides

    def accept(self, request_id: int, location: str, options: dict[str, Any] | None = None,
               report: str = V201) -> None:
        """A request was Accepted (or AcceptedCanceled): track it; a replaced one is over."""
        self.current = Tracked(request_id, location, options=dict(options or {}), report=report)

    @property
    def action(self) -> str:
        """The notification the tracked request's statuses go out as."""
        return REPORT_ACTIONS[self.current.report if self.current is not None else V201]

    @staticmethod
    def payload(t: Tracked, status: str) -> dict[str, Any] | None:
        """The notification payload of `status` for the request `t` (None: not reported)."""
        if t.report == CORE16:
            core = core16_status(status)
            return {"status": core} if core else None
        return {"status": status, "requestId": t.request_id} if status in OCPP_STATUSES else None

    def request(self, request_id: int, location: str, update_status: str) -> str:
        """decide() and accept() for an unsigned request where no manufacturer root is installed
        (an AcceptedCanceled here assumes the cancel succeeded)."""
        answer = self.decide(location, update_status, has_signature=False, has_certificate=False,
                             secure_required=False, certificate_error=None)
        if answer in ("Accepted", "AcceptedCanceled"):
            self.accept(request_id, location)
        return answer

    def install_started(self, update_id: str) -> None:
        if self.current is not None:
            self.current.update_id = update_id

    def install_refused(self, error: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The update service refused the request (its Install failed): report it failed."""
        t = self.current
        if t is None or t.done:
            return []
        t.done = True
        status = "DownloadFailed" if "download" in error.lower() else "InstallationFailed"
        t.last = status
        payload = self.payload(t, status)
        return [(payload, self.to_json())] if payload else []

    # --- the update service's state ---------------------------------------------------------------
    def update_state(self, update_id: str, history: list[str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The FirmwareStatusNotifications to send now, in order, each with the relay's state as
        it is once that one is queued (stored atomically with it: a crash between two leaves
        exactly the later ones to send). Only the request this station started is reported."""
        t = self.current
        if t is None or t.done or not t.update_id or update_id != t.update_id:
            return []
        out = []
        for status in history[t.reported:]:
            t.reported += 1
            t.last = status
            t.done = status in FINAL
            payload = self.payload(t, status)
            if payload is not None:
                out.append((payload, self.to_json()))
        return out

    def rebooting(self) -> bool:
        """The station went down for the install of the tracked request (BootNotification
        reason FirmwareUpdate at the next start)."""
        t = self.current
        return t is not None and not t.done and t.last == "InstallRebooting"

    # --- persistence -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"current": asdict(self.current) if self.current else None}

    def load_json(self, data: dict[str, Any] | None) -> None:
        cur = (data or {}).get("current")
        self.current = Tracked(**cur) if cur else None


class FirmwareAgent:
    """The relay on D-Bus: calls Update1.Install, follows its History, and queues each
    FirmwareStatusNotification in the station's durable queue (with the relay's state, in one
    transaction); `wake` tells the station's sender."""

    def __init__(self, bus: MessageBus, queue: MessageQueue, wake: Callable[[], None],
                 spawn: Callable[[Awaitable[Any]], None], security: Security | None = None) -> None:
        self.bus = bus
        self.queue = queue
        self.wake = wake
        self.spawn = spawn
        self.security = security
        self.relay = FirmwareRelay()
        self.relay.load_json(queue.get_state(STATE_KEY))
        self.update = Subscription(bus, names.UPDATE)
        self.status = ""   # the update service's Status ("" while it is not on the bus)
        self.update_id = ""   # the update service's RequestId
        self._handing_over = False   # an InstallWithOptions call is under way

    def trigger_payload(self, report: str = V201) -> dict[str, Any]:
        """TriggerMessage(FirmwareStatusNotification) now (see `triggered`)."""
        return triggered(report, self.status, self.relay.current)

    async def start(self) -> None:
        await self.update.start()
        await self.update.properties(names.UPDATE, self._on_props, path_namespace=names.UPDATE_PATH)
        self.update.on_owner_changed.append(lambda _o, new: self.spawn(self.resume()) if new else None)
        await self.resume()

    async def resume(self) -> None:
        """At start (or when the update service appears): a request accepted but not handed over
        (a crash between the answer and InstallWithOptions) is found by its origin, or handed
        over now; then report what was not reported."""
        t = self.relay.current
        if t is not None and not t.done and not t.update_id:
            try:
                props = await get_all(self.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE)
            except (DBusError, TimeoutError):
                return   # not on the bus yet: again when it appears
            if t.options.get("origin") and str(props.get("Origin", "")) == t.options["origin"] \
                    and props.get("RequestId"):
                self.relay.install_started(str(props["RequestId"]))
                self.queue.put_state(STATE_KEY, self.relay.to_json())
            else:
                await self.install()
                return
        await self.sync()

    def _queue(self, messages: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        action = self.relay.action
        rid = self.relay.current.request_id if self.relay.current is not None else 0
        for payload, state in messages:
            log.info("firmware request %d: %s %s", rid, action, payload["status"])
            out: list[tuple[str, dict[str, Any]]] = [(action, payload)]
            # L01.FR.03, and FirmwareUpdated after a successful update: queued with the status
            # and the relay's state in one transaction (each once, even across a crash).
            # the update service's status (a 1.6 core payload may have renamed it), as of this message
            raw = ((state or {}).get("current") or {}).get("last") or payload["status"]
            kind = SECURITY_EVENTS.get(raw)
            if kind and self.security is not None:
                out.append(("SecurityEventNotification", self.security.record(kind, f"firmware request {rid}")))
            self.queue.enqueue_many(out, state=state, state_key=STATE_KEY)
        if messages:
            self.wake()

    async def sync(self) -> None:
        """Read the update service's request and report what was not reported yet."""
        try:
            props = await get_all(self.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE)
        except (DBusError, TimeoutError) as e:
            log.debug("update service not readable: %s", e)
            self.status = ""
            return
        self.status = str(props.get("Status", ""))
        self.update_id = str(props.get("RequestId", ""))
        self._queue(self.relay.update_state(str(props.get("RequestId", "")), list(props.get("History", []))))

    def _on_props(self, _path: str, changed: dict[str, Any]) -> None:
        if "Status" in changed:
            self.status = str(changed["Status"])
        if "History" in changed:
            self.spawn(self.sync())  # RequestId is not in the change: read both together

    def check_certificate(self, pem: str) -> str | None:
        """Why the signing certificate is not trusted (None: trusted). Loads `cryptography`."""
        if self.security is None:
            return "no certificate store"
        return signing_certificate_error(pem, self.security.store.root_certs(MANUFACTURER_ROOT), datetime.now(UTC))

    def secure_required(self) -> bool:
        """Whether a manufacturer root is installed (then only signed requests are accepted).
        Looked up by file name: `cryptography` is not loaded for this."""
        if self.security is None:
            return False
        return any((self.security.dir / "certs" / MANUFACTURER_ROOT).glob("*.pem"))

    async def answer(self, request_id: int, firmware: dict[str, Any], retries: int | None = None,
                     retry_interval: int | None = None, report: str = V201) -> str:
        """The UpdateFirmware answer (`report`: how the request's statuses go out). A replaced
        request is cancelled in the update service before the answer (Rejected if that fails: it
        began installing meanwhile); an accepted one is persisted before it is answered and
        handed over by install() after it."""
        location = str(firmware.get("location", ""))
        cert = str(firmware.get("signingCertificate") or "")
        cert_error = self.check_certificate(cert) if cert else None
        await self.sync()   # the current status, and every status of the running request reported
        status = self.relay.decide(location, self.status, has_signature=bool(firmware.get("signature")),
                                   has_certificate=bool(cert), secure_required=self.secure_required(),
                                   certificate_error=cert_error)
        if status == "InvalidCertificate":
            log.warning("firmware request %d: signing certificate refused: %s", request_id, cert_error)
            if self.security is not None:
                self.security.event("InvalidFirmwareSigningCertificate", str(cert_error), send=True)
            return status
        if status == "AcceptedCanceled":
            try:
                await call(self.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE, "Cancel", "s",
                           [self.update_id], timeout=30.0)
            except (DBusError, TimeoutError) as e:
                log.info("firmware request %d: the running update could not be cancelled: %s", request_id,
                         getattr(e, "text", None) or e)
                return "Rejected"
            await self.sync()   # report what the old request had reached (not Canceled: not OCPP)
        if status in ("Accepted", "AcceptedCanceled"):
            # origin: unique, so this request is recognised after a crash (requestIds repeat)
            options = {**install_options(firmware, retries, retry_interval),
                       "origin": f"ocpp:{request_id}:{os.urandom(4).hex()}"}
            self.relay.accept(request_id, location, options, report)
            self.queue.put_state(STATE_KEY, self.relay.to_json())
        return status

    async def install(self) -> None:
        """After an Accepted UpdateFirmware: hand the location to the update service."""
        t = self.relay.current
        if t is None or t.update_id or t.done or self._handing_over:
            return
        self._handing_over = True
        try:
            await self._hand_over(t)
        finally:
            self._handing_over = False

    async def _hand_over(self, t: Tracked) -> None:
        try:
            (update_id,) = await call(self.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE, "InstallWithOptions",
                                      "sa{sv}", [t.location, variants(t.options)],
                                      timeout=30.0)
        except (DBusError, TimeoutError) as e:
            text = getattr(e, "text", None) or str(e)
            log.warning("firmware request %d: the update service refused: %s", t.request_id, text)
            self._queue(self.relay.install_refused(text))
            return
        self.relay.install_started(str(update_id))
        self.queue.put_state(STATE_KEY, self.relay.to_json())
        await self.sync()
