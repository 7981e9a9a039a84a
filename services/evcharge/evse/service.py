"""Evse service adapter: the one place that maps session events to D-Bus calls.

Inputs (board properties, auth tokens, energy allocations, meter energy) are fed to the pure
`ConnectorSessions`; its desired outputs (offer, lock, demand) are pushed by a reconciler per
connector that retries until the other service has taken them, so a restart on either side
converges without special cases.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dbus_fast import DBusError, Message
from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import Subscription, call, get_all, get_property
from ..common.log import fields
from ..common.persist import append_line_durable, read_json, write_json_atomic
from ..common.service import ServiceContext
from .config import CONNECTION_TIMEOUT_MAX_S, CONNECTION_TIMEOUT_MIN_S, EvseConfig, EvseConnector
from .interfaces import ConnectorInterface, EvseInterface
from .session import SLAC_RETRY_EF_S, BoardView, ConnectorSessions, ReserveStatus, StationReservations, TokenOutcome

log = logging.getLogger("evcharge.evse")

RETRY_S = 0.5
SLAC_ACTIONS = {
    "retry": "retrying: state F for 4 s (E/F wake-up), then 5 % PWM again",
    "basic": "falling back to basic charging: X1 for 3 s, then nominal PWM (IEC 61851-1)",
    "stop": "stopping the session: contactor open, X1 until unplug",
}


@dataclass
class ConnectorRuntime:
    svc: "EvseService"
    cfg: EvseConnector
    core: ConnectorSessions
    iface: ConnectorInterface = field(init=False)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sent_offer: float | None = None
    sent_lock: bool | None = None
    sent_demand: float | None = None
    sent_digital: bool | None = None
    sent_ef_pulses: int = 0
    board_seq: int = 0  # board change signals handled so far
    _last_props: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.iface = ConnectorInterface(self)

    @property
    def cid(self) -> int:
        return self.core.connector_id

    # requests
    def token(self, token: str, token_type: str, group_token: str = "") -> TokenOutcome:
        wall = datetime.now(UTC)
        self.svc.expire_station_reservations(wall)
        self.svc.refresh_station_hold()
        outcome = self.core.present_token(token, token_type, time.monotonic(), group_token=group_token, wall=wall)
        if self.core.station_used:
            self.svc.station_reservations_used(self.core.station_used)
            self.core.station_used = []
        self.sync()
        return outcome

    def reserve(self, reservation_id: int, token: str, group_token: str, expires_at: str) -> ReserveStatus:
        status = self.core.reserve(reservation_id, token, group_token, expires_at, datetime.now(UTC))
        log.info("connector %d: reservation %d for %s until %s: %s", self.cid, reservation_id, token, expires_at,
                 status.value, extra=fields(connector=self.cid))
        self.sync(persist=True)
        return status

    def cancel_reservation(self, reservation_id: int) -> bool:
        ok = self.core.cancel_reservation(reservation_id)
        self.sync(persist=True)
        return ok

    def stop(self, reason: str) -> bool:
        ok = self.core.stop(reason)
        self.sync()
        return ok

    def pause(self, paused: bool) -> bool:
        ok = self.core.pause(paused)
        self.sync()
        return ok

    def hlc(self, member: str, *args: Any) -> Any:
        """HlcStarted / HlcAuthorization / HlcPowerDelivery / HlcStopped from the V2G service."""
        result = getattr(self.core, member)(*args)
        self.sync()
        return result

    async def unlock(self) -> str:
        """A remote unlock request: only without an authorized, running session (OCPP F05.FR.02)."""
        s = self.core.session
        if s is not None and s.authorized and not s.stopped:
            return "OngoingAuthorizedTransaction"
        if not self.svc.board_online:
            log.warning("connector %d: unlock requested while the board is offline", self.cid)
            return "UnlockFailed"
        path = names.board_connector_path(self.cid)
        try:
            await call(self.svc.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, "SetLock", "b", [False])
            self.sent_lock = False
            locked = await get_property(self.svc.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, "Locked")
        except (DBusError, TimeoutError) as e:
            log.warning("connector %d: unlock failed: %s", self.cid, e)
            return "UnlockFailed"
        log.info("connector %d: remote unlock: %s", self.cid, "still locked" if locked else "unlocked")
        return "UnlockFailed" if locked else "Unlocked"

    def set_available(self, available: bool) -> None:
        self.core.set_available(available, time.monotonic())
        log.info("connector %d: %s", self.cid, "Operative" if available else "Inoperative",
                 extra=fields(connector=self.cid))
        self.sync(persist=True)

    def sync(self, persist: bool = False) -> None:
        """Persist what changed, then publish it, and wake the reconciler.

        On disk before on the bus: a crash between the two must not bring back what was already
        announced (a reservation's expiry reported again by the restarted service, a session resumed
        after its SessionEnded); the restarted service then simply announces nothing twice."""
        events = self.core.drain_events()
        for kind, data in events:   # the ended session in the history before it leaves the connector's file
            if kind == "SessionEnded":
                append_line_durable(self.svc.history_file, json.dumps(data["session"], sort_keys=True))
        if persist or events:
            write_json_atomic(self.svc.state_dir / f"connector-{self.cid}.json", self.core.to_json())
        for kind, data in events:
            self._publish_event(kind, data)
        self.svc.refresh_station_hold(publish=True, skip=self)
        self.publish_props()

    def publish_props(self) -> None:
        props = {p: getattr(self.iface, p) for p in (
            "State", "Available", "SessionId", "SessionToken", "SessionStartedAt", "SessionEnergyWh", "StopReason",
            "Paused", "OfferedCurrentA", "AllocatedCurrentA", "Faults", "HlcProtocol", "ReservationId",
            "ReservationToken", "SessionReservationId")}
        changed = {k: v for k, v in props.items() if self._last_props.get(k) != v}
        if "State" in changed and self._last_props:
            log.info("connector %d: %s -> %s", self.cid, self._last_props["State"], changed["State"],
                     extra=fields(connector=self.cid, session=props["SessionId"]))
        self._last_props = props
        if changed:
            self.iface.emit_properties_changed(changed)
        self.wake.set()

    def _publish_event(self, kind: str, data: dict[str, Any]) -> None:
        f = fields(connector=self.cid, session=data.get("session_id") or data.get("session", {}).get("id"))
        if kind == "SessionStarted":
            log.info("connector %d: session %s started (EV plugged in)", self.cid, data["session_id"], extra=f)
            self.iface.SessionStarted(data["session_id"], data["started_at"])
        elif kind == "SessionEnded":
            s = data["session"]
            log.info("connector %d: session %s ended: %s, %.1f Wh", self.cid, s["id"], s["stop_reason"],
                     s["energy_wh"], extra=f)
            self.iface.SessionEnded(s["id"], s["stop_reason"], float(s["energy_wh"]), s["token"])
        elif data["event"] == "HlcFallback":
            log.warning("connector %d: V2G session failed (%s); falling back to basic charging: X1 for 3 s, "
                        "then nominal PWM (IEC 61851-1)", self.cid, data["detail"]["reason"], extra=f)
            self.iface.SessionEvent(data["session_id"], data["event"], data["detail"])
        elif data["event"] == "SlacFailed":
            d = data["detail"]
            log.warning("connector %d: SLAC failed (attempt %d): %s; %s", self.cid, d["attempt"], d["reason"],
                        SLAC_ACTIONS[d["action"]], extra=f)
            self.iface.SessionEvent(data["session_id"], data["event"], d)
        else:
            log.info("connector %d: %s %s", self.cid, data["event"], json.dumps(data["detail"], sort_keys=True),
                     extra=f)
            self.iface.SessionEvent(data["session_id"], data["event"], data["detail"])

    async def reconcile(self) -> None:
        """Push offer, lock and demand until the board and energy services have them."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self._push()
            except (DBusError, OSError, TimeoutError) as e:
                log.debug("connector %d: push failed (%s); retrying", self.cid, e)
                await asyncio.sleep(RETRY_S)
                self.wake.set()

    async def _push(self) -> None:
        svc = self.svc
        core = self.core
        demand = core.demand_a
        if demand != self.sent_demand:
            if svc.energy_online:
                (alloc,) = await call(svc.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY,
                                      "RequestCurrent", "ud", [self.cid, demand])
                self.sent_demand = demand
                core.set_allocation(alloc)
            else:
                # Without an energy service the connector's own maximum is the only limit.
                self.sent_demand = demand
                core.set_allocation(demand)
            self.sync()
        if not svc.board_online:
            return
        path = names.board_connector_path(self.cid)
        offer, lock = core.offer_a, core.lock
        digital = core.digital_communication
        if digital != self.sent_digital and (digital or self.sent_digital is not None or core.hlc_enabled):
            await call(svc.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, "SetDigitalCommunication", "b",
                       [digital])
            self.sent_digital = digital
        if core.ef_pulses != self.sent_ef_pulses:
            try:
                await call(svc.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, "PulseStateF", "d",
                           [SLAC_RETRY_EF_S])
            except DBusError as e:
                if e.type != "org.evcharge.Error.InvalidState":
                    raise
                log.warning("connector %d: E/F wake-up refused: %s", self.cid, e.text, extra=fields(connector=self.cid))
            self.sent_ef_pulses = core.ef_pulses  # one-shot: a late or refused wake-up is not repeated
        # Lock before offering power; withdraw power before releasing the lock.
        if lock and lock != self.sent_lock:
            await call(svc.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, "SetLock", "b", [True])
            self.sent_lock = True
        if offer != self.sent_offer:
            await call(svc.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", [offer])
            self.sent_offer = offer
        if not lock and lock != self.sent_lock:
            try:
                await call(svc.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, "SetLock", "b", [False])
                self.sent_lock = False
            except DBusError as e:
                if e.type != "org.evcharge.Error.InvalidState":
                    raise
                # Still energised: the board unlocks only once the contactor is open; we retry on its next change.


class EvseService:
    def __init__(self, bus: MessageBus, cfg: EvseConfig, state_dir: Path) -> None:
        self.bus = bus
        self.cfg = cfg
        self.state_dir = state_dir
        self.history_file = state_dir / "sessions.jsonl"
        self.settings_file = state_dir / "settings.json"
        self.connection_timeout_s = self._saved_connection_timeout(cfg.connection_timeout_s)
        self.connectors: dict[int, ConnectorRuntime] = {}
        for c in cfg.connectors:
            core = ConnectorSessions(connector_id=c.id, max_current_a=c.max_current_a,
                                     connection_timeout_s=self.connection_timeout_s, hlc_enabled=c.hlc,
                                     slac_retries=c.slac_retries, slac_fallback=c.slac_fallback,
                                     v2g_after_match_s=c.v2g_after_match_s,
                                     hlc_error_fallback=c.hlc_error_fallback)
            saved = read_json(state_dir / f"connector-{c.id}.json")
            if saved:
                core.load_json(saved)
                if core.session:
                    log.info("connector %d: resuming session %s", c.id, core.session.id,
                             extra=fields(connector=c.id, session=core.session.id))
            self.connectors[c.id] = ConnectorRuntime(self, c, core)
        # Reservations of an unspecified connector (OCPP ReserveNow without evseId), kept across restarts.
        self.station_file = state_dir / "station-reservations.json"
        self.station = StationReservations()
        self.station.load_json(read_json(self.station_file))
        self.refresh_station_hold()
        self.iface = EvseInterface(self)
        self.board = Subscription(bus, names.BOARD)
        self.auth = Subscription(bus, names.AUTH)
        self.energy = Subscription(bus, names.ENERGY)
        self.meter = Subscription(bus, names.METER)
        self.slac = Subscription(bus, names.SLAC)
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeat_failing = False

    def _saved_connection_timeout(self, default: float) -> float:
        # Set over D-Bus (OCPP's EVConnectionTimeOut) it outlives a restart; evse.yaml gives the default.
        saved = (read_json(self.settings_file) or {}).get("connection_timeout_s")
        if saved is None:
            return default
        if not isinstance(saved, (int, float)) or isinstance(saved, bool) \
                or not CONNECTION_TIMEOUT_MIN_S <= saved <= CONNECTION_TIMEOUT_MAX_S:
            log.warning("%s: connection_timeout_s %r is out of range: using %g s from the configuration",
                        self.settings_file, saved, default)
            return default
        return float(saved)

    def set_connection_timeout(self, timeout_s: float) -> None:
        """How long a token presented before the cable is held (the caller checked the range)."""
        self.connection_timeout_s = timeout_s
        for rt in self.connectors.values():
            rt.core.connection_timeout_s = timeout_s
        write_json_atomic(self.settings_file, {"connection_timeout_s": timeout_s})
        log.info("connection timeout set to %g s", timeout_s)
        self.iface.emit_properties_changed({"ConnectionTimeoutS": timeout_s})

    # --- reservations of an unspecified connector --------------------------------------------------
    def refresh_station_hold(self, publish: bool = False, skip: ConnectorRuntime | None = None) -> None:
        """Tell each connector the station reservations and whether it is held for them; with
        `publish`, connectors whose hold changed publish their properties (their State)."""
        cores = [rt.core for rt in self.connectors.values()]
        held = self.station.held(cores)
        items = tuple(self.station.items)
        for rt in self.connectors.values():
            was = rt.core.station_held
            rt.core.station_reservations, rt.core.station_held = items, rt.cid in held
            if publish and rt is not skip and was != rt.core.station_held:
                rt.publish_props()

    def _station_changed(self, event: str, detail: dict[str, Any]) -> None:
        """Persist, then announce, then show the new holds (the order of ConnectorRuntime.sync)."""
        write_json_atomic(self.station_file, self.station.to_json())
        if event:
            log.info("station reservation: %s %s", event, json.dumps(detail, sort_keys=True))
            self.iface.ReservationEvent(event, detail)
        self.iface.emit_properties_changed({"Reservations": self.iface.reservations_value()})
        self.refresh_station_hold(publish=True)

    def reserve_station(self, reservation_id: int, token: str, group_token: str, expires_at: str) -> ReserveStatus:
        wall = datetime.now(UTC)
        self.expire_station_reservations(wall)
        replaced = reservation_id in self.station.ids()
        status = self.station.reserve(reservation_id, token, group_token, expires_at, wall,
                                      [rt.core for rt in self.connectors.values()])
        log.info("station: reservation %d (any connector) for %s until %s: %s", reservation_id, token, expires_at,
                 status.value)
        if status is ReserveStatus.ACCEPTED:
            self._station_changed("Reserved", {"reservation_id": reservation_id, "token": token,
                                               "group_token": group_token, "expires_at": expires_at,
                                               "replaced": replaced})
        return status

    def cancel_station_reservation(self, reservation_id: int) -> bool:
        r = self.station.cancel(reservation_id)
        if r is None:
            return False
        self._station_changed("ReservationEnded", {"reservation_id": r.id, "reason": "Cancelled", "token": r.token})
        return True

    def expire_station_reservations(self, wall: datetime) -> None:
        for r in self.station.expire(wall):
            self._station_changed("ReservationEnded", {"reservation_id": r.id, "reason": "Expired",
                                                       "token": r.token})

    def station_reservations_used(self, ids: list[int]) -> None:
        """A token used them on a connector (whose SessionEvent ReservationEnded Used says so)."""
        if self.station.used(ids):
            self._station_changed("", {})

    @property
    def board_online(self) -> bool:
        return self.board.owner is not None

    @property
    def energy_online(self) -> bool:
        return self.energy.owner is not None

    def export(self) -> None:
        self.bus.export(names.EVSE_PATH, self.iface)
        for cid, rt in self.connectors.items():
            self.bus.export(names.evse_connector_path(cid), rt.iface)

    def sessions(self, limit: int) -> list[dict[str, Any]]:
        running = [vars(rt.core.session) | {"energy_wh": rt.core.session.energy_wh}
                   for rt in self.connectors.values() if rt.core.session]
        ended: list[dict[str, Any]] = []
        if self.history_file.exists():
            lines = self.history_file.read_text(encoding="utf-8").splitlines()
            ended = [json.loads(line) for line in reversed(lines[-self.cfg.history_size:]) if line.strip()]
        out = running + ended
        return out[:limit] if limit else out

    # --- start-up ---------------------------------------------------------------------------
    async def start(self) -> None:
        for sub in (self.board, self.auth, self.energy, self.meter, self.slac):
            await sub.start()
        await self.slac.signal(names.SLAC, "Result", self._on_slac_result, path=names.SLAC_PATH)
        await self.board.properties(names.BOARD_CONNECTOR_IFACE, self._on_board_props, path_namespace=names.BOARD_PATH)
        self.board.on_owner_changed.append(lambda _o, _n: self._spawn(self._board_changed()))
        await self.auth.signal(names.AUTH, "TokenPresented", self._on_token, path=names.AUTH_PATH)
        await self.energy.signal(names.ENERGY, "AllocationChanged", self._on_allocation, path=names.ENERGY_PATH)
        self.energy.on_owner_changed.append(lambda _o, _n: self._spawn(self._energy_changed()))
        await self.meter.properties(names.METER_METER_IFACE, self._on_meter_props, path_namespace=names.METER_PATH)
        self.meter.on_owner_changed.append(lambda _o, _n: self._spawn(self._meter_changed()))
        await self._heartbeat_once()
        await self._board_changed()
        await self._meter_changed()
        for rt in self.connectors.values():
            rt.sync()
            self._tasks.append(asyncio.create_task(rt.reconcile()))
        self._tasks.append(asyncio.create_task(self._heartbeat_loop()))
        self._tasks.append(asyncio.create_task(self._tick_loop()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for rt in self.connectors.values():
            write_json_atomic(self.state_dir / f"connector-{rt.cid}.json", rt.core.to_json())

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    # --- board ------------------------------------------------------------------------------
    async def _heartbeat_once(self) -> None:
        try:
            await call(self.bus, names.BOARD, names.BOARD_PATH, names.BOARD, "Heartbeat", timeout=1.0)
            if self._heartbeat_failing:
                log.info("board heartbeat restored")
            self._heartbeat_failing = False
        except (DBusError, TimeoutError) as e:
            if not self._heartbeat_failing:
                log.warning("board heartbeat failed: %s", e)
            self._heartbeat_failing = True

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat_interval_s)
            await self._heartbeat_once()

    async def _board_changed(self) -> None:
        online = self.board_online
        for rt in self.connectors.values():
            rt.sent_offer = rt.sent_lock = rt.sent_digital = None  # a restarted board knows nothing of what we sent
            if not online:
                rt.core.update_board(BoardView(cp_state=rt.core.board.cp_state, online=False), time.monotonic())
                rt.sync()
                continue
            try:
                # A change signal handled while our GetAll reply waited to be resumed is newer
                # than the reply: read again rather than apply a stale snapshot over it.
                for _ in range(5):
                    seq = rt.board_seq
                    props = await get_all(self.bus, names.BOARD, names.board_connector_path(rt.cid),
                                          names.BOARD_CONNECTOR_IFACE)
                    if seq == rt.board_seq:
                        self._apply_board(rt, props)
                        break
            except DBusError as e:
                log.error("connector %d: the board does not know it: %s", rt.cid, e, extra=fields(connector=rt.cid))

    def _on_board_props(self, path: str, changed: dict[str, Any]) -> None:
        rt = self.connectors.get(names.connector_id_from_path(path))
        if rt is not None:
            rt.board_seq += 1
            self._apply_board(rt, changed)

    def _apply_board(self, rt: ConnectorRuntime, changed: dict[str, Any]) -> None:
        b = rt.core.board
        view = BoardView(cp_state=changed.get("CpState", b.cp_state),
                         contactor_closed=changed.get("ContactorClosed", b.contactor_closed),
                         faults=tuple(changed.get("Faults", b.faults)), online=True)
        rt.core.update_board(view, time.monotonic())
        rt.sync()

    # --- auth -------------------------------------------------------------------------------
    def _on_token(self, msg: Message) -> None:
        token, token_type, source, connector_id = msg.body
        self._spawn(self._handle_token(token, token_type, source, connector_id))

    async def _handle_token(self, token: str, token_type: str, source: str, connector_id: int) -> None:
        rt = self._connector_for_token(token, connector_id)
        if rt is None:
            log.info("token from %s ignored: no connector can use it", source)
            return
        s = rt.core.session
        # The token that started a session stops it without asking anyone (OCPP behaviour).
        if not (s and s.authorized and not s.stopped and s.token.casefold() == token.casefold()):
            try:
                ((status, info),) = await call(self.bus, names.AUTH, names.AUTH_PATH, names.AUTH, "Validate",
                                               "ss", [token, token_type])
            except (DBusError, TimeoutError) as e:
                log.warning("connector %d: cannot validate token: %s", rt.cid, e, extra=fields(connector=rt.cid))
                return
            if status != "Accepted":
                rt.iface.SessionEvent(s.id if s else "", "TokenRejected", {"status": status, "info": info})
                log.info("connector %d: token rejected (%s)", rt.cid, status, extra=fields(connector=rt.cid))
                return
        outcome = rt.token(token, token_type)
        log.info("connector %d: token from %s: %s", rt.cid, source, outcome.value, extra=fields(connector=rt.cid))

    def _connector_for_token(self, token: str, connector_id: int) -> ConnectorRuntime | None:
        if connector_id:
            return self.connectors.get(connector_id)
        rts = list(self.connectors.values())
        for rt in rts:  # the session this token started
            s = rt.core.session
            if s and s.authorized and not s.stopped and s.token.casefold() == token.casefold():
                return rt
        usable = [rt for rt in rts if rt.core.available and not rt.core.blocking_faults]
        for rt in usable:  # the connector reserved for this token (its EV plugged or not)
            r, s = rt.core.reservation, rt.core.session
            if r and r.matches(token, "") and (s is None or not s.authorized):
                return rt
        free = [rt for rt in usable if rt.core.reservation is None]
        for rt in free:  # a plugged EV waiting for authorization
            s = rt.core.session
            if s and not s.authorized:
                return rt
        for rt in free:  # else hold it for the next plug-in
            if rt.core.session is None:
                return rt
        for rt in usable:  # only reserved connectors: evse says why the token cannot start there
            s = rt.core.session
            if s is None or not s.authorized:
                return rt
        return None

    # --- SLAC (ISO 15118-3) ------------------------------------------------------------------
    def _on_slac_result(self, msg: Message) -> None:
        result, reason = msg.body
        self._spawn(self._handle_slac_result(result, reason))

    async def _handle_slac_result(self, result: str, reason: str) -> None:
        try:
            cid = await get_property(self.bus, names.SLAC, names.SLAC_PATH, names.SLAC, "ConnectorId")
        except (DBusError, TimeoutError) as e:
            log.warning("SLAC result %s ignored: cannot read its connector (%s)", result, e)
            return
        rt = self.connectors.get(cid)
        if rt is None or not rt.core.hlc_enabled:
            log.warning("SLAC result %s for connector %d ignored: no HLC connector", result, cid)
            return
        rt.core.slac_result(result, reason, time.monotonic())
        rt.sync()

    # --- energy -----------------------------------------------------------------------------
    def _on_allocation(self, msg: Message) -> None:
        cid, amps = msg.body
        rt = self.connectors.get(cid)
        if rt is not None:
            rt.core.set_allocation(amps)
            rt.sync()

    async def _energy_changed(self) -> None:
        for rt in self.connectors.values():
            rt.sent_demand = None  # re-send: a restarted energy service must learn our demands
            rt.wake.set()

    # --- meter ------------------------------------------------------------------------------
    def _on_meter_props(self, path: str, changed: dict[str, Any]) -> None:
        if "EnergyWh" not in changed:
            return
        mid = names.connector_id_from_path(path)
        for rt in self.connectors.values():
            if rt.cfg.meter == mid:
                rt.core.update_meter(changed["EnergyWh"])
                rt.sync()

    async def _meter_changed(self) -> None:
        if self.meter.owner is None:
            return
        for rt in self.connectors.values():
            try:
                wh = await get_property(self.bus, names.METER, names.meter_path(rt.cfg.meter),
                                        names.METER_METER_IFACE, "EnergyWh")
            except DBusError:
                continue
            rt.core.update_meter(wh)
            rt.sync()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.expire_station_reservations(datetime.now(UTC))
            for rt in self.connectors.values():
                rt.core.tick(time.monotonic(), datetime.now(UTC))
                rt.sync()


async def build(ctx: ServiceContext) -> EvseService:
    cfg = ctx.load_config(EvseConfig)
    svc = EvseService(ctx.bus, cfg, ctx.state_dir)
    svc.export()
    return svc
