"""The simulated meter: follows the simulated board's EV current over D-Bus.

Contract with the board (its `org.evcharge.Board1.Sim` interface on
`/org/evcharge/Board1/Connector/<id>`): `EvCurrentA` (d, per phase, 0 while the contactor is
open) and `Phases` (u). When the board is absent the EV draws nothing and the meter stays
online: it is a meter, not a board monitor. When the board (re)appears, its values are re-read.
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
from ..simulated import NOMINAL_FREQUENCY_HZ, EnergyRegister, SimulatedMeter

log = logging.getLogger(__name__)

CONNECTORS_NS = f"{names.BOARD_PATH}/Connector"


class RegisterBackend:
    """What the simulated meters share: a model whose register is kept in the energy store, and
    pushed changes (the poller publishes at once). Subclasses feed the model and say what it reads."""

    kind = ""

    def __init__(self, connector_id: int, store: EnergyStore, model: EnergyRegister,
                 clock: Callable[[], float]) -> None:
        self.connector_id = connector_id
        self.store = store
        self.clock = clock
        self.model = model
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        self._store_register()
        if self.on_change:
            self.on_change()

    def _store_register(self) -> None:
        self.store.set(self.connector_id, self.model.energy_wh)

    def _reading(self) -> Reading:
        raise NotImplementedError

    async def start(self) -> None:
        pass

    async def read(self, timeout_s: float) -> Reading:  # nothing here can hang: no timeout needed
        now = self.clock()
        self.model.advance(now)
        self._store_register()
        self.store.maybe_save(now)
        return self._reading()

    async def stop(self) -> None:
        self.model.advance(self.clock())
        self._store_register()  # the service saves the store once every meter has stopped


class SimBackend(RegisterBackend):
    kind = "sim"
    model: SimulatedMeter

    def __init__(self, connector_id: int, store: EnergyStore, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(connector_id, store, SimulatedMeter(energy_wh=store.get(connector_id)), clock)

    def apply(self, props: dict[str, Any]) -> None:
        """Board values (a GetAll result or a PropertiesChanged); unknown keys are ignored."""
        current = props.get("EvCurrentA")
        phases = props.get("Phases")
        current = float(current) if isinstance(current, (int, float)) and not isinstance(current, bool) else None
        phases = phases if isinstance(phases, int) and not isinstance(phases, bool) else None
        if current is None and phases is None:
            return
        self.model.set_draw(self.clock(), current_a=current, phases=phases)
        self._changed()

    def _reading(self) -> Reading:
        return Reading(energy_wh=self.model.energy_wh, power_w=self.model.power_w,
                       voltage_v=self.model.voltages_v, current_a=self.model.currents_a,
                       frequency_hz=NOMINAL_FREQUENCY_HZ, at=datetime.now(UTC))


class BoardLink:
    """One subscription to the simulated board, shared by every simulated meter."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.meters: dict[int, SimBackend] = {}
        self._sub = Subscription(bus, names.BOARD)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._sub.start()
        # Match first, then read: a change racing the read arrives after it, never lost.
        await self._sub.properties(names.BOARD_SIM_IFACE, self._on_changed, path_namespace=CONNECTORS_NS)
        self._sub.on_owner_changed.append(self._on_owner_changed)
        if self._sub.owner:
            await self._refresh_all()
        else:
            log.info("simulated board %s is not on the bus: simulated EVs draw 0 A until it appears", names.BOARD)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_changed(self, path: str, changed: dict[str, Any]) -> None:
        try:
            meter = self.meters.get(names.connector_id_from_path(path))
        except ValueError:
            return
        if meter is not None:
            meter.apply(changed)

    def _on_owner_changed(self, _old: str | None, new: str | None) -> None:
        if new:
            log.info("simulated board appeared (%s): reading the EV draw", new)
            task = asyncio.create_task(self._refresh_all())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            log.info("simulated board left the bus: simulated EVs draw 0 A")
            for meter in self.meters.values():
                meter.apply({"EvCurrentA": 0.0})

    async def _refresh_all(self) -> None:
        await asyncio.gather(*(self._refresh(m) for m in self.meters.values()))

    async def _refresh(self, meter: SimBackend) -> None:
        path = names.board_connector_path(meter.connector_id)
        try:
            props = await get_all(self.bus, names.BOARD, path, names.BOARD_SIM_IFACE)
        except (DBusError, TimeoutError) as e:
            log.warning("cannot read %s on %s (%s): EV draw taken as 0 A", names.BOARD_SIM_IFACE, path, e,
                        extra=fields(connector=meter.connector_id))
            props = {"EvCurrentA": 0.0}
        meter.apply(props)
