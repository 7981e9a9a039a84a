from __future__ import annotations

from dataclasses import dataclass, field

from ..common.config import bounded


@dataclass
class EnergyConnector:
    id: int = 1
    max_current_a: float = bounded(32.0, 6.0, 80.0)


@dataclass
class EnergyConfig:
    # The grid connection's limit per phase, shared by every connector.
    site_limit_a: float = bounded(32.0, 0.0, 2000.0)
    connectors: list[EnergyConnector] = field(default_factory=lambda: [EnergyConnector(1), EnergyConnector(2)])

    def validate(self) -> None:
        ids = [c.id for c in self.connectors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"connectors: ids must be unique, got {ids}")
