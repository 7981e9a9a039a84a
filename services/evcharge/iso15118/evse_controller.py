"""The SECC's EvseController backed by the charger's services over D-Bus.

The SECC core calls this synchronously and must answer within milliseconds, so nothing here
waits for D-Bus: commands (HlcStarted, HlcPowerDelivery, HlcStopped) go into an ordered queue that
one task sends to `org.evcharge.Evse1.Connector`, and answers come from a cache that the task and
property signals keep fresh (authorization status, offered current, meter energy). A request that
needs a fresh answer (authorization) reads the cache and queues a refresh; the EV repeats its
request while the SECC says Ongoing, so the answer arrives on a later round.

DC: the isolation monitor and the power supply are simulated in-process here (the
`org.evcharge.PowerSupply1` service is not written yet); the board's contactor is still the one
that closes, through the evse service's offer, as for AC.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import Subscription, call, get_all, get_property
from ..sim.power_supply import SimPowerSupply
from .config import V2gConfig
from .secc import Limits

log = logging.getLogger("evcharge.iso15118")

AC_NOMINAL_V = 230.0
CABLE_CHECK_S = 0.5


class DbusEvseController:
    def __init__(self, bus: MessageBus, cfg: V2gConfig) -> None:
        self.bus = bus
        self.cfg = cfg
        self.evse_id = cfg.evse_id
        self.dc = cfg.dc
        self.cid = cfg.connector_id
        self.path = names.evse_connector_path(self.cid)
        self._queue: asyncio.Queue[tuple[str, str, list[Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._auth = "Ongoing"
        self._auth_pending = False
        self._max_current_a = 32.0
        self._phases = 3
        self._energy_wh: float | None = None
        self._energy_start: float | None = None
        self._cable_check_at: float | None = None
        self.supply = SimPowerSupply()
        self.evse = Subscription(bus, names.EVSE)
        self.meter = Subscription(bus, names.METER)

    async def start(self) -> None:
        await self.evse.start()
        await self.meter.start()
        await self.meter.properties(names.METER_METER_IFACE, self._on_meter, path_namespace=names.meter_path(self.cid))
        try:
            self._max_current_a = float(await get_property(self.bus, names.EVSE, self.path, names.EVSE_CONNECTOR_IFACE,
                                                           "MaxCurrentA"))
            board = await get_all(self.bus, names.BOARD, names.board_connector_path(self.cid),
                                  names.BOARD_CONNECTOR_IFACE)
            self._phases = int(board.get("Phases", 3))
        except (DBusError, TimeoutError) as e:
            log.warning("connector %d: evse/board not reachable yet (%s); using defaults", self.cid, e)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker:
            # Let queued commands (a final HlcStopped) go out before leaving.
            try:
                await asyncio.wait_for(self._queue.join(), 2.0)
            except TimeoutError:
                pass
            self._worker.cancel()

    def _on_meter(self, _path: str, changed: dict[str, Any]) -> None:
        if "EnergyWh" in changed:
            self._energy_wh = float(changed["EnergyWh"])

    def _send(self, member: str, sig: str = "", *args: Any) -> None:
        self._queue.put_nowait((member, sig, list(args)))

    async def _run(self) -> None:
        while True:
            member, sig, args = await self._queue.get()
            try:
                reply = await call(self.bus, names.EVSE, self.path, names.EVSE_CONNECTOR_IFACE, member, sig, args,
                                   timeout=2.0)
                if member == "HlcAuthorization":
                    self._auth = reply[0]
            except (DBusError, TimeoutError, OSError) as e:
                log.warning("connector %d: %s failed: %s", self.cid, member, e)
                if member == "HlcStarted":
                    self._auth = "Rejected"  # no session to serve: the SECC ends the V2G session
            finally:
                if member == "HlcAuthorization":
                    self._auth_pending = False
                self._queue.task_done()

    # --- EvseController ---------------------------------------------------------------------------
    def hlc_started(self, protocol: str, evcc_id: str, session_id: str) -> None:
        self._auth, self._auth_pending = "Ongoing", False
        self._cable_check_at = None
        self._energy_start = self._energy_wh
        self._send("HlcStarted", "ss", protocol, evcc_id)

    def authorization(self) -> str:
        if self._auth != "Accepted" and not self._auth_pending:
            self._auth_pending = True
            self._send("HlcAuthorization")
        return self._auth

    def limits(self) -> Limits:
        return Limits(ac_max_current_a=self._max_current_a, ac_nominal_voltage_v=AC_NOMINAL_V, ac_phases=self._phases)

    def cable_check(self) -> str:
        now = time.monotonic()
        if self._cable_check_at is None:
            self._cable_check_at = now
            self.supply.set(450.0, 0.0, now)
        if now - self._cable_check_at < CABLE_CHECK_S:
            return "Ongoing"
        self.supply.off(now)
        return "Valid"

    def dc_setpoint(self, voltage_v: float, current_a: float) -> None:
        self.supply.set(voltage_v, current_a, time.monotonic())

    def dc_present(self) -> tuple[float, float]:
        return self.supply.present(time.monotonic())

    def power_delivery(self, start: bool, current_a: float) -> None:
        now = time.monotonic()
        if self.dc:
            self.supply.connect(start, now)
            if not start:
                self.supply.off(now)
            current_a = min(self._max_current_a, 32.0)  # the AC-side contactor of this board
        current_a = max(6.0, min(current_a, self._max_current_a)) if start else 0.0
        self._send("HlcPowerDelivery", "bd", start, current_a)

    def meter_wh(self) -> float | None:
        if self._energy_wh is None or self._energy_start is None:
            return None
        return self._energy_wh - self._energy_start

    def hlc_stopped(self, reason: str) -> None:
        self.supply.off(time.monotonic())
        self._send("HlcStopped", "s", reason)
