"""Energy service adapter: persists demands and limits, publishes allocations."""

from __future__ import annotations

import logging

from dbus_fast.aio import MessageBus

from ..common import names
from ..common.log import fields
from ..common.persist import read_json, write_json_atomic
from ..common.service import ServiceContext
from .config import EnergyConfig
from .interfaces import EnergyInterface
from .manager import EnergyManager

log = logging.getLogger("evcharge.energy")


class EnergyService:
    def __init__(self, bus: MessageBus, cfg: EnergyConfig, state_file) -> None:
        self.bus = bus
        self.manager = EnergyManager(cfg)
        self.state_file = state_file
        # Demands survive a restart of this service, so charging connectors keep their share.
        self.manager.load_json(read_json(state_file, {}) or {})
        self.iface = EnergyInterface(self)

    def request(self, cid: int, max_a: float) -> float:
        self._apply(self.manager.request(cid, max_a))
        return self.manager.allocations[cid]

    def set_limit(self, cid: int, source: str, limit_a: float) -> None:
        log.info("external limit %s on %s: %.1f A", source, f"connector {cid}" if cid else "site", limit_a,
                 extra=fields(connector=cid or None))
        self._apply(self.manager.set_limit(cid, source, limit_a))

    def clear_limit(self, cid: int, source: str) -> None:
        self._apply(self.manager.clear_limit(cid, source))

    def _apply(self, changed: dict[int, float]) -> None:
        write_json_atomic(self.state_file, self.manager.to_json())
        for cid, amps in changed.items():
            log.info("connector %d: allocated %.1f A", cid, amps, extra=fields(connector=cid))
            self.iface.AllocationChanged(cid, amps)
        self.iface.emit_properties_changed({
            "Allocations": dict(self.manager.allocations),
            "Demands": {cid: d.max_a for cid, d in self.manager.demands.items()},
            "EffectiveSiteLimitA": self.manager.site_limit(),
            "ExternalLimits": [[cid, src, lim] for (cid, src), lim in self.manager.limits.items()],
        })

    async def start(self) -> None:
        log.info("site limit %.1f A over connectors %s", self.manager.cfg.site_limit_a, self.manager.connector_ids())

    async def stop(self) -> None:
        pass


async def build(ctx: ServiceContext) -> EnergyService:
    cfg = ctx.load_config(EnergyConfig)
    svc = EnergyService(ctx.bus, cfg, ctx.state_dir / "energy.json")
    ctx.bus.export(names.ENERGY_PATH, svc.iface)
    return svc
