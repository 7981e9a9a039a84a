"""D-Bus adapter of the meter service: one `org.evcharge.Meter1.Meter` object per meter."""

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

from evcharge.common import names
from evcharge.common.errors import Unavailable
from evcharge.common.service import ServiceContext

from .backends import MeterBackend
from .backends.sim import BoardLink, SimBackend
from .backends.sim_dc import PowerSupplyLink, SimDcBackend
from .config import BackendKind, MeterConfig
from .energy_store import EnergyStore
from .poller import Poller

if TYPE_CHECKING:
    from .backends.modbus import ModbusLink
from .reading import MeterState

log = logging.getLogger(__name__)

SAVE_CHECK_S = 1.0
SIMULATED = (BackendKind.SIM.value, BackendKind.SIM_DC.value)
SimLink = BoardLink | PowerSupplyLink


class MeterInterface(ServiceInterface):
    def __init__(self, state: MeterState) -> None:
        super().__init__(names.METER_METER_IFACE)
        self._state = state

    def publish(self, changed: dict[str, Any]) -> None:
        self.emit_properties_changed(changed)

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorId(self) -> "u":
        return self._state.connector_id

    @dbus_property(access=PropertyAccess.READ)
    def Backend(self) -> "s":
        return self._state.backend

    @dbus_property(access=PropertyAccess.READ)
    def Online(self) -> "b":
        return self._state.online

    @dbus_property(access=PropertyAccess.READ)
    def EnergyWh(self) -> "d":
        return self._state.properties()["EnergyWh"]

    @dbus_property(access=PropertyAccess.READ)
    def PowerW(self) -> "d":
        return self._state.properties()["PowerW"]

    @dbus_property(access=PropertyAccess.READ)
    def VoltageV(self) -> "ad":
        return self._state.properties()["VoltageV"]

    @dbus_property(access=PropertyAccess.READ)
    def CurrentA(self) -> "ad":
        return self._state.properties()["CurrentA"]

    @dbus_property(access=PropertyAccess.READ)
    def LastReadingAt(self) -> "s":
        return self._state.properties()["LastReadingAt"]

    @method()
    def Read(self) -> "a{sv}":
        if not self._state.online:
            raise Unavailable(f"meter for connector {self._state.connector_id} is offline: "
                              f"{self._state.offline_reason}")
        return self._state.read_result()


class MeterService:
    def __init__(self, pollers: list[Poller], links: list[SimLink], store: EnergyStore | None) -> None:
        self.pollers = pollers
        self.links = links
        self.store = store
        self._saver: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for link in self.links:
            await link.start()
        for p in self.pollers:
            await p.backend.start()
            if p.backend.kind in SIMULATED:
                await p.poll_once()  # a simulator can answer at once: be online when ready
            p.start()
        if self.store:
            self._saver = asyncio.create_task(self._save_loop(self.store))

    async def _save_loop(self, store: EnergyStore) -> None:
        # Polls save too, but a slow poll interval must not stretch the window of lost energy.
        while True:
            await asyncio.sleep(SAVE_CHECK_S)
            store.maybe_save(time.monotonic())

    async def stop(self) -> None:
        if self._saver:
            self._saver.cancel()
        for p in self.pollers:
            await p.stop()
        for link in self.links:
            await link.stop()
        if self.store:
            self.store.save()


async def build(ctx: ServiceContext) -> MeterService:
    cfg = ctx.load_config(MeterConfig)
    store: EnergyStore | None = None
    board: BoardLink | None = None
    links: list[SimLink] = []
    modbus_links: dict[tuple[str, ...], ModbusLink] = {}
    pollers: list[Poller] = []
    for entry in cfg.meters:
        backend: MeterBackend
        if entry.backend in (BackendKind.SIM, BackendKind.SIM_DC):
            # Simulated registers of every kind share one file, keyed by connector.
            store = store or EnergyStore(ctx.state_dir)
        if entry.backend is BackendKind.SIM:
            if board is None:
                board = BoardLink(ctx.bus)
                links.append(board)
            sim = SimBackend(entry.connector_id, store)
            board.meters[entry.connector_id] = sim
            backend = sim
        elif entry.backend is BackendKind.SIM_DC:
            dc = SimDcBackend(entry.connector_id, store)
            links.append(PowerSupplyLink(ctx.bus, dc))
            backend = dc
        else:
            # pymodbus (~2 MiB of the service's memory, 47 modules) only where a meter uses it:
            # not with simulated meters (SIL, test image).
            from .backends import modbus
            link = modbus_links.setdefault(modbus.link_key(entry), modbus.ModbusLink(entry, cfg.timeout_s))
            backend = modbus.ModbusBackend(entry, link)
        state = MeterState(entry.connector_id, entry.backend.value)
        iface = MeterInterface(state)
        ctx.bus.export(names.meter_path(entry.connector_id), iface)
        pollers.append(Poller(state, backend, iface.publish, poll_interval_s=cfg.poll_interval_s,
                              timeout_s=cfg.timeout_s))
    if not cfg.meters:
        log.warning("no meters configured in %s", ctx.config_file)
    return MeterService(pollers, links, store)
