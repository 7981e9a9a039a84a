"""OCPP service adapter: the WebSocket connection, the queue sender, timers, and the station's
answers to the CSMS. The decisions live in the pure cores (`boot`, `transactions`,
`devicemodel`, `authcache`, `queue.RetryPolicy`); D-Bus in `bridge`; OCPP framing in `adapter`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets
from dbus_fast import DBusError
from dbus_fast.aio import MessageBus
from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect

from ..common import names
from ..common.heap import release_free_memory
from ..common.log import fields
from ..common.persist import read_json, write_json_atomic
from ..common.service import ServiceContext
from . import boot as bootmod
from . import customer, delivery, masterpass, proxy, reservations, transport
from .adapter import Link, make_call
from .authcache import AuthCache, offline_decision, online_cache_decision
from .boot import Backoff, BootMachine
from .bridge import Bridge, reserved_for
from .config import OcppConfig, Protocol
from .devicemodel import CONNECTOR_TYPE, NOMINAL_VOLTAGE_V, SUPPLY_PHASES, Variable, pages, standard_model
from .faults import FaultReporter, event_data
from .firmware import FirmwareAgent
from .interfaces import OcppInterface
from .invalidid import EnergyCaps, OnInvalid, on_invalid
from .logupload import LogUploader
from .metering import EndedSamples, Ticker
from .netprofile import STATE_KEY as NETWORK_KEY
from .netprofile import NetworkProfiles, Selector, Target
from .netprofile import check_profile as check_network_profile
from .netprofile import target as network_target
from .queue import MessageQueue, Queued, RetryPolicy, drain_in_flight
from .reservations import ReservationUse
from .reset import Resetter
from .security import Security
from .smartcharging import MAX_ENTRIES, ProfileStore, check_profile, parse_time
from .transactions import TxBuilder, sampled_values
from .txpoints import Conditions, TxFlow, parse_points

log = logging.getLogger("evcharge.ocpp")

SUBPROTOCOL = "ocpp2.0.1"
# The timer loop sleeps until its next known deadline, between these bounds: waking 10 times a
# second cost ~40 us per station and wake-up (benchmarks/ocpp/fleet.py); a deadline set while it
# sleeps (a new boot retry, a transaction's first sample) is seen within TICK_MAX_S.
TICK_S = 0.1
TICK_MAX_S = 1.0
RESERVATIONS_USED_KEY = "reservations_used"   # queue kv: connector -> ReservationUse (H03)
RESERVATIONS_OPEN_KEY = "reservations_open"   # queue kv: ids of reservations placed and not known to be over
STOP_DRAIN_S = 3.0  # on a clean stop, at most this long for the answer to a message in flight
LOCAL_LIST_MAX = 1000  # auth.locallist.MAX_ENTRIES
# evse connector State -> OCPP ConnectorStatusEnumType
CONNECTOR_STATUS = {"Available": "Available", "Preparing": "Occupied", "Charging": "Occupied",
                    "SuspendedEV": "Occupied", "SuspendedEVSE": "Occupied", "Finishing": "Occupied",
                    "Faulted": "Faulted", "Unavailable": "Unavailable", "Reserved": "Reserved"}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OcppService:
    def __init__(self, bus: MessageBus, cfg: OcppConfig, state_dir: Path) -> None:
        self.bus = bus
        self.cfg = cfg
        self.state_dir = state_dir
        self.password = transport.read_password(cfg)
        self.queue = MessageQueue(state_dir / "queue.sqlite")
        self.dm_file = state_dir / "devicemodel.json"
        self.evses = {e.connector: (e.evse_id, e.connector_id) for e in cfg.evses}
        self.meters = {e.connector: e.meter_id or e.connector for e in cfg.evses}
        r = cfg.retry
        self.dm = standard_model(
            heartbeat_s=cfg.heartbeat_interval_s, message_timeout_s=cfg.message_timeout_s,
            offline_threshold_s=cfg.offline_threshold_s, attempts=r.transaction_event_attempts,
            attempt_interval_s=r.transaction_event_interval_s, backoff_min_s=r.backoff_wait_minimum_s,
            backoff_range_s=r.backoff_random_range_s, backoff_repeat=r.backoff_repeat_times,
            ping_s=cfg.websocket_ping_interval_s, sample_interval_s=cfg.meter_sample_interval_s,
            security_profile=cfg.security_profile, identity=cfg.station_id,
            evse_ids=sorted({e.evse_id for e in cfg.evses}),
            connectors=sorted((e.evse_id, e.connector_id) for e in cfg.evses),
            evse_max_power_w=cfg.evse_max_current_a * NOMINAL_VOLTAGE_V * SUPPLY_PHASES)
        self.network = NetworkProfiles()
        self.network.load_json(self.queue.get_state(NETWORK_KEY))
        self.network_selector = Selector()
        self.active_slot = 0
        self.dm.add(self._operations_variables(), replace=True)
        self.security = Security(self)   # certificates, security events, no-downgrade floor (block A)
        self.security.attach()
        self.password = self.security.password() or self.password
        self.dm.load(read_json(self.dm_file))
        self.dm.on_change.append(self._on_variable_changed)
        self.tx = TxBuilder(self.evses)
        self.tx.load_json(self.queue.get_state("tx"))
        self.flow = TxFlow(self.tx, lambda: parse_points(self.dm.get("TxCtrlr", "TxStartPoint")),
                           lambda: parse_points(self.dm.get("TxCtrlr", "TxStopPoint")), self._tx_meter)
        self.aligned_tick = Ticker(aligned=True)             # AlignedDataCtrlr.Interval (metering.py)
        self.aligned_ended_tick = Ticker(aligned=True)       # AlignedDataCtrlr.TxEndedInterval
        self.sampled_ended_ticks: dict[int, Ticker] = {}     # SampledDataCtrlr.TxEndedInterval per connector
        self.ended_samples = EndedSamples()
        self.cache = AuthCache()
        self.cache.load_json(self.queue.get_state("authcache"))
        self.energy_caps = EnergyCaps()   # deauthorized transactions charging up to MaxEnergyOnInvalidId
        self.energy_caps.load_json(self.queue.get_state(self.ENERGY_CAPS_KEY))
        self.profiles = ProfileStore()
        self.profiles.load_json(self.queue.get_state("profiles"))
        self.dm.set_local("SmartChargingCtrlr", "Entries", str(len(self.profiles.profiles)), "ChargingProfiles")
        self.sent_limits: dict[int, float | None] = {}   # energy connector (0: site) -> limit pushed
        self.rate_limits: dict[int, float] = {}   # connector -> effective limit (A) last reported (K01)
        self._next_limit_check = 0.0
        self._profile_reports: dict[int, dict[int, list[dict[str, Any]]]] = {}  # GetChargingProfiles requestId -> found
        self._limits_lock = asyncio.Lock()
        self.boot = BootMachine(heartbeat_s=float(self.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval")))
        self.backoff = Backoff(r.backoff_wait_minimum_s, r.backoff_random_range_s, r.backoff_repeat_times)
        self.bridge = Bridge(bus, self)
        self.iface = OcppInterface(self)
        self.link: Link | None = None
        self.ws: Any = None
        self.resets = Resetter(self)
        self.logs = LogUploader(self)
        self.boot_reason = self.resets.boot_reason()
        self.restart_requested = asyncio.Event()  # common.service exits with EXIT_RESTART when set
        self.last_error = ""
        self.connector_state: dict[int, str] = {}
        self.connector_props: dict[int, dict[str, Any]] = {}
        self.sent_status: dict[int, str] = {}
        self.meter_values: dict[int, tuple[float | None, float | None]] = {}
        self.next_sample: dict[int, float] = {}
        self.token_types: dict[int, tuple[str, str]] = {}   # connector -> (token, real type) of a CSMS-authorized card
        self.groups: dict[str, str] = {}          # casefolded token -> groupIdToken the CSMS gave it (C09)
        self.session_token: dict[int, str] = {}   # connector -> the token that authorized its session
        # connector -> the reservation its reserved token used (H03), until a TransactionEvent names it
        self.reservation_used: dict[int, ReservationUse] = {}
        self._load_session_groups()
        self._load_reservations_used()
        # Reservations this station accepted whose end it has not seen: after a restart evse's
        # EndedReservations tells which of them expired meanwhile (H04, reported then).
        self.open_reservations: set[int] = {int(i) for i in self.queue.get_state(RESERVATIONS_OPEN_KEY) or []}
        self._reported_reservations: list[int] = []   # the last ids reported Expired (no duplicate)
        self.stop_token: dict[int, dict[str, str]] = {}  # connector -> the other card of the group stopping it
        self.pending_remote: list[tuple[int, str]] = []      # (connector, token) for RemoteStart after answering
        self.pending_availability: list[tuple[int, bool]] = []
        self._offline_since: float | None = None  # monotonic time the CSMS link was lost (B04)
        self._wake_sender = asyncio.Event()
        self._sender_idle = asyncio.Event()   # clear while a queued message waits for its answer
        self._sender_idle.set()
        self._stopping = False
        self.firmware = FirmwareAgent(bus, self.queue, self._wake_sender.set, self.spawn, self.security)
        if self.boot_reason == "PowerUp" and self.firmware.relay.rebooting():
            self.boot_reason = "FirmwareUpdate"   # L01: the boot after InstallRebooting
        self._reconnect = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_published: dict[str, Any] = {}
        self._event_id = int(time.time()) % 1_000_000_000  # NotifyEvent eventId: increasing across restarts
        self.faults = FaultReporter()                      # ChargeX problems (faults.py)
        self.faults.load_json(self.queue.get_state("faults"))
        self._faults_lock = asyncio.Lock()

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

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.bridge.start()
        self.spawn(self.push_local_list_enabled())
        self.spawn(self.read_connection_timeout())
        await self.firmware.start()
        await self.resync()
        await self.bridge.read_meters()
        self.security.startup()
        for coro in (self._connection_loop(), self._sender_loop(), self._timer_loop()):
            self.spawn(coro)
        log.info("OCPP %s station %s -> %s (security profile %d), %d queued message(s)", SUBPROTOCOL,
                 self.cfg.station_id, self.cfg.url, self.cfg.security_profile, len(self.queue))

    async def stop(self) -> None:
        # A queued message the CSMS has but not yet answered would be sent again after the
        # restart (and a CSMS that does not de-duplicate would count it twice): let its answer
        # come in first, within the stop budget (common.service gives stop() 5 s).
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
        ping = self.dm.get_int("OCPPCommCtrlr", "WebSocketPingInterval") or None
        while True:
            target = self._network_target()
            opened = False
            try:
                # Per attempt: the slot, the password and the certificates may have changed.
                headers, tls = self.security.transport(target)
                async with connect(target.url, subprotocols=[SUBPROTOCOL], additional_headers=headers,
                                   ssl=tls, ping_interval=ping, ping_timeout=ping,
                                   open_timeout=target.message_timeout_s, max_size=4 * 1024 * 1024,
                                   close_timeout=2, **proxy.connect_options()) as ws:
                    opened = True
                    self.network_selector.succeeded()
                    if ws.subprotocol != SUBPROTOCOL:
                        raise ConnectionError(f"the CSMS did not accept subprotocol {SUBPROTOCOL}")
                    self.security.connected(target)
                    await self._serve(ws)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure means: back off, reconnect
                self.last_error = f"{type(e).__name__}: {e}"
                log.info("CSMS connection: %s", self.last_error)
                if not opened:   # a failed attempt (TLS, auth, refused), not a dropped connection
                    self._network_attempt_failed()
                    self.security.connect_failed(e)
            finally:
                self.link = self.ws = None
                if self._offline_since is None:
                    self._offline_since = time.monotonic()
                self.boot.disconnected()
                self.publish()
            delay = 0.0 if self._reconnect.is_set() else self.backoff.next_delay()  # Reconnect(): now
            log.info("reconnecting in %.1f s", delay)
            self._reconnect.clear()
            try:
                await asyncio.wait_for(self._reconnect.wait(), delay)
            except TimeoutError:
                pass

    async def _serve(self, ws: Any) -> None:
        bytes_per_msg = self.dm.get_int("DeviceDataCtrlr", "BytesPerMessage", "GetReport")
        link = Link(self.cfg.station_id, ws, self, response_timeout=self.cfg.message_timeout_s,
                    max_frame_bytes=bytes_per_msg)
        self.ws, self.link = ws, link
        self.last_error = ""
        log.info("connected to %s", self.cfg.url)
        reader = asyncio.create_task(link.start())
        self.publish()
        try:
            if self.boot.connected(time.monotonic(), self._boot_content()):
                await self._send_boot()
            else:
                log.info("reconnected; the CSMS accepted this station before, no BootNotification")
                self.backoff.reset()
                offline_s = time.monotonic() - (self._offline_since or 0.0)
                await self._after_accepted(all_statuses=bootmod.report_all_after_offline(
                    offline_s, self.dm.get_int("OCPPCommCtrlr", "OfflineThreshold")))
            reconnect = asyncio.create_task(self._reconnect.wait())
            await asyncio.wait({reader, reconnect}, return_when=asyncio.FIRST_COMPLETED)
            reconnect.cancel()
            if reader.done():
                reader.result()  # raises ConnectionClosed
        finally:
            reader.cancel()

    def _boot_content(self) -> str:
        s = self.cfg.station
        station: dict[str, Any] = {"model": s.model, "vendorName": s.vendor_name, "firmwareVersion": s.firmware_version}
        if s.serial_number:
            station["serialNumber"] = s.serial_number
        return json.dumps(station, sort_keys=True)

    async def _send_boot(self) -> None:
        content = self._boot_content()
        link = self.link
        if link is None:
            return
        try:
            resp = await link.call(make_call("BootNotification", {"chargingStation": json.loads(content),
                                                                  "reason": self.boot_reason}), suppress=False)
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
            self.boot_reason = "PowerUp"
            self.resets.boot_accepted()
            if resp.interval > 0:
                self.dm.set_local("OCPPCommCtrlr", "HeartbeatInterval", str(resp.interval))
                self._save_dm()
            await self._after_accepted()
            # Connecting and booting (TLS, the first schemas, the status burst) leave freed heap:
            # back to the kernel now rather than at the next periodic trim (issue 7).
            release_free_memory()
        self.publish()

    async def _after_accepted(self, all_statuses: bool = True) -> None:
        self._offline_since = None
        if all_statuses:
            self.sent_status.clear()
        for cid in self.evses:
            await self._send_status(cid)
            await self.send_faults(cid)
        self._wake_sender.set()
        self.publish()

    # --- timers ---------------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        while True:
            await asyncio.sleep(self._timer_wait())
            now = time.monotonic()
            if now >= self._next_limit_check:  # charging profiles apply offline too
                self._next_limit_check = now + 1.0
                try:
                    await self.apply_limits()
                except Exception:
                    log.exception("applying charging limits failed")
            try:  # offline too: transaction meter values are queued (E11, TC_E_40)
                self._meter_ticks(time.time())
                self._sample_meters(now)
            except Exception:
                log.exception("meter values step failed")
            if self.link is None:
                continue
            if self.online and self.security.renewal_due(now):
                self.spawn(self.security.sign())
            try:
                self._sample_meters(now)  # first: a sample going out makes this tick's Heartbeat unneeded (B05)
                if self.boot.boot_due(now):
                    self.boot.next_boot_at = None
                    await self._send_boot()
                elif self.boot.heartbeat_due(now):
                    await self._heartbeat()
            except websockets.ConnectionClosed:
                continue
            except Exception:  # a bug here must not stop heartbeats for good
                log.exception("timer step failed")

    def _timer_wait(self) -> float:
        b = self.boot
        due = [self._next_limit_check, *self.next_sample.values(),
               *(t for t in (b.next_boot_at, b.next_heartbeat_at) if t is not None)]
        return min(TICK_MAX_S, max(TICK_S, min(due) - time.monotonic()))

    async def _heartbeat(self) -> None:
        link = self.link
        if link is None:
            return
        self.boot.message_sent(time.monotonic())
        try:
            resp = await link.call(make_call("Heartbeat", {}), suppress=False)
            self.dm.set_local("ClockCtrlr", "DateTime", resp.current_time)
        except (TimeoutError, OCPPError) as e:
            log.info("Heartbeat failed: %s", e)

    def _sample_meters(self, now: float) -> None:
        interval = self.dm.get_int("SampledDataCtrlr", "TxUpdatedInterval")
        if interval <= 0:
            return
        for cid in list(self.tx.active):
            due = self.next_sample.setdefault(cid, now + interval)
            if now >= due:
                self.next_sample[cid] = now + interval
                self._emit(cid, self.tx.meter(cid, self._meter(cid, "Sample.Periodic", "TxUpdatedMeasurands"),
                                              utc_now(), offline=not self.online))

    # --- sending --------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.link is not None and self.boot.state == bootmod.ACCEPTED

    def _emit(self, cid: int, payload: dict[str, Any] | None) -> None:
        """Store a TransactionEvent (with the builder's new state) durably, then wake the sender."""
        if payload is None:
            return
        tx_id = payload["transactionInfo"]["transactionId"]
        more_state = None
        used = self.reservation_used.get(cid)
        if used is not None and reservations.names_reservation(used, (payload.get("idToken") or {}).get("idToken", "")):
            # H03: the transaction the reserved token authorized names its reservation, once; the
            # reservation leaves our state in the same commit as the message that carries it.
            payload["reservationId"] = used.reservation_id
            del self.reservation_used[cid]
            more_state = {RESERVATIONS_USED_KEY: self._reservations_used_json()}
        self.queue.enqueue("TransactionEvent", payload, transaction_id=tx_id, state=self.tx.to_json(),
                           more_state=more_state)
        if self.online:  # the sender sends it now: no Heartbeat needed for another interval
            self.boot.message_sent(time.monotonic())
        log.info("TransactionEvent %s %s seqNo %d queued", payload["eventType"], payload["triggerReason"],
                 payload["seqNo"], extra=fields(connector=cid, transaction=tx_id))
        self._wake_sender.set()
        self.publish()

    async def _sender_loop(self) -> None:
        """Deliver the queue in order, one message at a time, while the CSMS accepts us."""
        while True:
            await self._wake_sender.wait()
            self._wake_sender.clear()
            try:
                await self._deliver()
            except Exception:  # a bug or a disk error must not stop delivery for good
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
                # Not an attempt: it waits for the next connection, whose boot wakes the sender.
                # (Returning, not re-waking: `online` stays true until the connection loop notices.)
                return
            if retry_in:
                await asyncio.sleep(retry_in)
        if self.online and len(self.queue) and not self._stopping:
            self._wake_sender.set()

    async def _deliver_head(self, link: Link, head: Queued) -> tuple[bool, float]:
        """One exchange for the queue's head, stored outcome included: (connection closed, retry in s).

        The message leaves the queue only once its answer is in (at-least-once); `stop()` waits
        for this to return, so a clean stop never leaves an answered message behind."""
        policy = RetryPolicy(self.dm.get_int("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
                             self.dm.get_int("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"))
        self.boot.message_sent(time.monotonic())
        outcome = await delivery.attempt(self.queue, head,
                                         lambda: link.call(make_call(head.action, head.payload), suppress=False),
                                         policy, lambda: self.link is link)
        if isinstance(outcome, delivery.NotDelivered):
            return outcome.connection_closed, outcome.retry_in_s
        self.queue.remove(head.id)
        self.publish()
        if head.action == "TransactionEvent":
            try:
                self._on_transaction_response(head.payload, outcome.response)
            except Exception:  # the CSMS has it: never send it again because of a bug here
                log.exception("handling the answer to %s %s failed", head.action, head.id)
        return False, 0.0

    def _on_transaction_response(self, payload: dict[str, Any], resp: Any) -> None:
        info = getattr(resp, "id_token_info", None)
        token = (payload.get("idToken") or {}).get("idToken")
        if not info or not token:
            return
        status = info.get("status", "")
        self._note_group(token, info)
        self._cache_put(token, status, info.get("cache_expiry_date_time"), self._info_group(info))
        tx_id = payload["transactionInfo"]["transactionId"]
        cid = self.tx.connector_of(tx_id)
        if cid is None or status == "Accepted":
            return
        max_wh = self.dm.get_int("TxCtrlr", "MaxEnergyOnInvalidId")
        action = on_invalid(self.dm.get_bool("TxCtrlr", "StopTxOnInvalidId"), max_wh)
        if action is OnInvalid.STOP:
            log.info("connector %d: the CSMS answered %s for the token: stopping", cid, status,
                     extra=fields(connector=cid))
            self.spawn(self._stop(cid, "DeAuthorized"))
        elif action is OnInvalid.SUSPEND:  # the transaction goes on, the energy transfer does not (SuspendedEVSE)
            log.info("connector %d: the CSMS answered %s for the token: suspending", cid, status,
                     extra=fields(connector=cid))
            self.spawn(self._suspend(cid))
        else:   # charging goes on up to MaxEnergyOnInvalidId Wh in the transaction (invalidid.py)
            log.info("connector %d: the CSMS answered %s for the token: charging up to %d Wh", cid, status, max_wh,
                     extra=fields(connector=cid, transaction=tx_id))
            self.energy_caps.arm(cid, tx_id, max_wh)
            self.queue.put_state(self.ENERGY_CAPS_KEY, self.energy_caps.to_json())
            self._check_energy_cap(cid)

    async def _send_status(self, cid: int) -> None:
        state = self.connector_state.get(cid)
        link = self.link
        if state is None or link is None or not self.online:
            return
        status = CONNECTOR_STATUS.get(state, "Unavailable")
        if self.sent_status.get(cid) == status:
            return
        evse_id, conn_id = self.evses[cid]
        self.sent_status[cid] = status
        self.boot.message_sent(time.monotonic())
        ts = utc_now()
        try:
            await link.call(make_call("StatusNotification", {"timestamp": ts, "connectorStatus": status,
                                                             "evseId": evse_id, "connectorId": conn_id}),
                            suppress=False)
            # The same change as a device model event (Connector.AvailabilityState, TC_E_09).
            self._event_id += 1
            await link.call(make_call("NotifyEvent", {"generatedAt": ts, "seqNo": 0, "eventData": [{
                "eventId": self._event_id, "timestamp": ts, "trigger": "Delta", "actualValue": status,
                "component": {"name": "Connector", "evse": {"id": evse_id, "connectorId": conn_id}},
                "variable": {"name": "AvailabilityState"}, "eventNotificationType": "HardWiredNotification"}]}),
                suppress=False)
        except (TimeoutError, OCPPError) as e:
            log.info("StatusNotification/NotifyEvent failed: %s", e)
        except websockets.ConnectionClosed:
            self.sent_status.pop(cid, None)

    async def send_faults(self, cid: int) -> None:
        """NotifyEvent for faults raised or cleared since the CSMS was last told (faults.py)."""
        async with self._faults_lock:
            link = self.link
            raised, cleared = self.faults.pending(cid)
            if not (raised or cleared) or link is None or not self.online or cid not in self.evses:
                return
            evse_id, conn_id = self.evses[cid]
            ts = utc_now()
            data = []
            for fault, gone in [(f, False) for f in raised] + [(f, True) for f in cleared]:
                self._event_id += 1
                data.append(event_data(self._event_id, ts, fault, evse_id, conn_id, cleared=gone))
            try:
                await link.call(make_call("NotifyEvent", {"generatedAt": ts, "seqNo": 0, "eventData": data}),
                                suppress=False)
            except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
                log.info("NotifyEvent (faults) failed: %s", e)
                return
            self.faults.sent(cid, raised, cleared)
            self.queue.put_state("faults", self.faults.to_json())
            log.info("connector %d: faults reported: raised %s, cleared %s", cid, raised, cleared,
                     extra=fields(connector=cid))

    # --- inputs from the evcharge services (bridge) -----------------------------------------
    ENERGY_CAPS_KEY = "invalid_id_caps"

    def _check_energy_cap(self, cid: int) -> None:
        """The deauthorized transaction reached MaxEnergyOnInvalidId: its energy transfer stops (SuspendedEVSE)."""
        armed = dict(self.energy_caps.caps)
        if self.energy_caps.reached(cid, self.tx.transaction_id(cid),
                                    (self.connector_props.get(cid) or {}).get("SessionEnergyWh")):
            log.info("connector %d: MaxEnergyOnInvalidId reached: suspending", cid, extra=fields(connector=cid))
            self.spawn(self._suspend(cid))
        if self.energy_caps.caps != armed:
            self.queue.put_state(self.ENERGY_CAPS_KEY, self.energy_caps.to_json())

    def on_connector_props(self, cid: int, changed: dict[str, Any]) -> None:
        if cid not in self.evses:
            return
        self.connector_props.setdefault(cid, {}).update(changed)
        if "SessionEnergyWh" in changed and cid in self.energy_caps.caps:
            self._check_energy_cap(cid)
        if "Faults" in changed:
            self.faults.set_faults(cid, changed["Faults"])
            self.spawn(self.send_faults(cid))
        if "State" in changed:
            state = changed["State"]
            self.connector_state[cid] = state
            self._update_availability_vars()
            self.spawn(self._send_status(cid))
            self._emit_all(cid, self.flow.state(cid, state, utc_now(), offline=not self.online))

    def _emit_all(self, cid: int, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            if payload["eventType"] == "Started":
                self.next_sample.pop(cid, None)
            self._emit(cid, payload)

    def on_session_started(self, cid: int, session_id: str, started_at: str) -> None:
        if cid not in self.evses:
            return
        self._emit_all(cid, self.flow.session_started(cid, session_id, started_at, offline=not self.online))

    def on_session_event(self, cid: int, session_id: str, event: str, detail: dict[str, Any]) -> None:
        if cid not in self.evses:
            return
        if event in ("Authorized", "TokenHeld", "TokenExpired"):
            self._note_reservation_use(cid, session_id, event, detail)
        if event == "ReservationEnded":
            self._reservation_ended(int(detail.get("reservation_id", 0)), str(detail.get("reason", "")))
        if event == "Authorized":
            token, token_type = detail.get("token", ""), detail.get("token_type", "")
            known = self.token_types.pop(cid, None)
            if known and known[0].casefold() == token.casefold():
                token_type = known[1]
            self.session_token[cid] = token
            self._save_session_groups()
            self._emit_all(cid, self.flow.authorized(cid, token, token_type, utc_now(), offline=not self.online))
        elif event == "TokenHeld":
            self._on_token_held(cid, detail.get("token", ""), detail.get("token_type", ""))
        elif event == "TokenExpired" and self.tx.before_cable(cid):
            # E03.FR.05 / TC_F_04 with TxStartPoint Authorized: the transaction the remote start
            # opened ends, no EV connected within the connection timeout.
            log.info("connector %d: no EV connected in time: transaction %s ends", cid, self.tx.transaction_id(cid),
                     extra=fields(connector=cid, transaction=self.tx.transaction_id(cid)))
            self._emit(cid, self.tx.ended(cid, "Timeout", utc_now(), offline=not self.online, trigger="EVConnectTimeout",
                                          meter=self._tx_meter(cid, "Transaction.End", "TxEndedMeasurands")))
        elif event == "TokenExpired" and self.tx.remote_starts.pop(cid, None) is not None:
            # E03.FR.05 / TC_F_04: no EV within EVConnectionTimeOut, the remote start is void.
            log.info("connector %d: remote start expired (no EV connected in time)", cid, extra=fields(connector=cid))
            self.queue.put_state("tx", self.tx.to_json())
        elif event == "Stopped":
            if detail.get("reason") in ("OvercurrentFault", "GroundFault"):  # ChargeX CX004 / CX002
                self.faults.raise_fault(cid, detail["reason"])
                self.spawn(self.send_faults(cid))
            self._emit_all(cid, self.flow.stopped(cid, detail.get("reason", "Other"), utc_now(),
                                                  offline=not self.online, id_token=self.stop_token.pop(cid, None)))

    def _on_token_held(self, cid: int, token: str, token_type: str) -> None:
        """A card accepted before the cable: with TxStartPoint Authorized the transaction starts now
        (E03.FR.01, TC_E_39); the plug-in within EVConnectionTimeOut continues it, else TokenExpired
        ends it (EVConnectTimeout). A remote start's hold is opened by run_remote_start instead."""
        if not token or cid in self.tx.active or cid in self.tx.remote_starts:
            return
        if "Authorized" not in parse_points(self.dm.get("TxCtrlr", "TxStartPoint")):
            return
        known = self.token_types.get(cid)  # a card the CSMS authorized reaches evse as a Central token
        if known and known[0].casefold() == token.casefold():
            token_type = known[1]
        msg = self.tx.authorized_before_cable(cid, str(uuid.uuid4()), token, token_type, utc_now(),
                                              offline=not self.online,
                                              meter=self._tx_meter(cid, "Transaction.Begin", "TxStartedMeasurands"))
        if msg:
            log.info("connector %d: authorized before the cable: transaction %s starts", cid,
                     msg["transactionInfo"]["transactionId"], extra=fields(connector=cid))
            self._emit(cid, msg)

    def on_session_ended(self, cid: int, session_id: str, reason: str, energy_wh: float) -> None:
        if cid not in self.evses:
            return
        self.next_sample.pop(cid, None)
        if self.session_token.pop(cid, None) is not None:
            self._save_session_groups()
        if self.reservation_used.pop(cid, None) is not None:
            self._save_reservations_used()
        self.stop_token.pop(cid, None)
        if self.energy_caps.drop(cid):
            self.queue.put_state(self.ENERGY_CAPS_KEY, self.energy_caps.to_json())
        for fault in ("OvercurrentFault", "GroundFault"):  # a stop fault ends with its session
            self.faults.clear_fault(cid, fault)
        self.spawn(self.send_faults(cid))
        # A transaction begun before the cable has its own id (transactions.py).
        self.profiles.drop_transaction(self.tx.transaction_id(cid) if self.tx.session_of(cid) == session_id
                                       else session_id)
        self._save_profiles()
        self._emit_all(cid, self.flow.session_ended(cid, session_id, reason, utc_now(), offline=not self.online))
        self.resets.on_idle_check()

    def on_meter(self, meter_id: int, energy_wh: float | None, power_w: float | None) -> None:
        old_e, old_p = self.meter_values.get(meter_id, (None, None))
        self.meter_values[meter_id] = (energy_wh if energy_wh is not None else old_e,
                                       power_w if power_w is not None else old_p)
        if power_w is not None:
            for cid, (evse_id, _c) in self.evses.items():
                if self.meters.get(cid, cid) == meter_id:
                    self.dm.set_local("EVSE", "Power", f"{power_w:g}", evse_id=evse_id)

    # --- clock-aligned and Ended meter values (metering.py) -------------------------------------
    def _values(self, cid: int, context: str, component: str, variable: str,
                at: float | None = None) -> list[dict[str, Any]]:
        energy, power = self.meter_values.get(self.meters.get(cid, cid), (None, None))
        measurands = [m.strip() for m in self.dm.get(component, variable).split(",") if m.strip()]
        ts = utc_now() if at is None else \
            datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return sampled_values(ts, context, energy_wh=energy, power_w=power, measurands=measurands)

    def _tx_meter(self, cid: int, context: str, measurands_var: str) -> list[dict[str, Any]]:
        """Begin/End values of a transaction; End carries the samples kept for it."""
        values = self._meter(cid, context, measurands_var)
        if context == "Transaction.Begin":
            self.ended_samples.drop(cid)
            self.sampled_ended_ticks.pop(cid, None)
            return values
        self.sampled_ended_ticks.pop(cid, None)
        return self.ended_samples.take(cid) + values

    def _meter_ticks(self, now: float) -> None:
        at = self.aligned_tick.check(now, self.dm.get_int("AlignedDataCtrlr", "Interval"))
        if at is not None:   # every EVSE's values carry the boundary as timestamp (TC_J_01)
            for cid in sorted(self.evses):
                values = self._values(cid, "Sample.Clock", "AlignedDataCtrlr", "Measurands", at)
                if cid in self.tx.active:
                    if self.dm.get_bool("AlignedDataCtrlr", "SendDuringIdle"):
                        continue
                    self._emit(cid, self.tx.meter(cid, values, values[0]["timestamp"] if values else utc_now(),
                                                  trigger="MeterValueClock", offline=not self.online))
                elif values and self.online:
                    self.spawn(self._send_meter_values(cid, values))
        at = self.aligned_ended_tick.check(now, self.dm.get_int("AlignedDataCtrlr", "TxEndedInterval"))
        if at is not None:
            for cid in list(self.tx.active):
                self.ended_samples.add(cid, self._values(cid, "Sample.Clock", "AlignedDataCtrlr",
                                                         "TxEndedMeasurands", at))
        interval = self.dm.get_int("SampledDataCtrlr", "TxEndedInterval")
        for cid in list(self.tx.active):
            at = self.sampled_ended_ticks.setdefault(cid, Ticker(aligned=False)).check(now, interval)
            if at is not None:
                self.ended_samples.add(cid, self._values(cid, "Sample.Periodic", "SampledDataCtrlr",
                                                         "TxEndedMeasurands", at))

    async def _send_meter_values(self, cid: int, values: list[dict[str, Any]]) -> None:
        link = self.link
        if link is None:
            return
        try:
            await link.call(make_call("MeterValues", {"evseId": self.evses[cid][0], "meterValue": values}),
                            suppress=False)
        except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
            log.info("MeterValues failed: %s", e)

    def _meter(self, cid: int, context: str, measurands_var: str) -> list[dict[str, Any]]:
        energy, power = self.meter_values.get(self.meters.get(cid, cid), (None, None))
        measurands = [m.strip() for m in self.dm.get("SampledDataCtrlr", measurands_var).split(",") if m.strip()]
        return sampled_values(utc_now(), context, energy_wh=energy, power_w=power, measurands=measurands)

    async def resync(self) -> None:
        """Catch up with sessions that started or ended while we (or evse) were not running."""
        for cid in self.evses:
            props = await self.bridge.connector_props(cid)
            if props is None:
                continue
            self.connector_props[cid] = props
            self.connector_state[cid] = props.get("State", "Unavailable")
            self.faults.set_faults(cid, props.get("Faults") or [])
            session = props.get("SessionId", "")
            known = self.tx.transaction_id(cid)
            if known and self.tx.before_cable(cid):   # a remote start's transaction, no cable when we left
                if session:
                    self._emit(cid, self.tx.cable_plugged(cid, session, props.get("SessionStartedAt") or utc_now(),
                                                          offline=not self.online))
                else:
                    # Whether evse still holds the token cannot be read: end it rather than keep it open
                    # with no TokenExpired to come.
                    log.info("connector %d: transaction %s had no cable when we restarted: ended", cid, known,
                             extra=fields(connector=cid, transaction=known))
                    self._emit(cid, self.tx.ended(cid, "Timeout", utc_now(), offline=not self.online,
                                                  trigger="EVConnectTimeout"))
                    known = None
            if known and self.tx.session_of(cid) != session:
                ended = await self.bridge.ended_session(known)
                reason = (ended or {}).get("stop_reason") or "Other"
                log.info("connector %d: transaction %s ended while we were away (%s)", cid, known, reason,
                         extra=fields(connector=cid, transaction=known))
                self._emit(cid, self.tx.ended(cid, reason, (ended or {}).get("ended_at") or utc_now(),
                                              offline=not self.online))
                known = None
            token = props.get("SessionToken") or ""
            self._resync_reservation_use(cid, session, token)
            if session and (known or self.tx.finished.get(cid) == session or self.resets.is_closed(session)):
                # Still running (or its transaction already ended, also by a Reset): only the conditions.
                if not known:
                    self.tx.finished[cid] = session
                self.flow.restore(cid, Conditions(session=session, token=(token, "Central") if token else None,
                                                  authorized=bool(token) and not props.get("StopReason"),
                                                  state=self.connector_state[cid],
                                                  power_path=bool(token) and not props.get("StopReason")
                                                  and (props.get("SessionEnergyWh") or 0) > 0))
            elif session:
                off = not self.online
                rid = int(props.get("SessionReservationId") or 0)
                if rid and token and cid not in self.reservation_used:   # used while we were away (H03)
                    self.reservation_used[cid] = ReservationUse(rid, token, session)
                    self._save_reservations_used()
                self.flow.conds[cid] = Conditions(state=self.connector_state[cid])
                self._emit_all(cid, self.flow.session_started(cid, session, props.get("SessionStartedAt")
                                                              or utc_now(), offline=off))
                if token:
                    self._emit_all(cid, self.flow.authorized(cid, token, "Central", utc_now(), offline=off))
                self._emit_all(cid, self.flow.state(cid, self.connector_state[cid], utc_now(), offline=off))
            else:
                self.flow.conds[cid] = Conditions(state=self.connector_state[cid])
        if len(self.connector_props) == len(self.evses):  # only once evse told us about every connector
            self.resets.forget_closed({str(p.get("SessionId")) for p in self.connector_props.values()})
        self.resets.on_idle_check()
        self._update_availability_vars()
        await self._catch_up_reservations()
        for cid in self.evses:
            self.spawn(self._send_status(cid))

    def _update_availability_vars(self) -> None:
        for cid, (evse_id, conn_id) in self.evses.items():
            status = CONNECTOR_STATUS.get(self.connector_state.get(cid, "Unavailable"), "Unavailable")
            self.dm.set_local("EVSE", "AvailabilityState", status, evse_id=evse_id)
            self.dm.set_local("Connector", "AvailabilityState", status, evse_id=evse_id, connector_id=conn_id)

    # --- authorization of reader tokens the local list does not know --------------------------
    def _cache_put(self, token: str, status: str, expiry: str | None, group: str | None = None) -> None:
        if not self.dm.get_bool("AuthCacheCtrlr", "Enabled"):
            return
        exp = None
        if expiry:
            try:
                exp = datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp()
            except ValueError:
                exp = None
        self.cache.put(token, status, time.time(), self.dm.get_int("AuthCacheCtrlr", "LifeTime"), exp, group)
        self.queue.put_state("authcache", self.cache.to_json())

    @staticmethod
    def _info_group(info: dict[str, Any]) -> str | None:
        return (info.get("group_id_token") or {}).get("id_token") or None

    def _group_of(self, token: str) -> str | None:
        """The GroupId the CSMS last gave the token (an Authorize answer, or the cache entry after a restart)."""
        return self.groups.get(token.casefold()) or self.cache.group(token)

    def _note_group(self, token: str, info: dict[str, Any]) -> None:
        group = self._info_group(info)
        if group:
            self.groups[token.casefold()] = group
        else:
            self.groups.pop(token.casefold(), None)
        if token.casefold() in (t.casefold() for t in self.session_token.values()):
            self._save_session_groups()

    # Who started each running session and its GroupId outlive a restart of this service: a card
    # of the same group must still stop the session afterwards (C09.FR.03). Only session starters
    # are kept, so the state stays as small as the number of connectors.
    SESSION_GROUPS_KEY = "session_groups"

    def _save_session_groups(self) -> None:
        starters = {t.casefold() for t in self.session_token.values()}
        self.queue.put_state(self.SESSION_GROUPS_KEY, {
            "sessions": {str(cid): token for cid, token in self.session_token.items()},
            "groups": {t: g for t, g in self.groups.items() if t in starters}})

    def _load_session_groups(self) -> None:
        state = self.queue.get_state(self.SESSION_GROUPS_KEY) or {}
        self.session_token.update({int(cid): token for cid, token in (state.get("sessions") or {}).items()})
        self.groups.update(state.get("groups") or {})

    # The reservation a reserved token used waits here for the first TransactionEvent with that token,
    # which with TxStartPoint PowerPathClosed or EnergyTransfer comes long after the authorization:
    # kept in the queue's database so that a restart in between still names it (H03).
    def _note_reservation_use(self, cid: int, session_id: str, event: str, detail: dict[str, Any]) -> None:
        """evse's Authorized / TokenHeld say which reservation (if any) this token used; TokenExpired
        drops a held token and what it used."""
        before = self.reservation_used.get(cid)
        after = reservations.note_use(before, event, session_id, detail)
        if after is None:
            self.reservation_used.pop(cid, None)
        else:
            self.reservation_used[cid] = after
        if after != before:
            self._save_reservations_used()

    def _reservations_used_json(self) -> dict[str, Any]:
        return {str(cid): asdict(u) for cid, u in self.reservation_used.items()}

    def _save_reservations_used(self) -> None:
        self.queue.put_state(RESERVATIONS_USED_KEY, self._reservations_used_json())

    def _load_reservations_used(self) -> None:
        for cid, u in (self.queue.get_state(RESERVATIONS_USED_KEY) or {}).items():
            try:
                self.reservation_used[int(cid)] = ReservationUse(int(u["reservation_id"]), str(u["token"]),
                                                                 str(u.get("session", "")))
            except (KeyError, TypeError, ValueError):
                log.warning("connector %s: unreadable stored reservation use %r: dropped", cid, u)

    def _resync_reservation_use(self, cid: int, session: str, token: str) -> None:
        """After a restart (ours or evse's): keep a reservation use only for the session (or the held
        token) it belongs to; the session may have ended, or the held token expired, meanwhile."""
        u = self.reservation_used.get(cid)
        if u is not None and not reservations.still_valid(u, session, token):
            del self.reservation_used[cid]
            self._save_reservations_used()

    def _same_group_stop(self, token: str, token_type: str) -> bool:
        """C09.FR.03: another valid card of the GroupId of the card that started a session stops it. The
        reader serves every connector, so the session may be on any of them."""
        group = self.groups.get(token.casefold())
        if group is None:
            return False
        for cid, started_by in self.session_token.items():
            if not (self.connector_props.get(cid) or {}).get("SessionId"):
                continue   # ended while this service was down: no session to stop
            if started_by.casefold() != token.casefold() and self.groups.get(started_by.casefold()) == group:
                log.info("connector %d: a card of the same GroupId stops the session", cid,
                         extra=fields(connector=cid))
                self.stop_token[cid] = {"idToken": token, "type": token_type}
                self.spawn(self._stop(cid, "Local"))
                return True
        return False

    async def authorize_token(self, cid: int, token: str, token_type: str, *, reserved: bool = False) -> None:
        """A reader's card evse refused: Unknown to the local list, or (`reserved`) the connector is
        reserved for another token, which this card may use as a member of its group (H03.FR.07/08)."""
        accepted = False
        link = self.link
        from_cache = None
        if self.online and link is not None and self.dm.get_bool("AuthCacheCtrlr", "Enabled"):
            cached = self.cache.lookup(token, time.time())
            from_cache = online_cache_decision(
                cached, local_pre_authorize=self.dm.get_bool("AuthCtrlr", "LocalPreAuthorize"),
                disable_post_authorize=self.dm.get_bool("AuthCacheCtrlr", "DisablePostAuthorize"))
            if from_cache is not None:
                log.info("connector %d: authorization cache: %s", cid, cached, extra=fields(connector=cid))
                accepted = from_cache
        if from_cache is None and self.online and link is not None and \
                not self.dm.get_bool("AuthCtrlr", "DisableRemoteAuthorization"):
            try:
                resp = await link.call(make_call("Authorize", {"idToken": {"idToken": token, "type": token_type}}),
                                       suppress=False)
                status = resp.id_token_info.get("status", "Invalid")
                self._note_group(token, resp.id_token_info)
                self._cache_put(token, status, resp.id_token_info.get("cache_expiry_date_time"),
                                self._info_group(resp.id_token_info))
                accepted = status == "Accepted"
                log.info("connector %d: Authorize: %s", cid, status, extra=fields(connector=cid))
            except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
                log.info("connector %d: Authorize failed (%s): offline rules apply", cid, e)
                link = None
        if link is None or not self.online:
            cached = self.cache.lookup(token, time.time())
            accepted = offline_decision(cached, local_authorize_offline=self.dm.get_bool("AuthCtrlr",
                                                                                          "LocalAuthorizeOffline"),
                                        unknown_id_enabled=self.dm.get_bool("AuthCtrlr",
                                                                            "OfflineTxForUnknownIdEnabled"))
            log.info("connector %d: offline authorization (cache: %s): %s", cid, cached,
                     "accepted" if accepted else "refused", extra=fields(connector=cid))
        if accepted and masterpass.is_master_pass(self._group_of(token), self.dm.get("AuthCtrlr", "MasterPassGroupId")):
            self._master_pass(token, token_type)
            return
        if accepted and self._same_group_stop(token, token_type):
            return
        group = self._group_of(token) or ""
        if accepted and reserved and not group:
            log.info("connector %d: reserved for another token, and this one has no groupIdToken", cid,
                     extra=fields(connector=cid))
            return
        if accepted and cid in self.evses:
            self.token_types[cid] = (token, token_type)
            try:
                await self.bridge.remote_start(cid, token, group)
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: evse refused the CSMS-authorized token: %s", cid, e)

    def on_token_presented(self, token: str, token_type: str) -> None:
        """A reader's token that evse will drop unseen, every connector being busy with a session another
        token authorized: only the CSMS can say it is a Master Pass or a card of a session's group."""
        if masterpass.no_connector_takes({c: self.connector_props.get(c, {}) for c in self.evses}, token):
            log.info("token presented with every connector busy: asking whether it may stop something")
            self.spawn(self.authorize_token(0, token, token_type))

    def _master_pass(self, token: str, token_type: str) -> None:
        """C16 without UI: a Master Pass starts nothing (C16.FR.03) and stops every ongoing transaction
        (C16.FR.02), each with its idToken and stoppedReason MasterPass."""
        id_token = {"idToken": token, "type": token_type}
        for cid in sorted(self.evses):
            if self.tx.before_cable(cid):   # no evse session to stop: the transaction ends here
                self._emit(cid, self.tx.ended(cid, "MasterPass", utc_now(), offline=not self.online,
                                              trigger="StopAuthorized",
                                              meter=self._tx_meter(cid, "Transaction.End", "TxEndedMeasurands")))
        cids = masterpass.sessions_to_stop({c: self.connector_props.get(c, {}) for c in self.evses})
        log.info("Master Pass: stopping the sessions on connector(s) %s", cids or "none")
        for cid in cids:
            self.stop_token[cid] = id_token
            self.spawn(self._stop(cid, "MasterPass"))

    # --- answers to the CSMS (called by the adapter's handlers) -------------------------------
    def may_answer(self) -> bool:
        return self.boot.may_answer()

    def _limited(self, data: list[dict[str, Any]], instance: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """B06.FR.?/TC_B_08: items beyond ItemsPerMessage are Rejected with TooManyElements."""
        limit = self.dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", instance)
        extra = [{"attributeType": r.get("attributeType") or "Actual", "component": r["component"],
                  "variable": r["variable"], "attributeStatus": "Rejected",
                  "attributeStatusInfo": {"reasonCode": "TooManyElements"}} for r in data[limit:]]
        return data[:limit], extra

    def get_variables(self, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.dm.set_local("ClockCtrlr", "DateTime", utc_now())
        ok, extra = self._limited(data, "GetVariables")
        return self.dm.get_variables(ok) + extra

    def set_variables(self, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ok, extra = self._limited(data, "SetVariables")
        out = self.dm.set_variables(ok) + extra
        self._save_dm()
        return out

    def _save_dm(self) -> None:
        write_json_atomic(self.dm_file, self.dm.overrides())

    def _on_variable_changed(self, v: Variable) -> None:
        log.info("%s.%s%s set to %r by the CSMS", v.component, v.name, f"[{v.instance}]" if v.instance else "",
                 v.value)
        if v.component == "OCPPCommCtrlr" and v.name == "HeartbeatInterval":
            self.boot.set_heartbeat(time.monotonic(), float(v.value))
        if v.component == "LocalAuthListCtrlr" and v.name == "Enabled":
            self.spawn(self.push_local_list_enabled())
        if v.component == "TxCtrlr" and v.name == "EVConnectionTimeOut":
            self.spawn(self.push_connection_timeout(float(v.value)))
        self.publish()

    def base_report_status(self, base: str) -> str:
        return "Accepted" if self.dm.report(base) is not None else "NotSupported"

    async def send_base_report(self, request_id: int, base: str) -> None:
        items = self.dm.report(base)
        link = self.link
        if items is None or link is None:
            return
        chunks = pages(items, self.dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"))
        generated = utc_now()
        for seq, chunk in enumerate(chunks):
            payload: dict[str, Any] = {"requestId": request_id, "generatedAt": generated, "seqNo": seq,
                                       "tbc": seq < len(chunks) - 1}
            if chunk:
                payload["reportData"] = chunk
            try:
                await link.call(make_call("NotifyReport", payload), suppress=False)
            except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
                log.warning("NotifyReport %d/%d failed: %s", seq + 1, len(chunks), e)
                return

    def trigger_status(self, requested: str, evse: dict[str, Any] | None) -> str:
        if requested == "BootNotification":
            return "Rejected" if self.boot.state == bootmod.ACCEPTED else "Accepted"  # F06.FR.17
        if requested in ("Heartbeat", "StatusNotification", "TransactionEvent", "MeterValues"):
            if evse and evse.get("id") and not self._connectors_for(evse):
                return "Rejected"
            return "Accepted"
        if requested in ("LogStatusNotification", "FirmwareStatusNotification"):
            return "Accepted"  # F06.FR.03: an evse given with these is ignored (TC_F_17)
        if requested == "SignChargingStationCertificate":
            return self.security.trigger_sign()
        return "NotImplemented"

    async def run_trigger(self, requested: str, evse: dict[str, Any] | None) -> None:
        if requested == "SignChargingStationCertificate":
            await self.security.sign()
            return
        if requested == "BootNotification":
            if self.boot.state != bootmod.ACCEPTED:
                await self._send_boot()
        elif requested == "Heartbeat":
            await self._heartbeat()
        elif requested == "StatusNotification":
            for cid in self._connectors_for(evse):
                self.sent_status.pop(cid, None)
                await self._send_status(cid)
        elif requested == "TransactionEvent":
            for cid in self._connectors_for(evse):
                self._emit(cid, self.tx.meter(cid, self._meter(cid, "Trigger", "TxUpdatedMeasurands"), utc_now(),
                                              trigger="Trigger", offline=not self.online))
        elif requested == "MeterValues":  # F06.FR.06: the AlignedDataCtrlr measurands, context Trigger
            for cid in self._connectors_for(evse):
                values = self._values(cid, "Trigger", "AlignedDataCtrlr", "Measurands")
                if values:
                    await self._send_meter_values(cid, values)
        elif requested == "LogStatusNotification":  # F06.FR.14/15: Uploading with its requestId, else Idle
            await self.logs.notify_current()
        elif requested == "FirmwareStatusNotification":
            await self._notify_firmware_status()

    async def _notify_firmware_status(self) -> None:
        """F06.FR.16 / L01.FR.25/26: the update in progress (firmware.py), else Idle."""
        link = self.link
        if link is None:
            return
        try:
            await link.call(make_call("FirmwareStatusNotification", self.firmware.trigger_payload()), suppress=False)
        except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
            log.info("FirmwareStatusNotification failed: %s", e)

    def _connectors_for(self, evse: dict[str, Any] | None) -> list[int]:
        if not evse or not evse.get("id"):
            return sorted(self.evses)
        return [cid for cid, (e, c) in sorted(self.evses.items())
                if e == evse["id"] and (not evse.get("connectorId") or c == evse["connectorId"])]

    def availability_status(self, status: str, evse: dict[str, Any] | None) -> str:
        cids = self._connectors_for(evse)
        if not cids:
            return "Rejected"
        self.pending_availability = [(cid, status == "Operative") for cid in cids]
        busy = any(self.tx.transaction_id(cid) for cid in cids)
        return "Scheduled" if busy and status == "Inoperative" else "Accepted"

    async def change_availability(self, status: str, evse: dict[str, Any] | None) -> None:
        todo, self.pending_availability = self.pending_availability, []
        # G03/G04 (TC_G_13, TC_G_18): the CSMS hears the current state of every connector after the
        # request. Those whose availability changes report through their State; the rest again here.
        wanted = dict(todo)
        unchanged = [cid for cid in sorted(self.evses)
                     if cid not in wanted or self.connector_props.get(cid, {}).get("Available", True) == wanted[cid]]
        for cid, operative in todo:
            try:
                await self.bridge.set_availability(cid, operative)
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: SetAvailability failed: %s", cid, e)
        for cid in unchanged:
            self.sent_status.pop(cid, None)
            await self._send_status(cid)

    def request_start(self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None) -> tuple[str, str | None]:
        candidates = self._connectors_for({"id": evse_id} if evse_id else None)
        for cid in candidates:
            props = self.connector_props.get(cid, {})
            if not props.get("Available", True) or props.get("State") in ("Faulted", "Unavailable"):
                continue
            if props.get("SessionToken") or self.tx.before_cable(cid):
                continue
            if not reserved_for(props, id_token.get("idToken", ""), self.bridge.station_tokens):
                continue   # reserved for another token (H03): only that token starts there
            self.tx.remote_starts[cid] = (remote_start_id, id_token)
            self.queue.put_state("tx", self.tx.to_json())
            self.pending_remote.append((cid, id_token["idToken"]))
            return "Accepted", self.tx.transaction_id(cid)
        return "Rejected", None

    async def run_remote_start(self) -> None:
        todo, self.pending_remote = self.pending_remote, []
        for cid, token in todo:
            try:
                session = await self.bridge.remote_start(cid, token)
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: RemoteStart failed: %s", cid, e, extra=fields(connector=cid))
                self.tx.remote_starts.pop(cid, None)
                continue
            # No cable yet and TxStartPoint Authorized: the transaction starts now (E03.FR.01, TC_F_04);
            # the plug-in within the connection timeout continues it, else it ends (EVConnectTimeout).
            if not session and "Authorized" in parse_points(self.dm.get("TxCtrlr", "TxStartPoint")):
                self._emit(cid, self.tx.remote_started(
                    cid, str(uuid.uuid4()), utc_now(), offline=not self.online,
                    meter=self._tx_meter(cid, "Transaction.Begin", "TxStartedMeasurands")))

    def request_stop(self, transaction_id: str) -> str:
        return "Accepted" if self.tx.connector_of(transaction_id) is not None else "Rejected"

    async def run_remote_stop(self, transaction_id: str) -> None:
        cid = self.tx.connector_of(transaction_id)
        if cid is not None and self.tx.before_cable(cid):
            # No evse session to stop: the transaction ends here. (evse keeps the token until its
            # connection timeout; a plug-in before that is a new transaction.)
            self._emit(cid, self.tx.ended(cid, "Remote", utc_now(), offline=not self.online, trigger="RemoteStop",
                                          meter=self._tx_meter(cid, "Transaction.End", "TxEndedMeasurands")))
        elif cid is not None:
            await self._stop(cid, "Remote")

    async def _suspend(self, cid: int) -> None:
        try:
            await self.bridge.pause(cid)
        except (DBusError, TimeoutError) as e:  # not authorized (yet), stopped or already paused
            log.info("connector %d: Pause: %s", cid, e, extra=fields(connector=cid))

    async def _stop(self, cid: int, reason: str) -> None:
        try:
            await self.bridge.stop(cid, reason)
        except (DBusError, TimeoutError) as e:
            log.warning("connector %d: Stop failed: %s", cid, e, extra=fields(connector=cid))

    def transaction_status(self, transaction_id: str | None) -> tuple[bool, bool | None]:
        if transaction_id is None:
            return self.queue.count_action("TransactionEvent") > 0, None  # not security events
        ongoing = self.tx.connector_of(transaction_id) is not None
        return self.queue.has_transaction(transaction_id), ongoing

    # --- smart charging ------------------------------------------------------------------------
    def set_charging_profile(self, evse_id: int, profile: dict[str, Any]) -> tuple[str, str | None]:
        if evse_id != 0 and evse_id not in {e for e, _c in self.evses.values()}:
            return "Rejected", "UnknownEvse"
        active = {self.evses[cid][0]: tx.transaction_id for cid, tx in self.tx.active.items()}
        reason = check_profile(evse_id, profile, active, self.profiles.items())
        if reason is None and profile["id"] not in self.profiles.profiles and len(self.profiles.profiles) >= MAX_ENTRIES:
            reason = "TooManyElements"
        if reason:
            log.info("charging profile %s refused: %s", profile.get("id"), reason)
            return "Rejected", reason
        self.profiles.set(evse_id, profile)
        self._save_profiles()
        log.info("charging profile %s (%s, stack %s) for evse %d", profile["id"], profile["chargingProfilePurpose"],
                 profile["stackLevel"], evse_id)
        return "Accepted", None

    def clear_charging_profile(self, profile_id: int | None, criteria: dict[str, Any] | None) -> str:
        c = criteria or {}
        cleared = self.profiles.clear(profile_id, c.get("evseId"), c.get("chargingProfilePurpose"),
                                      c.get("stackLevel"))
        self._save_profiles()
        return "Accepted" if cleared else "Unknown"

    def _save_profiles(self) -> None:
        self.queue.put_state("profiles", self.profiles.to_json())
        self.dm.set_local("SmartChargingCtrlr", "Entries", str(len(self.profiles.profiles)), "ChargingProfiles")

    def _tx_start(self, cid: int) -> float | None:
        """Where a Relative profile's periods count from: the transaction's start."""
        started = self.connector_props.get(cid, {}).get("SessionStartedAt") or None
        try:
            return parse_time(started) if started and self.tx.transaction_id(cid) else None
        except ValueError:
            return None

    async def apply_limits(self) -> None:
        """Push the profiles' limits now to the energy service (only what changed), and set the
        timer for the next period boundary (at most 1 s away, so clock steps are caught too).
        Serialized: the timer and a SetChargingProfile's @after may both call it, and a run that
        computed its limits before the new profile must not overwrite what the other pushed."""
        async with self._limits_lock:
            await self._apply_limits()

    async def _apply_limits(self) -> None:
        now = time.time()
        wanted: dict[int, float | None] = {0: self.profiles.station_limit(now)}
        tx_starts: dict[str | None, float | None] = {}
        for cid, (evse_id, _c) in self.evses.items():
            tx_id = self.tx.transaction_id(cid)
            tx_start = self._tx_start(cid)
            tx_starts[tx_id] = tx_start
            wanted[cid] = self.profiles.evse_limit(evse_id, now, tx_id, tx_start)
        change = self.profiles.next_change(now, 1.0, tx_starts)
        if change is not None:
            self._next_limit_check = min(self._next_limit_check, time.monotonic() + max(0.0, change - now))
        self._report_rate_changes(wanted)
        for cid, limit in wanted.items():
            if cid in self.sent_limits and self.sent_limits[cid] == limit:
                continue
            if cid not in self.sent_limits and limit is None:
                self.sent_limits[cid] = None
                try:  # a limit left from before a restart
                    await self.bridge.set_limit(cid, None)
                except (DBusError, TimeoutError):
                    pass
                continue
            try:
                await self.bridge.set_limit(cid, limit)
                self.sent_limits[cid] = limit
                log.info("%s: OCPP limit %s", f"connector {cid}" if cid else "station",
                         "cleared" if limit is None else f"{limit:.1f} A")
            except (DBusError, TimeoutError) as e:
                log.warning("energy refused the OCPP limit for %d: %s", cid, e)

    def _effective_limit(self, cid: int, limits: dict[int, float | None]) -> float:
        own, station = limits.get(cid), limits.get(0)
        return min(self.cfg.evse_max_current_a if own is None else own,
                   self.cfg.site_limit_a if station is None else station)

    def _report_rate_changes(self, wanted: dict[int, float | None]) -> None:
        """TransactionEvent ChargingRateChanged for each transaction whose limit (its own and the
        station's) moved by at least SmartChargingCtrlr.LimitChangeSignificance percent since the
        last change reported (or since the first look, which reports nothing)."""
        significance = self.dm.get_int("SmartChargingCtrlr", "LimitChangeSignificance")
        for cid in self.evses:
            new = self._effective_limit(cid, wanted)
            old = self.rate_limits.get(cid)
            if old is None or cid not in self.tx.active:
                self.rate_limits[cid] = new
                continue
            if new == old or abs(new - old) * 100 < significance * old:
                continue   # not significant: compared with the last reported, so small steps add up
            self.rate_limits[cid] = new
            log.info("connector %d: limit %.1f A -> %.1f A: ChargingRateChanged", cid, old, new)
            self._emit(cid, self.tx.rate_changed(cid, utc_now(), offline=not self.online,
                                                 meter=self._meter(cid, "Sample.Periodic", "TxUpdatedMeasurands")))

    def get_charging_profiles(self, request_id: int, evse_id: int | None, criteria: dict[str, Any]) -> str:
        """K09: Accepted when some profile matches (the report follows), else NoProfiles."""
        found = self.profiles.select(evse_id, criteria.get("chargingProfilePurpose"), criteria.get("stackLevel"),
                                     criteria.get("chargingProfileId"), criteria.get("chargingLimitSource"))
        self._profile_reports[request_id] = found
        return "Accepted" if found else "NoProfiles"

    async def send_charging_profiles(self, request_id: int) -> None:
        found = self._profile_reports.pop(request_id, {})
        link = self.link
        for n, (evse_id, profiles) in enumerate(sorted(found.items())):
            if link is None:
                return
            try:  # one ReportChargingProfiles per EVSE (K09.FR.?), tbc on all but the last
                await link.call(make_call("ReportChargingProfiles", {
                    "requestId": request_id, "chargingLimitSource": "CSO", "evseId": evse_id,
                    "chargingProfile": profiles, "tbc": n < len(found) - 1}), suppress=False)
            except (TimeoutError, OCPPError, websockets.ConnectionClosed) as e:
                log.warning("ReportChargingProfiles failed: %s", e)
                return

    def composite_schedule(self, duration: int, evse_id: int, unit: str | None) -> tuple[str, dict[str, Any] | None]:
        """K08: the composite of every profile for the EVSE (0: the station) from now, in `unit`."""
        if evse_id != 0 and evse_id not in {e for e, _c in self.evses.values()}:
            return "Rejected", None
        cids = [cid for cid, (e, _c) in self.evses.items() if e == evse_id]
        cid = cids[0] if cids else None
        tx_id = self.tx.transaction_id(cid) if cid is not None else None
        tx_start = self._tx_start(cid) if cid is not None else None
        phases = self.dm.get_int("ChargingStation", "SupplyPhases") or 3
        default_a = self.cfg.site_limit_a if evse_id == 0 else self.cfg.evse_max_current_a
        schedule = self.profiles.composite_schedule(evse_id, float(int(time.time())), duration, unit or "A",
                                                    default_a=default_a, tx_id=tx_id, tx_start=tx_start,
                                                    phases=phases)
        return "Accepted", schedule

    def clear_cache(self) -> str:
        if not self.dm.get_bool("AuthCacheCtrlr", "Enabled"):  # C11.FR.04
            return "Rejected"
        self.cache.clear()
        self.queue.put_state("authcache", {})
        return "Accepted"

    # --- customer information (N09/N10; decisions in customer.py) -------------------------------
    def customer_information(self, req: customer.Request) -> tuple[str, str | None, list[str]]:
        """(status, why, report parts): the report is collected before a clear (N10.FR.01)."""
        status, why = customer.check(req)
        if status != "Accepted":
            return status, why, []
        tokens = {t.transaction_id: t.id_token for t in self.tx.active.values() if t.id_token}
        parts = customer.to_parts(customer.collect(req, self.cache.entries, tokens)) if req.report else []
        if req.clear and req.id_token is not None and self.cache.remove(req.id_token.get("idToken", "")):
            self.queue.put_state("authcache", self.cache.to_json())
        return status, None, parts

    async def send_customer_information(self, request_id: int, parts: list[str]) -> None:
        for payload in customer.notifications(parts, request_id, utc_now()):
            try:
                await self.call_csms("NotifyCustomerInformation", payload)
            except (ConnectionError, TimeoutError, OCPPError) as e:
                log.warning("NotifyCustomerInformation %d: %s", request_id, e)
                return

    async def call_csms(self, action: str, payload: dict[str, Any]) -> Any:
        """Send one CALL now (not queued); raises when offline, on timeout or CALLERROR."""
        link = self.link
        if link is None or not self.online:
            raise ConnectionError("not connected to the CSMS")
        self.boot.message_sent(time.monotonic())
        return await link.call(make_call(action, payload), suppress=False)
    # --- reset (B11/B12; decisions in reset.py) -------------------------------------------------
    def end_for_reset(self, cid: int) -> None:
        self.next_sample.pop(cid, None)
        # session_id: the session (EV still plugged in) starts no second transaction (txpoints.py)
        self._emit(cid, self.tx.ended(cid, "ImmediateReset", utc_now(), offline=not self.online,
                                      meter=self._tx_meter(cid, "Transaction.End", "TxEndedMeasurands"),
                                      charging_state="EVConnected", session_id=self.tx.session_of(cid)))

    async def stop_for_reset(self, cid: int) -> None:
        await self._stop(cid, "ImmediateReset")

    def request_restart(self) -> None:
        self.restart_requested.set()

    # --- SetNetworkProfile (B09), local list (D01-D03), UnlockConnector (F05) --------------------
    def _operations_variables(self) -> list[Variable]:
        from .devicemodel import RO
        from .devicemodel import Variable as V

        slots = tuple(str(s) for s in self.network.configured())
        return [
            V("OCPPCommCtrlr", "NetworkConfigurationPriority", "0", "SequenceList", values_list=slots),
            V("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3", "integer", min_limit=1, max_limit=100),
            V("OCPPCommCtrlr", "ActiveNetworkProfile", "0", "integer", RO, persistent=False),
            V("OCPPCommCtrlr", "FileTransferProtocols", "HTTP,HTTPS,FTP,FTPS", "MemberList", RO,
              values_list=("HTTP", "HTTPS", "FTP", "FTPS")),
            V("LocalAuthListCtrlr", "Enabled", "true", "boolean"),
            V("LocalAuthListCtrlr", "Available", "true", "boolean", RO),
            V("LocalAuthListCtrlr", "Entries", "0", "integer", RO, persistent=False, max_limit=LOCAL_LIST_MAX),
            V("LocalAuthListCtrlr", "ItemsPerMessage", str(LOCAL_LIST_MAX), "integer", RO),
            V("LocalAuthListCtrlr", "BytesPerMessage", "65000", "integer", RO),
        ]

    def set_network_profile(self, slot: int, data: dict[str, Any]) -> tuple[str, str | None]:
        why = check_network_profile(slot, data, active_slot=self.active_slot,
                                    current_security_profile=self.security.floor)
        if why:
            log.info("SetNetworkProfile slot %d rejected: %s", slot, why)
            return "Rejected", "InvalidNetworkConf"
        self.network.store(slot, data)
        self.queue.put_state(NETWORK_KEY, self.network.to_json())
        for v in self.dm.variables():  # the new slot may now be named in the priority list
            if v.component == "OCPPCommCtrlr" and v.name == "NetworkConfigurationPriority":
                v.values_list = tuple(str(n) for n in self.network.configured())
        log.info("network profile stored in slot %d: %s (security profile %s)", slot, data.get("ocppCsmsUrl"),
                 data.get("securityProfile"))
        return "Accepted", None

    def _network_order(self) -> list[int]:
        return Selector.order(self.dm.get("OCPPCommCtrlr", "NetworkConfigurationPriority"), self.network)

    def _network_target(self) -> Target:
        slot = self.network_selector.current(self._network_order())
        if slot != self.active_slot:
            log.info("connecting with network profile slot %d", slot)
            self.boot.accepted_content = None  # another CSMS (or the same through another path): boot again
        self.active_slot = slot
        self.dm.set_local("OCPPCommCtrlr", "ActiveNetworkProfile", str(slot))
        return network_target(slot, self.network, station_id=self.cfg.station_id, default_url=self.cfg.url,
                              default_profile=self.cfg.security_profile,
                              default_timeout_s=self.cfg.message_timeout_s)

    def _network_attempt_failed(self) -> None:
        order = self._network_order()
        if self.network_selector.failed(self.dm.get_int("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"), order):
            log.warning("network profile slot %d failed %s time(s): falling back to slot %d", self.active_slot,
                        self.dm.get("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"),
                        self.network_selector.current(order))

    async def read_connection_timeout(self) -> None:
        """EVConnectionTimeOut mirrors evse's ConnectionTimeoutS (evse keeps it across restarts)."""
        self._mirror_connection_timeout(await self.bridge.connection_timeout())

    async def push_connection_timeout(self, timeout_s: float) -> None:
        self._mirror_connection_timeout(await self.bridge.set_connection_timeout(timeout_s))

    def _mirror_connection_timeout(self, timeout_s: float | None) -> None:
        if timeout_s is not None:
            self.dm.set_local("TxCtrlr", "EVConnectionTimeOut", str(round(timeout_s)))

    async def push_local_list_enabled(self) -> None:
        try:
            await self.bridge.set_local_list_enabled(self.dm.get_bool("LocalAuthListCtrlr", "Enabled"))
            props = await self.bridge.local_list()
            self.dm.set_local("LocalAuthListCtrlr", "Entries", str(props.get("CsmsListSize", 0)))
        except (DBusError, TimeoutError) as e:
            log.info("auth service not reachable for the local list: %s", e)

    async def send_local_list(self, version: int, update_type: str, entries: list[dict[str, Any]]) -> str:
        if len(entries) > LOCAL_LIST_MAX:
            return "Failed"
        try:
            status, why = await self.bridge.update_local_list(version, update_type == "Full", entries)
            props = await self.bridge.local_list()
            self.dm.set_local("LocalAuthListCtrlr", "Entries", str(props.get("CsmsListSize", 0)))
        except (DBusError, TimeoutError) as e:
            log.warning("SendLocalList %d: auth service: %s", version, e)
            return "Failed"
        log.info("SendLocalList %s %d: %s%s", update_type, version, status, f" ({why})" if why else "")
        return status

    async def local_list_version(self) -> int:
        return await self.bridge.local_list_version()

    # --- reservations (H01-H04): evse holds them, persisted; we translate ------------------------
    async def reserve_now(self, reservation_id: int, expiry: str, id_token: dict[str, Any], evse_id: int | None,
                          group_id_token: dict[str, Any] | None, connector_type: str | None = None) -> str:
        if not self.dm.get_bool("ReservationCtrlr", "Enabled"):
            return "Rejected"
        if not reservations.connector_type_matches(connector_type, CONNECTOR_TYPE):
            # Every connector of this station is the same type (devicemodel.CONNECTOR_TYPE).
            log.info("ReserveNow %d for connectorType %s: Rejected (the connectors are %s)", reservation_id,
                     connector_type, CONNECTOR_TYPE)
            return "Rejected"
        group = (group_id_token or {}).get("idToken", "")
        if evse_id is None or evse_id == 0:   # NonEvseSpecific (H01.FR.04): evse keeps a connector for it
            status = await self.bridge.place_station_reservation(reservation_id, id_token.get("idToken", ""), group,
                                                                 expiry)
            log.info("ReserveNow %d (unspecified EVSE) for %s until %s: %s", reservation_id,
                     id_token.get("idToken"), expiry, status)
            self._reservation_placed(reservation_id, status)
            return status
        cids = sorted(c for c, (e, _k) in self.evses.items() if e == evse_id)
        if not cids:
            return "Rejected"
        status = await self.bridge.place_reservation(cids[0], reservation_id, id_token.get("idToken", ""), group,
                                                     expiry)
        log.info("ReserveNow %d on EVSE %d for %s until %s: %s", reservation_id, evse_id, id_token.get("idToken"),
                 expiry, status, extra=fields(connector=cids[0]))
        self._reservation_placed(reservation_id, status)
        return status

    def _reservation_placed(self, reservation_id: int, status: str) -> None:
        if status == "Accepted" and reservation_id not in self.open_reservations:
            self.open_reservations.add(reservation_id)
            self.queue.put_state(RESERVATIONS_OPEN_KEY, sorted(self.open_reservations))

    def _reservation_ended(self, reservation_id: int, reason: str) -> None:
        """A reservation is over (evse's ReservationEnded, or found ended after a restart): an expiry is
        reported, once, in the same commit that forgets it."""
        was_open = reservation_id in self.open_reservations
        self.open_reservations.discard(reservation_id)
        opened = {RESERVATIONS_OPEN_KEY: sorted(self.open_reservations)}
        if reason == "Expired" and reservation_id and reservation_id not in self._reported_reservations:
            self._reported_reservations = (self._reported_reservations + [reservation_id])[-64:]
            self._reservation_status(reservation_id, "Expired", more_state=opened)
        elif was_open:
            self.queue.put_state(RESERVATIONS_OPEN_KEY, opened[RESERVATIONS_OPEN_KEY])

    async def _catch_up_reservations(self) -> None:
        """After a restart (ours or evse's): reservations we placed that evse no longer holds ended while
        we were away; evse's EndedReservations says how (an expiry is reported now, H04)."""
        station = await self.bridge.station_reservations()   # also refreshes bridge.station_tokens
        if station is None or not self.open_reservations or len(self.connector_props) != len(self.evses):
            return
        active, ended = station
        active |= {int(p.get("ReservationId") or 0) for p in self.connector_props.values()}
        how = {rid: reason for rid, reason, _at in ended}
        for rid in sorted(self.open_reservations - active):
            log.info("reservation %d ended while we were away: %s", rid, how.get(rid, "unknown"))
            self._reservation_ended(rid, how.get(rid, ""))

    def on_station_reservation_event(self, event: str, detail: dict[str, Any]) -> None:
        """evse's reservations of an unspecified connector: their expiry is reported like a connector's (H04)."""
        if event == "ReservationEnded":
            self._reservation_ended(int(detail.get("reservation_id", 0)), str(detail.get("reason", "")))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self.bridge.cancel_reservation_anywhere(list(self.evses), reservation_id)

    def _reservation_status(self, reservation_id: int, status: str, more_state: dict[str, Any] | None = None) -> None:
        """ReservationStatusUpdate (H04) through the durable queue, like SecurityEventNotification: an
        expiry while the CSMS is unreachable, or just before a restart, is reported once it is back."""
        if not reservation_id:
            return
        self.queue.enqueue("ReservationStatusUpdate", {"reservationId": reservation_id,
                                                       "reservationUpdateStatus": status}, more_state=more_state)
        log.info("ReservationStatusUpdate %d %s queued", reservation_id, status)
        self._wake_sender.set()
        self.publish()

    async def unlock_connector(self, evse_id: int, connector_id: int) -> str:
        cid = next((c for c, (e, k) in self.evses.items() if e == evse_id and k == connector_id), None)
        if cid is None:
            return "UnknownConnector"
        try:
            status = await self.bridge.unlock(cid)
        except (DBusError, TimeoutError) as e:
            log.warning("connector %d: Unlock failed: %s", cid, e, extra=fields(connector=cid))
            return "UnlockFailed"
        log.info("connector %d: UnlockConnector: %s", cid, status, extra=fields(connector=cid))
        return status

    # --- D-Bus properties ------------------------------------------------------------------------
    def reconnect(self) -> None:
        self._reconnect.set()

    def publish(self) -> None:
        props = {"Connected": self.link is not None, "BootStatus": self.boot.state, "QueueLength": len(self.queue),
                 "LastError": self.last_error,
                 "HeartbeatIntervalS": int(self.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval"))}
        changed = {k: v for k, v in props.items() if self._last_published.get(k) != v}
        self._last_published = props
        if changed:
            self.iface.emit_properties_changed(changed)


async def build(ctx: ServiceContext) -> OcppService:
    cfg = ctx.load_config(OcppConfig)
    if cfg.protocol is Protocol.OCPP16:
        from .v16.service import build16
        return await build16(ctx, cfg)
    svc = OcppService(ctx.bus, cfg, ctx.state_dir)
    ctx.bus.export(names.OCPP_PATH, svc.iface)
    return svc
