"""The SECC's EvseController backed by the charger's services over D-Bus.

The SECC core calls this synchronously and must answer within milliseconds, so nothing here
waits for D-Bus: commands (HlcStarted, HlcPowerDelivery, HlcStopped) go into an ordered queue that
one task sends to `org.evcharge.Evse1.Connector`, and answers come from a cache that the task and
property signals keep fresh (authorization status, offered current, meter energy). A request that
needs a fresh answer (authorization) reads the cache and queues a refresh; the EV repeats its
request while the SECC says Ongoing, so the answer arrives on a later round.

DC: the power supply and its isolation monitor are `org.evcharge.PowerSupply1` (and its
`.Isolation` part): CableCheck starts an isolation measurement and reports its status,
PreCharge / CurrentDemand send the EV's targets as setpoints (only the newest queued setpoint is
sent: a slow bus never replays old ones) and answer with the present values the supply publishes;
PowerDelivery(Stop), WeldingDetection and any end of the session switch the output off. The
board's contactor is the DC output contactor: it closes through the evse service's offer, as for AC.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import Subscription, call, get_all, get_property
from .config import V2gConfig
from .secc import Limits

log = logging.getLogger("evcharge.iso15118")

AC_NOMINAL_V = 230.0
ISOLATION_TO_CABLE_CHECK = {"Valid": "Valid", "Warning": "Valid", "Fault": "Fault"}  # else Ongoing


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
        self._cable_check_started = False
        self.evse = Subscription(bus, names.EVSE)
        self.meter = Subscription(bus, names.METER)
        # DC: org.evcharge.PowerSupply1, commands in their own queue (a SetOutput replaces a queued one)
        self.power = Subscription(bus, names.POWER_SUPPLY)
        self._ps_queue: list[tuple[str, str, str, list[Any]]] = []
        self._ps_wake = asyncio.Event()
        self._ps_worker: asyncio.Task[None] | None = None
        self._ps_busy = False
        self._ps: dict[str, Any] = {"PresentVoltageV": 0.0, "PresentCurrentA": 0.0, "Status": "Idle",
                                    "MaxVoltageV": 500.0, "MaxCurrentA": 125.0, "MaxPowerW": 50000.0}

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
        if self.dc:
            await self.power.start()
            for iface in (names.POWER_SUPPLY, names.POWER_SUPPLY_ISOLATION_IFACE):
                await self.power.properties(iface, self._on_power, path_namespace=names.POWER_SUPPLY_PATH)
                try:
                    self._on_power(names.POWER_SUPPLY_PATH,
                                   await get_all(self.bus, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH, iface))
                except (DBusError, TimeoutError) as e:
                    log.warning("connector %d: DC power supply not reachable yet (%s)", self.cid, e)
            self._ps_worker = asyncio.create_task(self._run_power())

    async def stop(self) -> None:
        if self._worker:
            # Let queued commands (a final HlcStopped) go out before leaving.
            try:
                await asyncio.wait_for(self._queue.join(), 2.0)
            except TimeoutError:
                pass
            self._worker.cancel()
        if self._ps_worker:
            try:
                await asyncio.wait_for(self._ps_idle(), 2.0)
            except TimeoutError:
                pass
            self._ps_worker.cancel()

    async def _ps_idle(self) -> None:
        while self._ps_queue or self._ps_busy:
            await asyncio.sleep(0.01)

    def _on_power(self, _path: str, changed: dict[str, Any]) -> None:
        self._ps.update(changed)

    def _ps_send(self, iface: str, member: str, sig: str = "", *args: Any) -> None:
        if member == "SetOutput" and self._ps_queue and self._ps_queue[-1][1] == "SetOutput":
            self._ps_queue[-1] = (iface, member, sig, list(args))
        else:
            self._ps_queue.append((iface, member, sig, list(args)))
        self._ps_wake.set()

    async def _run_power(self) -> None:
        while True:
            await self._ps_wake.wait()
            self._ps_wake.clear()
            while self._ps_queue:
                iface, member, sig, args = self._ps_queue.pop(0)
                self._ps_busy = True
                try:
                    await call(self.bus, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH, iface, member, sig, args,
                               timeout=2.0)
                except (DBusError, TimeoutError, OSError) as e:
                    log.warning("connector %d: power supply %s failed: %s", self.cid, member, e)
                finally:
                    self._ps_busy = False

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
        self._cable_check_started = False
        self._energy_start = self._energy_wh
        self._send("HlcStarted", "ss", protocol, evcc_id)

    def authorization(self) -> str:
        if self._auth != "Accepted" and not self._auth_pending:
            self._auth_pending = True
            self._send("HlcAuthorization")
        return self._auth

    def limits(self) -> Limits:
        dc: dict[str, float] = {}
        if self.dc:
            v, i, w = self.dc_limits()
            dc = {"dc_max_voltage_v": v, "dc_max_current_a": i, "dc_max_power_w": w}
        return Limits(ac_max_current_a=self._max_current_a, ac_nominal_voltage_v=AC_NOMINAL_V, ac_phases=self._phases,
                      **dc)

    def cable_check(self) -> str:
        if not self._cable_check_started:
            self._cable_check_started = True
            self._ps["Status"] = "Ongoing"  # until the monitor reports on this measurement
            self._ps_send(names.POWER_SUPPLY_ISOLATION_IFACE, "StartCheck", "d", float(self._ps["MaxVoltageV"]))
        status = ISOLATION_TO_CABLE_CHECK.get(str(self._ps["Status"]), "Ongoing")
        if status != "Ongoing":
            self._ps_send(names.POWER_SUPPLY, "Off")
        return status

    def dc_limits(self) -> tuple[float, float, float]:
        return float(self._ps["MaxVoltageV"]), float(self._ps["MaxCurrentA"]), float(self._ps["MaxPowerW"])

    def dc_setpoint(self, voltage_v: float, current_a: float) -> None:
        max_v, max_i, max_w = self.dc_limits()
        v = max(0.0, min(voltage_v, max_v))
        i = max(0.0, min(current_a, max_i, max_w / v if v > 0 else max_i))
        self._ps_send(names.POWER_SUPPLY, "SetOutput", "dd", v, i)

    def dc_present(self) -> tuple[float, float]:
        return float(self._ps["PresentVoltageV"]), float(self._ps["PresentCurrentA"])

    def power_delivery(self, start: bool, current_a: float) -> None:
        if self.dc:
            if not start:
                self._ps_send(names.POWER_SUPPLY, "Off")
            current_a = min(self._max_current_a, 32.0)  # the AC-side contactor of this board
        current_a = max(6.0, min(current_a, self._max_current_a)) if start else 0.0
        self._send("HlcPowerDelivery", "bd", start, current_a)

    def meter_wh(self) -> float | None:
        if self._energy_wh is None or self._energy_start is None:
            return None
        return self._energy_wh - self._energy_start

    def hlc_stopped(self, reason: str) -> None:
        if self.dc:
            self._ps_send(names.POWER_SUPPLY, "Off")
            self._ps_send(names.POWER_SUPPLY_ISOLATION_IFACE, "Reset")
        self._send("HlcStopped", "s", reason)
