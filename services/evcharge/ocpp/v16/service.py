"""OCPP 1.6J station: the WebSocket connection, the queue sender, timers and the answers to the
Central System. Reuses the protocol-independent parts of the 2.0.1 service: the boot state
machine and back-off (`ocpp.boot`), the durable queue and retry policy (`ocpp.queue`), the
authorization cache (`ocpp.authcache`), the charging profile store (`ocpp.smartcharging`), the
D-Bus bridge (`ocpp.bridge`) and interface (`ocpp.interfaces`). 1.6 specifics: configuration
keys (`v16.configuration`), Start/StopTransaction with CSMS-assigned ids (`v16.transactions`),
framing (`v16.adapter`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets
from dbus_fast import DBusError
from dbus_fast.aio import MessageBus
from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect

from ...common import ftpurl, names
from ...common.log import fields
from ...common.persist import read_json, write_json_atomic
from ...common.service import ServiceContext
from .. import boot as bootmod
from .. import delivery, proxy, transport
from ..authcache import AuthCache, offline_decision
from ..boot import Backoff, BootMachine
from ..bridge import Bridge, reserved_for
from ..config import OcppConfig
from ..firmware import CORE16, SIGNED16, FirmwareAgent, FirmwareRelay
from ..interfaces import OcppInterface
from ..logupload import DIAGNOSTICS16, LOG16, LogUploader
from ..queue import MessageQueue, Queued, RetryPolicy, drain_in_flight
from ..smartcharging import ProfileStore, check_profile, parse_time
from .adapter import Link16, make_call16
from .composite import composite
from .configuration import Configuration, Key, standard_keys
from .locallist import authorization_data
from .maintenance import core_firmware, retry_options, signed_firmware
from .security import Security16
from .transactions import TxBuilder16, meter_value, next_aligned

log = logging.getLogger("evcharge.ocpp")

SUBPROTOCOL = "ocpp1.6"
TICK_S = 0.1
STOP_DRAIN_S = 3.0  # on a clean stop, at most this long for the answer to a message in flight
# evse connector State -> 1.6 ChargePointStatus (evse uses the 1.6 names already)
STATUSES = {"Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved",
            "Unavailable", "Faulted"}
# board faults -> 1.6 ChargePointErrorCode; the fault name goes in vendorErrorCode (ChargeX hook)
ERROR_CODES = {"RcdTrip": "GroundFailure", "ContactorWelded": "PowerSwitchFailure",
               "ContactorFailedToClose": "PowerSwitchFailure", "DiodeFault": "EVCommunicationError",
               "CpInvalid": "EVCommunicationError", "OvercurrentFault": "OverCurrentFailure"}
PURPOSES_16_TO_201 = {"ChargePointMaxProfile": "ChargingStationMaxProfile", "TxDefaultProfile": "TxDefaultProfile",
                      "TxProfile": "TxProfile"}
TRIGGERS = ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "FirmwareStatusNotification",
            "DiagnosticsStatusNotification")
# ExtendedTriggerMessage: FirmwareStatusNotification asks for a SignedFirmwareStatusNotification
EXTENDED_TRIGGERS = ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
                     "FirmwareStatusNotification", "LogStatusNotification", "SignChargePointCertificate")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ConfigurationView:
    """What `OcppInterface` reads from the 2.0.1 device model, from the 1.6 configuration."""

    def __init__(self, conf: Configuration) -> None:
        self.conf = conf

    def get_int(self, component: str, name: str, instance: str | None = None) -> int:
        return self.conf.get_int(name)


class SecurityView:
    """What `OcppInterface` reads from the 2.0.1 security state (1.6 has no network-profile slots)."""

    def __init__(self, sec: Security16) -> None:
        self.sec = sec

    def url(self) -> str:
        return self.sec.url()

    def current_profile(self) -> int:
        return self.sec.profile


class Ocpp16Service:
    def __init__(self, bus: MessageBus, cfg: OcppConfig, state_dir: Path) -> None:
        self.bus = bus
        self.cfg = cfg
        self.state_dir = state_dir
        self.password = transport.read_password(cfg)
        # A01: a password the Central System set (AuthorizationKey) replaces the configured one.
        self.key_file = state_dir / "authorization_key"
        if self.password is not None and self.key_file.exists():
            self.password = self.key_file.read_text(encoding="utf-8").strip() or self.password
        self._reconnect_after_answer = False
        # Its own database: payloads of the two protocols never mix when the configuration changes.
        self.queue = MessageQueue(state_dir / "queue16.sqlite")
        self.conf_file = state_dir / "configuration16.json"
        ordered = sorted(cfg.evses, key=lambda e: (e.evse_id, e.connector_id))
        # 1.6 connectorIds are 1..n (5.x: numbered sequentially from 1); 0 is the whole Charge Point.
        self.connectors = {e.connector: i + 1 for i, e in enumerate(ordered)}
        self.meters = {e.connector: e.meter_id or e.connector for e in cfg.evses}
        r = cfg.retry
        self.conf = Configuration.of(standard_keys(
            heartbeat_s=cfg.heartbeat_interval_s, sample_interval_s=cfg.meter_sample_interval_s,
            connectors=len(ordered), attempts=r.transaction_event_attempts,
            retry_interval_s=int(r.transaction_event_interval_s), ping_s=int(cfg.websocket_ping_interval_s),
            security_profile=cfg.security_profile))
        self.conf.load(read_json(self.conf_file))
        self.sec = Security16(self)
        self.conf.set_local("SecurityProfile", str(self.sec.profile))
        self.conf.on_change.append(self._on_key_changed)
        self.dm = ConfigurationView(self.conf)
        self.security = SecurityView(self.sec)
        self.tx = TxBuilder16(self.connectors)
        self.tx.load_json(self.queue.get_state("tx16"))
        self.cache = AuthCache()
        self.cache.load_json(self.queue.get_state("authcache"))
        self.profiles = ProfileStore()
        self.profiles.load_json(self.queue.get_state("profiles"))
        self.sent_limits: dict[int, float | None] = {}
        self._limits_lock = asyncio.Lock()
        self._next_limit_check = 0.0
        self.boot = BootMachine(heartbeat_s=float(self.conf.get_int("HeartbeatInterval")))
        self.backoff = Backoff(r.backoff_wait_minimum_s, r.backoff_random_range_s, r.backoff_repeat_times)
        self.bridge = Bridge(bus, self)
        self.iface = OcppInterface(self)
        self.link: Link16 | None = None
        self.ws: Any = None
        self.last_error = ""
        self.connector_props: dict[int, dict[str, Any]] = {}
        self.sent_status: dict[int, tuple[str, str]] = {}
        self.meter_values: dict[int, tuple[float | None, float | None]] = {}
        self.next_sample: dict[int, float] = {}
        self.next_aligned: float | None = None
        self.pending_remote: list[tuple[int, str]] = []
        self.stop_reasons: dict[int, str] = {}   # connector -> 1.6 reason of a stop this service asked for
        self.remote_profiles: dict[int, dict[str, Any]] = {}  # connector -> TxProfile of a RemoteStartTransaction
        self.pending_availability: list[tuple[int, bool]] = []
        self.started_once = False
        self.restart_requested = asyncio.Event()  # set by Reset: common.service exits with EXIT_RESTART
        self._wake_sender = asyncio.Event()
        self._sender_idle = asyncio.Event()   # clear while a queued message waits for its answer
        self._sender_idle.set()
        self._stopping = False
        self._reconnect = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_published: dict[str, Any] = {}
        # Firmware Management and the security extension's secure update: firmware.py's relay,
        # the update service (org.evcharge.Update1) does the work; the statuses share the queue.
        # GetDiagnostics and the security extension's GetLog: logupload.py's uploader (1.6 requests)
        self.logs = LogUploader(self, make_call16)  # type: ignore[arg-type]
        self.firmware = FirmwareAgent(bus, self.queue, self._wake_sender.set, self.spawn, self.sec)  # type: ignore[arg-type]

    def meter_ids(self) -> list[int]:
        return sorted(set(self.meters.values()))

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task failed", exc_info=task.exception())

    def _cid(self, connector_id: int) -> int | None:
        """evcharge connector of a 1.6 connectorId."""
        return next((c for c, n in self.connectors.items() if n == connector_id), None)

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.bridge.start()
        self.spawn(self.push_local_list_enabled())
        self.spawn(self.read_connection_timeout())
        await self.firmware.start()
        await self.resync()
        await self.bridge.read_meters()
        for coro in (self._connection_loop(), self._sender_loop(), self._timer_loop()):
            self.spawn(coro)
        log.info("OCPP %s charge point %s -> %s (security profile %d), %d queued message(s)", SUBPROTOCOL,
                 self.cfg.station_id, self.cfg.url, self.cfg.security_profile, len(self.queue))

    async def stop(self) -> None:
        # An unanswered StartTransaction sent again after the restart would open a second
        # transaction at the Central System: let the answer in flight come in first.
        self._stopping = True
        await drain_in_flight(self._sender_idle, min(STOP_DRAIN_S, self.cfg.message_timeout_s))
        for t in list(self._tasks):
            t.cancel()
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 1.5)
            except Exception:  # noqa: BLE001 - closing on the way out
                pass
        self.queue.close()

    # --- the connection -------------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        ping = self.conf.get_int("WebSocketPingInterval") or None
        while True:
            try:
                headers, ctx = self.sec.transport()
                url = self.sec.url()
                async with connect(url, subprotocols=[SUBPROTOCOL], additional_headers=headers,
                                   ssl=ctx, ping_interval=ping, ping_timeout=ping,
                                   open_timeout=self.cfg.message_timeout_s, max_size=4 * 1024 * 1024,
                                   close_timeout=2, **proxy.connect_options()) as ws:
                    if ws.subprotocol != SUBPROTOCOL:
                        raise ConnectionError(f"the Central System did not accept subprotocol {SUBPROTOCOL}")
                    self.sec.connected()
                    await self._serve(ws)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure means: back off, reconnect
                self.last_error = f"{type(e).__name__}: {e}"
                log.info("Central System connection: %s", self.last_error)
                if self.link is None:   # failed to connect (not a connection that ended)
                    self.sec.connect_failed(e)
            finally:
                self.link = self.ws = None
                self.boot.disconnected()
                self.publish()
            delay = 0.0 if self._reconnect.is_set() else self.backoff.next_delay()
            log.info("reconnecting in %.1f s", delay)
            self._reconnect.clear()
            try:
                await asyncio.wait_for(self._reconnect.wait(), delay)
            except TimeoutError:
                pass

    async def _serve(self, ws: Any) -> None:
        link = Link16(self.cfg.station_id, ws, self, response_timeout=self.cfg.message_timeout_s)
        self.ws, self.link = ws, link
        self.last_error = ""
        log.info("connected to %s", self.cfg.url)
        reader = asyncio.create_task(link.start())
        self.publish()
        try:
            if self.boot.connected(time.monotonic(), self._boot_content()):
                await self._send_boot()
            else:
                log.info("reconnected; the Central System accepted this charge point before, no BootNotification")
                self.backoff.reset()
                await self._after_accepted()
            reconnect = asyncio.create_task(self._reconnect.wait())
            await asyncio.wait({reader, reconnect}, return_when=asyncio.FIRST_COMPLETED)
            reconnect.cancel()
            if reader.done():
                reader.result()
        finally:
            reader.cancel()

    def _boot_content(self) -> str:
        s = self.cfg.station
        boot = {"chargePointVendor": s.vendor_name[:20], "chargePointModel": s.model[:20],
                "firmwareVersion": s.firmware_version[:50]}
        if s.serial_number:
            boot["chargePointSerialNumber"] = s.serial_number[:25]
        return json.dumps(boot, sort_keys=True)

    async def _send_boot(self) -> None:
        content = self._boot_content()
        link = self.link
        if link is None:
            return
        try:
            resp = await link.call(make_call16("BootNotification", json.loads(content)), suppress=False)
        except (TimeoutError, OCPPError) as e:
            log.warning("BootNotification failed: %s", e)
            self.boot.boot_failed(time.monotonic())
            return
        except websockets.ConnectionClosed:
            return
        log.info("BootNotification: %s (interval %s s)", resp.status, resp.interval)
        self.boot.boot_response(time.monotonic(), resp.status, float(resp.interval), content)
        if resp.status == bootmod.ACCEPTED:
            self.backoff.reset()
            if resp.interval > 0:
                self.conf.set_local("HeartbeatInterval", str(resp.interval))
                self._save_conf()
            if not self.started_once:
                self.started_once = True
                self.security_event("StartupOfTheDevice", "ocpp service started")
            await self._after_accepted()
        self.publish()

    async def _after_accepted(self) -> None:
        self.sent_status.clear()
        for n in [0, *sorted(self.connectors.values())]:
            await self._send_status(n)
        self._wake_sender.set()
        self.publish()

    # --- timers ---------------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            if now >= self._next_limit_check:
                self._next_limit_check = now + 1.0
                try:
                    await self.apply_limits()
                except Exception:
                    log.exception("applying charging limits failed")
            try:
                self._sample_meters(now)
                self._aligned_meters(time.time())
                if self.link is None:
                    continue
                if self.online and self.sec.renewal_due(now):
                    self.spawn(self.sec.sign())
                if self.boot.boot_due(now):
                    self.boot.next_boot_at = None
                    await self._send_boot()
                elif self.boot.heartbeat_due(now):
                    await self._heartbeat()
            except websockets.ConnectionClosed:
                continue
            except Exception:
                log.exception("timer step failed")

    async def _heartbeat(self) -> None:
        link = self.link
        if link is None:
            return
        self.boot.message_sent(time.monotonic())
        try:
            await link.call(make_call16("Heartbeat", {}), suppress=False)
        except (TimeoutError, OCPPError) as e:
            log.info("Heartbeat failed: %s", e)

    def _sample_meters(self, now: float) -> None:
        """MeterValueSampleInterval: Sample.Periodic values of running transactions (queued, also offline)."""
        interval = self.conf.get_int("MeterValueSampleInterval")
        if interval <= 0:
            return
        for cid in list(self.connectors):
            if not self.tx.running(cid):
                continue
            due = self.next_sample.setdefault(cid, now + interval)
            if now >= due:
                self.next_sample[cid] = now + interval
                self._emit_meter(cid, "Sample.Periodic", "MeterValuesSampledData")

    def _aligned_meters(self, now_epoch: float) -> None:
        """ClockAlignedDataInterval: Sample.Clock values at multiples of the interval after midnight UTC."""
        interval = self.conf.get_int("ClockAlignedDataInterval")
        if interval <= 0:
            self.next_aligned = None
            return
        if self.next_aligned is None:
            self.next_aligned = next_aligned(now_epoch, interval)
        if now_epoch < self.next_aligned:
            return
        ts = datetime.fromtimestamp(self.next_aligned, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self.next_aligned = next_aligned(now_epoch, interval)
        for cid in sorted(self.connectors):
            self._emit_meter(cid, "Sample.Clock", "MeterValuesAlignedData", ts=ts)

    def _values(self, cid: int, context: str, key: str, ts: str | None = None) -> list[dict[str, Any]]:
        energy, power = self.meter_values.get(self.meters.get(cid, cid), (None, None))
        return meter_value(ts or utc_now(), context, energy_wh=energy, power_w=power,
                           measurands=self.conf.get_list(key))

    def _emit_meter(self, cid: int, context: str, key: str, ts: str | None = None) -> None:
        out = self.tx.meter_values(cid, self._values(cid, context, key, ts))
        if out is None:
            return
        local, payload = out
        if local:
            self._emit("MeterValues", payload, local)
        elif self.online:  # not transaction-related: sent now or not at all (4.7)
            self.spawn(self._send_direct("MeterValues", payload))

    async def call_direct(self, action: str, payload: dict[str, Any]) -> str | None:
        """A request that is not queued (lost when offline); the answer's status, or None."""
        link = self.link
        if link is None:
            return None
        self.boot.message_sent(time.monotonic())
        try:
            resp = await link.call(make_call16(action, payload), suppress=False)
        except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
            log.info("%s failed: %s", action, e)
            return None
        return getattr(resp, "status", None)

    def reconnect_soon(self) -> None:
        # After the answer went out (the handler runs before the answer is sent).
        asyncio.get_running_loop().call_later(0.2, self._reconnect.set)

    async def _send_direct(self, action: str, payload: dict[str, Any]) -> None:
        link = self.link
        if link is None:
            return
        self.boot.message_sent(time.monotonic())
        try:
            await link.call(make_call16(action, payload), suppress=False)
        except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
            log.info("%s failed: %s", action, e)

    # --- sending transaction messages ---------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.link is not None and self.boot.state == bootmod.ACCEPTED

    def _emit(self, action: str, payload: dict[str, Any] | None, local_id: str | None) -> None:
        """Store a transaction-related message (with the builder's new state) durably, then wake the sender."""
        if payload is None:
            return
        self.queue.enqueue(action, payload, transaction_id=local_id, state=self.tx.to_json(), state_key="tx16")
        log.info("%s queued", action, extra=fields(transaction=local_id or ""))
        self._wake_sender.set()
        self.publish()

    def security_event(self, kind: str, tech_info: str = "") -> None:
        """Security events are queued like transaction messages (whitepaper: delivered after reconnect)."""
        payload: dict[str, Any] = {"type": kind, "timestamp": utc_now(), "techInfo": tech_info[:255] or None}
        self.queue.enqueue("SecurityEventNotification", payload)
        self._wake_sender.set()

    async def _sender_loop(self) -> None:
        while True:
            await self._wake_sender.wait()
            self._wake_sender.clear()
            try:
                await self._deliver()
            except Exception:
                log.exception("queue delivery failed; retrying")
                await asyncio.sleep(1.0)
                self._wake_sender.set()

    async def _deliver(self) -> None:
        while self.online and not self._stopping:  # stopping: the head waits for the next start
            head = self.queue.head()
            if head is None:
                break
            link = self.link
            assert link is not None
            self._sender_idle.clear()
            try:
                closed, retry_in = await self._deliver_head(link, head)
            finally:
                self._sender_idle.set()
            if closed:
                break
            if retry_in:
                await asyncio.sleep(retry_in)
        if self.online and len(self.queue) and not self._stopping:
            self._wake_sender.set()

    async def _deliver_head(self, link: Link16, head: Queued) -> tuple[bool, float]:
        """One exchange for the queue's head, stored outcome included: (connection closed, retry in s).
        `stop()` waits for this to return, so a clean stop never leaves an answered message behind."""
        payload = dict(head.payload)
        if head.action in ("StopTransaction", "MeterValues") and head.transaction_id:
            tid = self.tx.resolve(head.transaction_id)
            if tid is None:  # its StartTransaction was given up: the Central System cannot place it
                log.error("%s of transaction %s has no transactionId (StartTransaction was not accepted); "
                          "dropped", head.action, head.transaction_id)
                self.queue.remove(head.id)
                return False, 0.0
            payload["transactionId"] = tid
        policy = RetryPolicy(self.conf.get_int("TransactionMessageAttempts"),
                             self.conf.get_int("TransactionMessageRetryInterval"))
        self.boot.message_sent(time.monotonic())
        outcome = await delivery.attempt(self.queue, head,
                                         lambda: link.call(make_call16(head.action, payload), suppress=False),
                                         policy, lambda: self.link is link)
        if isinstance(outcome, delivery.NotDelivered):
            return outcome.connection_closed, outcome.retry_in_s
        try:
            self._on_delivered(head.action, head.transaction_id, outcome.response)
        except Exception:  # the Central System has it: never send it again because of a bug here
            log.exception("handling the answer to %s %s failed", head.action, head.id)
        self.queue.remove(head.id)
        self.publish()
        return False, 0.0

    def _on_delivered(self, action: str, local_id: str | None, resp: Any) -> None:
        if action == "StartTransaction" and local_id:
            # Stored before the message leaves the queue: a crash in between resends the
            # StartTransaction (at-least-once), never loses the id of a delivered one.
            self.tx.assigned(local_id, int(resp.transaction_id))
            self.queue.put_state("tx16", self.tx.to_json())
            info = resp.id_tag_info or {}
            status = info.get("status", "Invalid")
            cid = next((c for c, s in self.tx.sessions.items() if s.local_id == local_id), None)
            tag = self.tx.sessions[cid].id_tag if cid is not None else None
            if tag:
                self._cache_put(tag, status, info.get("expiry_date"))
            log.info("StartTransaction %s: transactionId %s, %s", local_id, resp.transaction_id, status,
                     extra=fields(transaction=local_id))
            if cid is not None and status != "Accepted" and self.conf.get_bool("StopTransactionOnInvalidId"):
                self.spawn(self._stop(cid, "DeAuthorized"))
            elif cid is not None and (prof := self.remote_profiles.pop(cid, None)) is not None:
                prof = {**prof, "transactionId": int(resp.transaction_id)}
                log.info("connector %d: RemoteStartTransaction profile: %s", cid,
                         self.set_charging_profile(self.connectors[cid], prof), extra=fields(connector=cid))
        elif action == "StopTransaction" and local_id:
            self.tx.forget(local_id)
            self.queue.put_state("tx16", self.tx.to_json())

    async def _send_status(self, connector_id: int) -> None:
        link = self.link
        if link is None or not self.online:
            return
        if connector_id == 0:
            status, error, fault = "Available", "NoError", ""
        else:
            cid = self._cid(connector_id)
            props = self.connector_props.get(cid, {}) if cid is not None else {}
            state = props.get("State")
            if state is None:
                return
            status = state if state in STATUSES else "Unavailable"
            faults = list(props.get("Faults") or [])
            fault = faults[0] if faults else ""
            error = ERROR_CODES.get(fault, "OtherError") if fault else "NoError"
        if self.sent_status.get(connector_id) == (status, error):
            return
        self.sent_status[connector_id] = (status, error)
        payload: dict[str, Any] = {"connectorId": connector_id, "errorCode": error, "status": status,
                                   "timestamp": utc_now()}
        if fault:
            payload.update(vendorId="org.evcharge", vendorErrorCode=fault[:50])
        self.boot.message_sent(time.monotonic())
        try:
            await link.call(make_call16("StatusNotification", payload), suppress=False)
        except (TimeoutError, OCPPError) as e:
            log.info("StatusNotification failed: %s", e)
        except websockets.ConnectionClosed:
            self.sent_status.pop(connector_id, None)

    # --- inputs from the evcharge services (bridge) -----------------------------------------
    def on_connector_props(self, cid: int, changed: dict[str, Any]) -> None:
        if cid not in self.connectors:
            return
        self.connector_props.setdefault(cid, {}).update(changed)
        if "State" in changed or "Faults" in changed:
            self.spawn(self._send_status(self.connectors[cid]))

    def on_session_started(self, cid: int, session_id: str, started_at: str) -> None:
        self.tx.session_started(cid, session_id)
        self.queue.put_state("tx16", self.tx.to_json())

    def _energy(self, cid: int) -> float | None:
        return self.meter_values.get(self.meters.get(cid, cid), (None, None))[0]

    def on_session_event(self, cid: int, session_id: str, event: str, detail: dict[str, Any]) -> None:
        if cid not in self.connectors:
            return
        if event == "ReservationEnded" and detail.get("reason") == "Expired":
            log.info("connector %d: reservation %s expired", cid, detail.get("reservation_id"),
                     extra=fields(connector=cid))
        if event == "Authorized":
            if self.tx.session_id(cid) != session_id:
                self.tx.session_started(cid, session_id)
            self.next_sample.pop(cid, None)
            out = self.tx.authorized(cid, detail.get("token", ""), self._energy(cid), utc_now())
            if out:
                if detail.get("reservation_id"):   # 5.13: the transaction that used the reservation names it
                    out[1]["reservationId"] = int(detail["reservation_id"])
                self._emit("StartTransaction", out[1], out[0])
        elif event == "Stopped":
            out = self.tx.stopped(cid, detail.get("reason", "Other"), self._energy(cid), utc_now(),
                                  transaction_data=self._stop_data(cid))
            override = self.stop_reasons.pop(cid, None)
            if out and override:  # a 1.6 reason evse has no name for (UnlockCommand)
                out[1]["reason"] = override
            self._emit_stop(out)

    def on_session_ended(self, cid: int, session_id: str, reason: str, energy_wh: float) -> None:
        if cid not in self.connectors:
            return
        self._emit_stop(self.tx.ended(cid, session_id, reason or "EVDisconnected", self._energy(cid), utc_now(),
                                      transaction_data=self._stop_data(cid)))
        self.queue.put_state("tx16", self.tx.to_json())

    def _emit_stop(self, out: tuple[str, dict[str, Any]] | None) -> None:
        if out is None:
            return
        local, payload = out
        tid = self.tx.resolve(local)
        if tid is not None:
            self.profiles.drop_transaction(str(tid))
            self.queue.put_state("profiles", self.profiles.to_json())
        self._emit("StopTransaction", payload, local)

    def _stop_data(self, cid: int) -> list[dict[str, Any]] | None:
        """StopTxnSampledData: values at the end of the transaction (Transaction.End) in transactionData."""
        return self._values(cid, "Transaction.End", "StopTxnSampledData") or None

    def on_meter(self, meter_id: int, energy_wh: float | None, power_w: float | None) -> None:
        old_e, old_p = self.meter_values.get(meter_id, (None, None))
        self.meter_values[meter_id] = (energy_wh if energy_wh is not None else old_e,
                                       power_w if power_w is not None else old_p)

    async def resync(self) -> None:
        """Catch up with sessions that started or ended while this service (or evse) was not running."""
        for cid in self.connectors:
            props = await self.bridge.connector_props(cid)
            if props is None:
                continue
            self.connector_props[cid] = props
            session = props.get("SessionId", "")
            known = self.tx.session_id(cid)
            if known and known != session:
                ended = await self.bridge.ended_session(known)
                log.info("connector %d: session %s ended while we were away", cid, known,
                         extra=fields(connector=cid))
                reason = (ended or {}).get("stop_reason") or "EVDisconnected"
                self._emit_stop(self.tx.ended(cid, known, reason, self._energy(cid), utc_now()))
                self.queue.put_state("tx16", self.tx.to_json())
            if session and self.tx.session_id(cid) != session:
                self.tx.session_started(cid, session)
            s = self.tx.sessions.get(cid)
            if s and s.count == 0 and props.get("SessionToken") and not props.get("StopReason"):
                out = self.tx.authorized(cid, props["SessionToken"], self._energy(cid), utc_now())
                if out:
                    self._emit("StartTransaction", out[1], out[0])
            self.queue.put_state("tx16", self.tx.to_json())
        for n in self.connectors.values():
            self.spawn(self._send_status(n))

    # --- authorization of reader tokens the local list does not know --------------------------
    def _cache_put(self, token: str, status: str, expiry: str | None) -> None:
        if not self.conf.get_bool("AuthorizationCacheEnabled"):
            return
        exp = None
        if expiry:
            try:
                exp = parse_time(expiry)
            except ValueError:
                exp = None
        self.cache.put(token, status, time.time(), 0, exp)
        self.queue.put_state("authcache", self.cache.to_json())

    def on_token_presented(self, token: str, token_type: str) -> None:
        """Every reader token (bridge): 1.6 acts only on evse's TokenRejected; it has no Master Pass."""

    async def authorize_token(self, cid: int, token: str, token_type: str, *, reserved: bool = False) -> None:
        """A reader's card evse refused: Unknown to the local list, or (`reserved`) the connector is
        reserved for another idTag, which this card may use when its parentIdTag is the reservation's."""
        accepted = False
        parent = ""
        link = self.link
        if self.online and link is not None:
            try:
                resp = await link.call(make_call16("Authorize", {"idTag": token[:20]}), suppress=False)
                status = resp.id_tag_info.get("status", "Invalid")
                self._cache_put(token, status, resp.id_tag_info.get("expiry_date"))
                accepted = status == "Accepted"
                parent = resp.id_tag_info.get("parent_id_tag") or ""
                log.info("connector %d: Authorize: %s", cid, status, extra=fields(connector=cid))
            except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
                log.info("connector %d: Authorize failed (%s): offline rules apply", cid, e)
                link = None
        if link is None or not self.online:
            cached = self.cache.lookup(token, time.time()) if self.conf.get_bool("AuthorizationCacheEnabled") \
                else None
            accepted = offline_decision(cached, local_authorize_offline=self.conf.get_bool("LocalAuthorizeOffline"),
                                        unknown_id_enabled=self.conf.get_bool("AllowOfflineTxForUnknownId"))
            log.info("connector %d: offline authorization (cache: %s): %s", cid, cached,
                     "accepted" if accepted else "refused", extra=fields(connector=cid))
        if accepted and reserved and not parent:
            log.info("connector %d: reserved for another idTag, and this one has no parentIdTag", cid,
                     extra=fields(connector=cid))
            return
        if accepted:
            try:
                await self.bridge.remote_start(cid, token, parent)
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: evse refused the authorized token: %s", cid, e)

    # --- answers to the Central System (called by the adapter's handlers) -------------------
    def may_answer(self) -> bool:
        return self.boot.may_answer()

    def change_configuration(self, key: str, value: str) -> str:
        if key == "AuthorizationKey":
            return self._change_authorization_key(value)
        if key == "SecurityProfile":
            status = self.sec.change_profile(value)
            log.info("ChangeConfiguration SecurityProfile=%r: %s", value, status)
            return status
        status = self.conf.change(key, value)
        self._save_conf()
        log.info("ChangeConfiguration %s=%r: %s", key, value, status)
        return status

    def _change_authorization_key(self, value: str) -> str:
        """A01: store the new basic-auth password, then reconnect with it (after answering)."""
        if self.password is None or self.conf.change("AuthorizationKey", value) != "Accepted":
            log.info("ChangeConfiguration AuthorizationKey: Rejected")  # A01.FR.12: never the value
            return "Rejected"
        tmp = self.key_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(value, encoding="utf-8")
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.key_file)
        self.password = value
        self.security_event("ReconfigurationOfSecurityParameters", "AuthorizationKey changed")
        log.info("ChangeConfiguration AuthorizationKey: Accepted; reconnecting with the new password")
        self._reconnect_after_answer = True
        return "Accepted"

    def after_change_configuration(self) -> None:
        if self._reconnect_after_answer:
            self._reconnect_after_answer = False
            self._reconnect.set()

    def _save_conf(self) -> None:
        write_json_atomic(self.conf_file, self.conf.overrides())

    def _on_key_changed(self, key: Key) -> None:
        if key.name == "HeartbeatInterval":
            self.boot.set_heartbeat(time.monotonic(), float(key.value))
        elif key.name == "MeterValueSampleInterval":
            self.next_sample.clear()
        elif key.name == "ClockAlignedDataInterval":
            self.next_aligned = None
        elif key.name == "LocalAuthListEnabled":
            self.spawn(self.push_local_list_enabled())
        elif key.name == "ConnectionTimeOut":
            self.spawn(self.push_connection_timeout(float(key.value)))
        self.publish()

    def remote_start_status(self, id_tag: str, connector_id: int | None,
                            profile: dict[str, Any] | None = None) -> str:
        if profile is not None and (profile.get("chargingProfilePurpose") != "TxProfile"
                                    or profile.get("chargingSchedule", {}).get("chargingRateUnit") != "A"):
            return "Rejected"  # 5.11: only a TxProfile (errata 3.41); W schedules are not supported
        if connector_id is not None:
            cid = self._cid(connector_id)
            candidates = [cid] if cid is not None else []
        else:
            candidates = sorted(self.connectors)
        for cid in candidates:
            props = self.connector_props.get(cid, {})
            if not props.get("Available", True) or props.get("State") in ("Faulted", "Unavailable"):
                continue
            if props.get("SessionToken") or self.tx.running(cid):
                continue
            if not reserved_for(props, id_tag, self.bridge.station_tokens):
                continue   # 5.13: a reserved connector starts only for its idTag
            self.tx.remote_starts[cid] = id_tag
            self.pending_remote.append((cid, id_tag))
            if profile is not None:  # applied once the Central System assigned the transactionId
                self.remote_profiles[cid] = profile
            else:
                self.remote_profiles.pop(cid, None)
            return "Accepted"
        return "Rejected"

    async def run_remote_start(self) -> None:
        todo, self.pending_remote = self.pending_remote, []
        for cid, tag in todo:
            try:
                await self.bridge.remote_start(cid, tag)
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: RemoteStart failed: %s", cid, e, extra=fields(connector=cid))
                self.tx.remote_starts.pop(cid, None)
                self.remote_profiles.pop(cid, None)

    def remote_stop_status(self, transaction_id: int) -> str:
        return "Accepted" if self.tx.connector_of(transaction_id) is not None else "Rejected"

    async def run_remote_stop(self, transaction_id: int) -> None:
        cid = self.tx.connector_of(transaction_id)
        if cid is not None:
            await self._stop(cid, "Remote")

    async def _stop(self, cid: int, reason: str) -> None:
        try:
            await self.bridge.stop(cid, reason)
        except (DBusError, TimeoutError) as e:
            log.warning("connector %d: Stop failed: %s", cid, e, extra=fields(connector=cid))

    def availability_status(self, connector_id: int, kind: str) -> str:
        if connector_id == 0:
            cids = sorted(self.connectors)
        else:
            cid = self._cid(connector_id)
            if cid is None:
                return "Rejected"
            cids = [cid]
        self.pending_availability = [(cid, kind == "Operative") for cid in cids]
        busy = any(self.tx.running(cid) for cid in cids)
        return "Scheduled" if busy and kind == "Inoperative" else "Accepted"

    async def change_availability(self) -> None:
        todo, self.pending_availability = self.pending_availability, []
        for cid, operative in todo:
            try:  # evse persists it and applies it after a running session
                await self.bridge.set_availability(cid, operative)
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: SetAvailability failed: %s", cid, e)

    async def reset(self, kind: str) -> None:
        """Stop running transactions (SoftReset / HardReset), then restart the service.

        The machine is not rebooted (that needs a reboot request to a privileged service); the
        Central System sees what a reboot shows: the StopTransactions, then a new BootNotification
        from the restarted process (the queue and transaction state are on disk).
        """
        self.security_event("ResetOrReboot", f"{kind} reset requested by the Central System")
        running = [cid for cid in self.connectors if self.tx.running(cid)]
        for cid in running:
            await self._stop(cid, "Reboot" if kind == "Soft" else "ImmediateReset")
        deadline = time.monotonic() + 10.0
        while any(self.tx.running(cid) for cid in running) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the Stopped signals arrive from evse
        if kind == "Soft":
            deadline = time.monotonic() + 10.0
            while len(self.queue) and self.online and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # a soft reset lets the queue drain first
        log.info("%s reset: restarting the service", kind)
        self.restart_requested.set()  # common.service exits with EXIT_RESTART; systemd starts us again

    # --- Reservation profile (5.13 ReserveNow, 5.5 CancelReservation): evse holds them ---------------
    def on_station_reservation_event(self, event: str, detail: dict[str, Any]) -> None:
        """evse's reservations of an unspecified connector: 1.6 makes none (ReserveConnectorZeroSupported
        false), and has no message for an expiry."""

    async def reserve_now(self, connector_id: int, expiry: str, id_tag: str, reservation_id: int,
                          parent_id_tag: str | None) -> str:
        if connector_id == 0:   # ReserveConnectorZeroSupported is false
            log.info("ReserveNow %d for connector 0: Rejected (ReserveConnectorZeroSupported false)", reservation_id)
            return "Rejected"
        cid = self._cid(connector_id)
        if cid is None:
            return "Rejected"
        status = await self.bridge.place_reservation(cid, reservation_id, id_tag, parent_id_tag or "", expiry)
        log.info("ReserveNow %d on connector %d for %s until %s: %s", reservation_id, connector_id, id_tag, expiry,
                 status, extra=fields(connector=cid))
        return status

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self.bridge.cancel_reservation_anywhere(list(self.connectors), reservation_id)

    async def unlock_connector(self, connector_id: int) -> str:
        """5.17: a running transaction is stopped first (reason UnlockCommand), then evse unlocks."""
        cid = self._cid(connector_id)
        if cid is None:
            return "NotSupported"  # 1.6 UnlockStatus has no UnknownConnector
        stopping = bool(self.tx.running(cid))
        if stopping:
            self.stop_reasons[cid] = "UnlockCommand"
            await self._stop(cid, "Remote")
            deadline = time.monotonic() + 5.0
            energised = ("Charging", "SuspendedEV", "SuspendedEVSE")
            while (self.tx.running(cid) or self.connector_props.get(cid, {}).get("State") in energised) \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the StopTransaction is queued and the contactor open
        # After a stop the contactor opens within ~100 ms (board refuses to unlock until then).
        tries = 12 if stopping else 1
        status = "UnlockFailed"
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(0.25)
            try:
                status = await self.bridge.unlock(cid)
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: Unlock failed: %s", cid, e, extra=fields(connector=cid))
                status = "UnlockFailed"
            if status == "Unlocked":
                break
        log.info("connector %d: UnlockConnector: %s", cid, status, extra=fields(connector=cid))
        return "Unlocked" if status == "Unlocked" else "UnlockFailed"

    def clear_cache(self) -> str:
        self.cache.clear()
        self.queue.put_state("authcache", {})
        return "Accepted"

    def trigger_status(self, requested: str, connector_id: int | None, extended: bool = False) -> str:
        if requested not in (EXTENDED_TRIGGERS if extended else TRIGGERS):
            return "NotImplemented"
        if requested == "SignChargePointCertificate":
            return self.sec.sign_status()
        if connector_id not in (None, 0) and self._cid(connector_id) is None:
            return "Rejected"
        return "Accepted"

    async def run_trigger(self, requested: str, connector_id: int | None, extended: bool = False) -> None:
        if self.trigger_status(requested, connector_id, extended) != "Accepted":
            return
        if requested == "SignChargePointCertificate":
            await self.sec.sign()
            return
        numbers = [connector_id] if connector_id else [0, *sorted(self.connectors.values())]
        if requested == "DiagnosticsStatusNotification":
            await self.logs.notify_current(DIAGNOSTICS16)
        elif requested == "LogStatusNotification":
            await self.logs.notify_current(LOG16)
        elif requested == "FirmwareStatusNotification":
            if extended:   # whitepaper: the security extension's notification, current status
                await self.call_direct("SignedFirmwareStatusNotification", self.firmware.trigger_payload())
            else:
                await self.call_direct("FirmwareStatusNotification", self.firmware.trigger_payload(CORE16))
        elif requested == "BootNotification":
            await self._send_boot()
        elif requested == "Heartbeat":
            await self._heartbeat()
        elif requested == "StatusNotification":
            for n in numbers:
                self.sent_status.pop(n, None)
                await self._send_status(n)
        elif requested == "MeterValues":
            for n in numbers:
                cid = self._cid(n)
                if cid is not None:
                    self._emit_meter(cid, "Trigger", "MeterValuesSampledData")

    async def read_connection_timeout(self) -> None:
        """ConnectionTimeOut mirrors evse's ConnectionTimeoutS (evse keeps it across restarts)."""
        self._mirror_connection_timeout(await self.bridge.connection_timeout())

    async def push_connection_timeout(self, timeout_s: float) -> None:
        self._mirror_connection_timeout(await self.bridge.set_connection_timeout(timeout_s))

    def _mirror_connection_timeout(self, timeout_s: float | None) -> None:
        if timeout_s is not None:
            self.conf.set_local("ConnectionTimeOut", str(round(timeout_s)))

    # --- Local Auth List Management (the auth service keeps the list; v16/locallist.py) --------
    async def push_local_list_enabled(self) -> None:
        try:
            await self.bridge.set_local_list_enabled(self.conf.get_bool("LocalAuthListEnabled"))
        except (DBusError, TimeoutError) as e:
            log.info("auth service not reachable for the local list: %s", e)

    async def send_local_list(self, version: int, update_type: str, entries: list[dict[str, Any]]) -> str:
        """5.15 SendLocalList: Accepted / Failed / VersionMismatch from the auth service's rules
        (Full replaces, Differential must have a higher version, an entry without idTagInfo
        removes the idTag, nothing changes on a failure); more entries than
        SendLocalListMaxLength or an expiryDate that does not parse: Failed."""
        if len(entries) > self.conf.get_int("SendLocalListMaxLength"):
            log.info("SendLocalList %d: %d entries, more than SendLocalListMaxLength", version, len(entries))
            return "Failed"
        try:
            items = authorization_data(entries)
            status, why = await self.bridge.update_local_list(version, update_type == "Full", items)
        except ValueError as e:
            status, why = "Failed", str(e)
        except (DBusError, TimeoutError) as e:
            log.warning("SendLocalList %d: auth service: %s", version, e)
            return "Failed"
        log.info("SendLocalList %s %d: %s%s", update_type, version, status, f" ({why})" if why else "")
        return status

    async def local_list_version(self) -> int:
        return await self.bridge.local_list_version()

    # --- Firmware Management (firmware.py does the work) ---------------------------------------
    async def update_firmware(self, location: str, retrieve_date: str, retries: int | None,
                              retry_interval: int | None) -> None:
        """6.48 UpdateFirmware. Its answer has no status, so a request that cannot be carried out
        is told with a FirmwareStatusNotification: DownloadFailed for a location that is not an
        http, https, ftp or ftps URL or when the update service is not running, InstallationFailed while a
        ManufacturerRootCertificate is installed (only signed updates then, as for 2.0.1 L01).
        A request while one installs is ignored (that one's statuses go on); one while another
        is scheduled or downloading replaces it. ValueError: retrieveDate does not parse."""
        firmware = core_firmware(location, retrieve_date)
        retries, retry_interval = retry_options(retries, retry_interval)
        status = await self.firmware.answer(0, firmware, retries, retry_interval, report=CORE16)
        log.info("UpdateFirmware %s (retrieve %s): %s", ftpurl.redact(location), firmware["retrieveDateTime"], status)
        if status in ("Accepted", "AcceptedCanceled"):
            return
        if FirmwareRelay.check_location(location) or not self.firmware.status:
            refused = "DownloadFailed"
        elif self.firmware.secure_required():
            refused = "InstallationFailed"
        else:
            return   # busy installing: the running update's statuses go on
        self.queue.enqueue("FirmwareStatusNotification", {"status": refused})
        self._wake_sender.set()

    async def signed_update_firmware(self, request_id: int, firmware: dict[str, Any], retries: int | None,
                                     retry_interval: int | None) -> str:
        """Security extension SignedUpdateFirmware: the 2.0.1 L01 decisions (firmware.py), statuses
        as SignedFirmwareStatusNotification. ValueError: a date-time does not parse."""
        fw = signed_firmware(firmware)
        retries, retry_interval = retry_options(retries, retry_interval)
        status = await self.firmware.answer(request_id, fw, retries, retry_interval, report=SIGNED16)
        log.info("SignedUpdateFirmware %d %s: %s", request_id, ftpurl.redact(str(fw.get("location"))), status)
        return status

    # --- smart charging -------------------------------------------------------------------------
    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """A 1.6 csChargingProfiles as the 2.0.1-shaped profile the shared store evaluates."""
        if connector_id != 0 and self._cid(connector_id) is None:
            return "Rejected"
        purpose = PURPOSES_16_TO_201.get(profile.get("chargingProfilePurpose", ""))
        if purpose is None:
            return "Rejected"
        if profile.get("chargingSchedule", {}).get("chargingRateUnit") != "A":
            # The 1.6 side stays in amps (GetCompositeSchedule too); the shared store's W
            # conversion assumes 2.0.1's numberPhases semantics, not checked against 1.6 yet.
            return "Rejected"
        p: dict[str, Any] = json.loads(json.dumps(profile, default=float))  # the library parses limits as Decimal
        p["id"] = p.pop("chargingProfileId")
        p["chargingProfilePurpose"] = purpose
        p["chargingSchedule"] = [p["chargingSchedule"]]
        if "transactionId" in p:
            p["transactionId"] = str(p["transactionId"])
        if purpose == "TxProfile":  # 5.16.1: only for a running transaction on that connector
            tid = self.tx.transaction_id(self._cid(connector_id)) if connector_id else None
            if tid is None:
                return "Rejected"
            p.setdefault("transactionId", str(tid))
        active = {n: str(tid) for cid, n in self.connectors.items() if (tid := self.tx.transaction_id(cid))}
        reason = check_profile(connector_id, p, active)
        if reason:
            log.info("SetChargingProfile rejected: %s", reason)
            return "Rejected"
        self.profiles.set(connector_id, p)
        self.queue.put_state("profiles", self.profiles.to_json())
        return "Accepted"

    def clear_charging_profile(self, profile_id: int | None, connector_id: int | None, purpose: str | None,
                               stack_level: int | None) -> str:
        cleared = self.profiles.clear(profile_id, connector_id, PURPOSES_16_TO_201.get(purpose or "", None)
                                      if purpose else None, stack_level)
        self.queue.put_state("profiles", self.profiles.to_json())
        return "Accepted" if cleared else "Unknown"

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None
                           ) -> tuple[str, dict[str, Any]] | None:
        """(scheduleStart, chargingSchedule) from now for `duration` s, or None (Rejected)."""
        if unit not in (None, "A") or duration < 1:
            return None  # W needs the voltage and phases (not modelled)
        if connector_id == 0:
            cids, tid, started = sorted(self.connectors), None, None
        else:
            cid = self._cid(connector_id)
            if cid is None:
                return None
            cids, tid = [cid], self.tx.transaction_id(cid)
            started = self.connector_props.get(cid, {}).get("SessionStartedAt") or None
        maximum = sum(float(self.connector_props.get(c, {}).get("MaxCurrentA") or 32.0) for c in cids)
        now = float(int(time.time()))
        try:
            tx_start = parse_time(started) if started and tid is not None else None
        except ValueError:
            tx_start = None
        periods = composite(self.profiles, connector_id, now, duration, str(tid) if tid is not None else None,
                            tx_start, maximum)
        start = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        return start, {"duration": duration, "startSchedule": start, "chargingRateUnit": "A",
                       "chargingSchedulePeriod": periods}

    async def apply_limits(self) -> None:
        # One at a time: the timer and the SetChargingProfile/ClearChargingProfile handlers all
        # call this; interleaved runs could finish in another order than energy saw their calls,
        # leaving `sent_limits` claiming a limit energy does not have (never corrected after).
        async with self._limits_lock:
            await self._apply_limits()

    async def _apply_limits(self) -> None:
        now = time.time()
        wanted: dict[int, float | None] = {0: self.profiles.station_limit(now)}
        for cid, n in self.connectors.items():
            tid = self.tx.transaction_id(cid)
            started = self.connector_props.get(cid, {}).get("SessionStartedAt") or None
            try:
                tx_start = parse_time(started) if started and tid is not None else None
            except ValueError:
                tx_start = None
            wanted[cid] = self.profiles.evse_limit(n, now, str(tid) if tid is not None else None, tx_start)
        for cid, limit in wanted.items():
            if cid in self.sent_limits and self.sent_limits[cid] == limit:
                continue
            had = cid in self.sent_limits
            try:
                await self.bridge.set_limit(cid, limit)
                self.sent_limits[cid] = limit
                if limit is not None or had:
                    log.info("%s: OCPP limit %s", f"connector {cid}" if cid else "station",
                             "cleared" if limit is None else f"{limit:.1f} A")
            except (DBusError, TimeoutError) as e:
                if limit is None:
                    self.sent_limits[cid] = None
                else:
                    log.warning("energy refused the OCPP limit for %d: %s", cid, e)

    # --- D-Bus -------------------------------------------------------------------------------------
    def reconnect(self) -> None:
        self._reconnect.set()

    def publish(self) -> None:
        props = {"Connected": self.link is not None, "BootStatus": self.boot.state, "QueueLength": len(self.queue),
                 "LastError": self.last_error, "HeartbeatIntervalS": self.conf.get_int("HeartbeatInterval")}
        changed = {k: v for k, v in props.items() if self._last_published.get(k) != v}
        self._last_published = props
        if changed:
            self.iface.emit_properties_changed(changed)


async def build16(ctx: ServiceContext, cfg: OcppConfig) -> Ocpp16Service:
    svc = Ocpp16Service(ctx.bus, cfg, ctx.state_dir)
    ctx.bus.export(names.OCPP_PATH, svc.iface)
    return svc
