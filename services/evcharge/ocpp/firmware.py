"""OCPP firmware updates (2.0.1 use cases L01/L02: UpdateFirmware, FirmwareStatusNotification)
carried out by the update service (org.evcharge.Update1, RAUC A/B).

The station does not install anything itself: it hands the bundle's URL to the update service
and reports that service's statuses, which already are OCPP FirmwareStatusEnumType values
(Downloading, Downloaded, DownloadFailed, InstallScheduled, Installing, InstallRebooting,
Installed, InstallationFailed, InvalidSignature, InstallVerificationFailed). The update service
keeps every status of its request (`History`, persisted on the data partition, decided after
mark-good), so the relay only remembers how many of them it has reported: after a reboot, or a
restart of either service, it sends exactly the ones not sent yet, in order, once.

`FirmwareRelay` is pure (fed requests and the update service's state, returns what to send);
`FirmwareAgent` wires it to D-Bus. What is not done (docs/ocpp.md): retrieveDateTime and
installDateTime in the future (the download starts at once), retries/retryInterval, and the
request's own signature/signingCertificate (RAUC verifies the bundle's CMS signature against
the image's keyring, so there is no separate SignatureVerified status).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import Subscription, call, get_all
from .queue import MessageQueue

log = logging.getLogger("evcharge.ocpp.firmware")

ACTION = "FirmwareStatusNotification"
STATE_KEY = "firmware"

# The update service's statuses that are OCPP FirmwareStatusEnumType values (all but Idle).
OCPP_STATUSES = {"Downloading", "Downloaded", "DownloadFailed", "InstallScheduled", "Installing",
                 "InstallRebooting", "Installed", "InstallationFailed", "InvalidSignature",
                 "InstallVerificationFailed"}
# Final: the request is over (a new UpdateFirmware is accepted).
FINAL = {"Idle", "DownloadFailed", "Installed", "InstallationFailed", "InvalidSignature",
         "InstallVerificationFailed"}


@dataclass
class Tracked:
    request_id: int          # OCPP requestId of the UpdateFirmware
    location: str
    update_id: str = ""      # the update service's request id ("" until Install returned)
    reported: int = 0        # how many entries of the update's History were sent
    done: bool = False       # a final status was sent


class FirmwareRelay:
    """Which FirmwareStatusNotifications to send, from the update service's request history."""

    def __init__(self) -> None:
        self.current: Tracked | None = None

    # --- UpdateFirmware -----------------------------------------------------------------------
    @staticmethod
    def check_location(location: str) -> str | None:
        """Why a firmware location is refused (None: fine). Only http(s) URLs: a CSMS must not
        make the station install a file that happens to be on its disk."""
        try:
            parts = urlsplit(location)
        except ValueError:
            return "not a URL"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "the location must be an http(s) URL"
        return None

    def request(self, request_id: int, location: str, update_status: str) -> str:
        """The UpdateFirmware answer (UpdateFirmwareStatusEnumType). update_status is the update
        service's Status ("" if it is not running). An update in progress cannot be cancelled
        (RAUC writes the other slot; the reboot decides): Rejected, not AcceptedCanceled."""
        if self.check_location(location):
            return "Rejected"
        if not update_status:
            return "Rejected"
        if update_status not in FINAL or (self.current is not None and not self.current.done
                                          and self.current.update_id == ""):
            return "Rejected"
        self.current = Tracked(request_id, location)
        return "Accepted"

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
        return [({"status": status, "requestId": t.request_id}, self.to_json())]

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
            t.done = status in FINAL
            if status in OCPP_STATUSES:
                out.append(({"status": status, "requestId": t.request_id}, self.to_json()))
        return out

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
                 spawn: Callable[[Awaitable[Any]], None]) -> None:
        self.bus = bus
        self.queue = queue
        self.wake = wake
        self.spawn = spawn
        self.relay = FirmwareRelay()
        self.relay.load_json(queue.get_state(STATE_KEY))
        self.update = Subscription(bus, names.UPDATE)
        self.status = ""   # the update service's Status ("" while it is not on the bus)

    def trigger_payload(self) -> dict[str, Any]:
        """TriggerMessage(FirmwareStatusNotification): the running request's status with its
        requestId (L01.FR.26), Idle when none runs (F06.FR.16, L01.FR.25)."""
        t = self.relay.current
        if t is not None and not t.done and self.status in OCPP_STATUSES:
            return {"status": self.status, "requestId": t.request_id}
        return {"status": "Idle"}

    async def start(self) -> None:
        await self.update.start()
        await self.update.properties(names.UPDATE, self._on_props, path_namespace=names.UPDATE_PATH)
        self.update.on_owner_changed.append(lambda _o, new: self.spawn(self.sync()) if new else None)
        await self.sync()

    def _queue(self, messages: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        for payload, state in messages:
            log.info("firmware request %d: %s", payload["requestId"], payload["status"])
            self.queue.enqueue(ACTION, payload, state=state, state_key=STATE_KEY)
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
        self._queue(self.relay.update_state(str(props.get("RequestId", "")), list(props.get("History", []))))

    def _on_props(self, _path: str, changed: dict[str, Any]) -> None:
        if "Status" in changed:
            self.status = str(changed["Status"])
        if "History" in changed:
            self.spawn(self.sync())  # RequestId is not in the change: read both together

    def answer(self, request_id: int, location: str) -> str:
        """The UpdateFirmware answer; an Accepted request is persisted before it is answered."""
        status = self.relay.request(request_id, location, self.status)
        if status == "Accepted":
            self.queue.put_state(STATE_KEY, self.relay.to_json())
        return status

    async def install(self) -> None:
        """After an Accepted UpdateFirmware: hand the location to the update service."""
        t = self.relay.current
        if t is None or t.update_id or t.done:
            return
        try:
            (update_id,) = await call(self.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE, "Install", "s",
                                      [t.location], timeout=30.0)
        except (DBusError, TimeoutError) as e:
            text = getattr(e, "text", None) or str(e)
            log.warning("firmware request %d: the update service refused: %s", t.request_id, text)
            self._queue(self.relay.install_refused(text))
            return
        self.relay.install_started(str(update_id))
        self.queue.put_state(STATE_KEY, self.relay.to_json())
        await self.sync()
