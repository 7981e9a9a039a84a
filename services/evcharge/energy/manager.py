"""Demands and external limits in, allocations out (pure; the adapter persists and publishes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .allocation import Demand, allocate
from .config import EnergyConfig

SITE = 0  # connector id 0 addresses the whole site, as in OCPP's evseId 0


@dataclass
class EnergyManager:
    cfg: EnergyConfig
    demands: dict[int, Demand] = field(default_factory=dict)
    # (connector_id, source) -> limit; a limit can only lower what the configuration allows.
    limits: dict[tuple[int, str], float] = field(default_factory=dict)
    allocations: dict[int, float] = field(default_factory=dict)
    _order: int = 0

    def __post_init__(self) -> None:
        self.allocations = {c.id: 0.0 for c in self.cfg.connectors}

    def connector_ids(self) -> list[int]:
        return [c.id for c in self.cfg.connectors]

    def connector_max(self, cid: int) -> float:
        cap = next(c.max_current_a for c in self.cfg.connectors if c.id == cid)
        for (lcid, _src), lim in self.limits.items():
            if lcid == cid:
                cap = min(cap, lim)
        return cap

    def site_limit(self) -> float:
        lim = self.cfg.site_limit_a
        for (cid, _src), value in self.limits.items():
            if cid == SITE:
                lim = min(lim, value)
        return lim

    def request(self, cid: int, max_a: float) -> dict[int, float]:
        if max_a <= 0:
            self.demands.pop(cid, None)
        elif cid in self.demands:
            self.demands[cid] = Demand(cid, max_a, self.demands[cid].order)
        else:
            self._order += 1
            self.demands[cid] = Demand(cid, max_a, self._order)
        return self.recompute()

    def set_limit(self, cid: int, source: str, limit_a: float) -> dict[int, float]:
        self.limits[(cid, source)] = limit_a
        return self.recompute()

    def clear_limit(self, cid: int, source: str) -> dict[int, float]:
        self.limits.pop((cid, source), None)
        return self.recompute()

    def recompute(self) -> dict[int, float]:
        """Returns the connectors whose allocation changed."""
        capped = [Demand(d.connector_id, min(d.max_a, self.connector_max(d.connector_id)), d.order)
                  for d in self.demands.values()]
        new = {cid: 0.0 for cid in self.connector_ids()}
        new.update(allocate(self.site_limit(), capped))
        changed = {cid: a for cid, a in new.items() if self.allocations.get(cid) != a}
        self.allocations = new
        return changed

    # persistence
    def to_json(self) -> dict:
        return {"demands": [[d.connector_id, d.max_a, d.order] for d in self.demands.values()],
                "limits": [[cid, src, lim] for (cid, src), lim in self.limits.items()]}

    def load_json(self, data: dict) -> None:
        known = set(self.connector_ids())
        for cid, max_a, order in data.get("demands", []):
            if cid in known:
                self.demands[cid] = Demand(cid, max_a, order)
                self._order = max(self._order, order)
        for cid, src, lim in data.get("limits", []):
            if cid in known or cid == SITE:
                self.limits[(cid, src)] = lim
        self.recompute()
