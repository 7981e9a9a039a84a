"""The DC power service's adapter: the (simulated) supply and isolation monitor on D-Bus.

The SECC drives it (SetOutput / Off, Isolation.StartCheck) and reads present values from the
properties, which this adapter publishes while they change. The simulated supply delivers
current only while the connector's contactor (the board's, here the DC output contactor) is
closed: behind it sits the simulated EV battery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import Subscription, get_all
from ..common.log import fields
from ..common.service import ServiceContext
from ..sim.power_supply import SimPowerSupply
from .config import PowerConfig
from .imd import IsolationStatus, SimIsolationMonitor
from .interfaces import IsolationInterface, PowerSupplyInterface

log = logging.getLogger("evcharge.power")

SUPPLY_PROPS = ("Enabled", "VoltageSetpointV", "CurrentLimitA", "PresentVoltageV", "PresentCurrentA")
IMD_PROPS = ("Status", "ResistanceOhm", "TestVoltageV")


class PowerService:
    def __init__(self, bus: MessageBus, cfg: PowerConfig) -> None:
        self.bus = bus
        self.cfg = cfg
        self.supply = SimPowerSupply(slew_v_per_s=cfg.sim_slew_v_per_s, slew_a_per_s=cfg.sim_slew_a_per_s,
                                     max_voltage_v=cfg.max_voltage_v, max_current_a=cfg.max_current_a)
        self.imd = SimIsolationMonitor(resistance_ohm=cfg.sim_isolation_ohm, check_s=cfg.sim_check_s,
                                       fault_ohm_per_v=cfg.fault_ohm_per_v, warning_ohm_per_v=cfg.warning_ohm_per_v)
        self.present = (0.0, 0.0)
        self.iface = PowerSupplyInterface(self)
        self.imd_iface = IsolationInterface(self)
        self.board = Subscription(bus, names.BOARD)
        self._published: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fields = fields(connector=cfg.connector_id)
        self._set_at = 0.0

    def export(self) -> None:
        self.bus.export(names.POWER_SUPPLY_PATH, self.iface)
        self.bus.export(names.POWER_SUPPLY_PATH, self.imd_iface)

    async def start(self) -> None:
        log.info("DC supply for connector %d: %s backend, %g V / %g A / %g W", self.cfg.connector_id, self.cfg.backend,
                 self.cfg.max_voltage_v, self.cfg.max_current_a, self.cfg.max_power_w, extra=self._fields)
        await self.board.start()
        path = names.board_connector_path(self.cfg.connector_id)
        await self.board.properties(names.BOARD_CONNECTOR_IFACE, self._on_board, path_namespace=path)
        try:
            self._on_board(path, await get_all(self.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE))
        except Exception as e:  # the board may start later: its signals will tell
            log.info("board not readable yet: %s", e)
        self._task = asyncio.create_task(self._publish_loop())

    async def stop(self) -> None:
        self.supply.off(time.monotonic())
        if self._task:
            self._task.cancel()

    # --- requests ---------------------------------------------------------------------------
    def set_output(self, voltage_v: float, current_a: float) -> None:
        was = self.supply.enabled
        self._set_at = time.monotonic()
        self.supply.set(voltage_v, current_a, self._set_at)
        if not was:
            log.info("DC output on: %g V, limit %g A", voltage_v, current_a, extra=self._fields)
        self._wake.set()

    def off(self) -> None:
        if self.supply.enabled:
            log.info("DC output off", extra=self._fields)
        self.supply.off(time.monotonic())
        self._wake.set()

    def start_check(self, test_voltage_v: float) -> None:
        self.imd.start(test_voltage_v, time.monotonic())
        log.info("isolation check at %g V", test_voltage_v, extra=self._fields)
        self._wake.set()

    def reset_check(self) -> None:
        self.imd.reset()
        self._wake.set()

    # --- the simulated EV battery behind the contactor ---------------------------------------
    def _on_board(self, _path: str, props: dict[str, Any]) -> None:
        if "ContactorClosed" in props:
            self.supply.connect(bool(props["ContactorClosed"]), time.monotonic())
            self._wake.set()

    # --- publishing -------------------------------------------------------------------------
    def _publish(self) -> bool:
        """Emit what changed; True while values still move (ramping, measuring)."""
        now = time.monotonic()
        timeout = self.cfg.setpoint_timeout_s
        if timeout and self.supply.enabled and now - self._set_at >= timeout:
            log.warning("no setpoint for %g s: DC output off (the SECC stopped driving the supply)", timeout,
                        extra=self._fields)
            self.supply.off(now)
        before = self.imd.status
        status = self.imd.update(now)
        if status is not before and status is not IsolationStatus.ONGOING:
            level = logging.INFO if status is IsolationStatus.VALID else logging.WARNING
            log.log(level, "isolation %s: %.0f ohm at %g V", status.value, self.imd.measured_ohm,
                    self.imd.test_voltage_v, extra=self._fields)
        v, i = self.supply.present(now)
        self.present = (round(v, 2), round(i, 2))
        for iface, props in ((self.iface, SUPPLY_PROPS), (self.imd_iface, IMD_PROPS)):
            values = {p: getattr(iface, p) for p in props}
            changed = {k: val for k, val in values.items() if self._published.get(f"{iface.name}.{k}") != val}
            self._published.update({f"{iface.name}.{k}": val for k, val in values.items()})
            if changed:
                iface.emit_properties_changed(changed)
        target_v = min(self.supply.voltage_set, self.supply.max_voltage_v) if self.supply.enabled else 0.0
        target_i = min(self.supply.current_set, self.supply.max_current_a) \
            if self.supply.enabled and self.supply.loaded else 0.0
        return self.present != (round(target_v, 2), round(target_i, 2)) or status is IsolationStatus.ONGOING

    async def _publish_loop(self) -> None:
        while True:
            moving = self._publish()
            self._wake.clear()
            delay = self.cfg.publish_interval_s if moving else None
            if self.supply.enabled and self.cfg.setpoint_timeout_s:
                until_timeout = self._set_at + self.cfg.setpoint_timeout_s - time.monotonic()
                delay = max(0.0, min(delay if delay is not None else until_timeout, until_timeout))
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass


async def build(ctx: ServiceContext) -> PowerService:
    cfg = ctx.load_config(PowerConfig)
    svc = PowerService(ctx.bus, cfg)
    svc.export()
    return svc
