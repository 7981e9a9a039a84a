"""The simulated DC meter: follows the DC power service's output over D-Bus.

Contract with the power service (`org.evcharge.PowerSupply1` on `/org/evcharge/PowerSupply1`):
`PresentVoltageV` and `PresentCurrentA` (d), published while they change. A DC charger's meter sits
on the DC output, so this is what a DC session is billed from; the AC `sim` meter, which follows
the simulated board's AC draw, would read 0 in a DC session. When the power service is absent the
output is taken as 0 V / 0 A and the meter stays online, like the AC simulator without a board.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from evcharge.common import names
from evcharge.common.bus import Subscription, get_all
from evcharge.common.log import fields

from ..energy_store import EnergyStore
from ..reading import Reading
from ..simulated import SimulatedDcMeter

log = logging.getLogger(__name__)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class SimDcBackend:
    kind = "sim-dc"

    def __init__(self, connector_id: int, store: EnergyStore, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connector_id = connector_id
        self.store = store
        self.clock = clock
        self.model = SimulatedDcMeter(energy_wh=store.get(connector_id))
        self.on_change: Callable[[], None] | None = None

    def apply(self, props: dict[str, Any]) -> None:
        """Supply values (a GetAll result or a PropertiesChanged); unknown keys are ignored."""
        voltage, current = _number(props.get("PresentVoltageV")), _number(props.get("PresentCurrentA"))
        if voltage is None and current is None:
            return
        self.model.set_output(self.clock(), voltage_v=voltage, current_a=current)
        self.store.set(self.connector_id, self.model.energy_wh)
        if self.on_change:
            self.on_change()

    async def start(self) -> None:
        pass

    async def read(self, timeout_s: float) -> Reading:  # nothing here can hang: no timeout needed
        now = self.clock()
        self.model.advance(now)
        self.store.set(self.connector_id, self.model.energy_wh)
        self.store.maybe_save(now)
        # One DC line: reported as L1, the other two lines read 0; DC has no frequency.
        return Reading(energy_wh=self.model.energy_wh, power_w=self.model.power_w,
                       voltage_v=(self.model.voltage_v, 0.0, 0.0), current_a=(self.model.current_a, 0.0, 0.0),
                       frequency_hz=0.0, at=datetime.now(UTC))

    async def stop(self) -> None:
        self.model.advance(self.clock())
        self.store.set(self.connector_id, self.model.energy_wh)  # the service saves the store at the end


class PowerSupplyLink:
    """The subscription to the DC power service that feeds the simulated DC meter."""

    def __init__(self, bus: MessageBus, meter: SimDcBackend) -> None:
        self.bus = bus
        self.meter = meter
        self._sub = Subscription(bus, names.POWER_SUPPLY)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._sub.start()
        # Match first, then read: a change racing the read arrives after it, never lost.
        await self._sub.properties(names.POWER_SUPPLY, self._on_changed, path_namespace=names.POWER_SUPPLY_PATH)
        self._sub.on_owner_changed.append(self._on_owner_changed)
        if self._sub.owner:
            await self._refresh()
        else:
            log.info("DC power service %s is not on the bus: the DC meter reads 0 V / 0 A until it appears",
                     names.POWER_SUPPLY, extra=fields(connector=self.meter.connector_id))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_changed(self, _path: str, changed: dict[str, Any]) -> None:
        self.meter.apply(changed)

    def _on_owner_changed(self, _old: str | None, new: str | None) -> None:
        if new:
            task = asyncio.create_task(self._refresh())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            log.info("DC power service left the bus: the DC meter reads 0 V / 0 A",
                     extra=fields(connector=self.meter.connector_id))
            self.meter.apply({"PresentVoltageV": 0.0, "PresentCurrentA": 0.0})

    async def _refresh(self) -> None:
        try:
            props = await get_all(self.bus, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH, names.POWER_SUPPLY)
        except (DBusError, TimeoutError) as e:
            log.warning("cannot read %s (%s): DC output taken as 0 V / 0 A", names.POWER_SUPPLY, e,
                        extra=fields(connector=self.meter.connector_id))
            props = {"PresentVoltageV": 0.0, "PresentCurrentA": 0.0}
        self.meter.apply(props)
