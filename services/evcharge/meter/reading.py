"""What one meter reports and how its D-Bus state follows. Pure: no I/O, time is passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dbus_fast import Variant

from .sdm630 import Quantity

PHASES = 3


@dataclass(frozen=True)
class Reading:
    energy_wh: float                 # active import, total register
    power_w: float                   # total active power
    voltage_v: tuple[float, ...]     # L1..L3
    current_a: tuple[float, ...]     # L1..L3
    frequency_hz: float
    at: datetime                     # UTC, when it was taken

    @classmethod
    def from_quantities(cls, q: dict[Quantity, float], at: datetime) -> Reading:
        return cls(energy_wh=q[Quantity.IMPORT_ENERGY], power_w=q[Quantity.POWER_TOTAL],
                   voltage_v=(q[Quantity.VOLTAGE_L1], q[Quantity.VOLTAGE_L2], q[Quantity.VOLTAGE_L3]),
                   current_a=(q[Quantity.CURRENT_L1], q[Quantity.CURRENT_L2], q[Quantity.CURRENT_L3]),
                   frequency_hz=q[Quantity.FREQUENCY], at=at)

    def check(self) -> None:
        """A frame with NaN/inf (a meter mid-reset, a byte-swapped map) must not reach billing."""
        values = (self.energy_wh, self.power_w, self.frequency_hz, *self.voltage_v, *self.current_a)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"non-finite value in reading {self}")


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class MeterState:
    """The published state of one meter: the latest reading and whether the meter answers.

    Going offline keeps the last values (a meter that stops answering did not lose its
    register); `Online` alone says whether they are current.
    """

    connector_id: int
    backend: str
    online: bool = False
    reading: Reading | None = None
    offline_reason: str = "no reading yet"
    _failed_before: bool = field(default=False, repr=False)
    _published: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # What a client sees before the first reading (GetAll); changes are relative to it.
        self._published = self.properties()

    def properties(self) -> dict[str, Any]:
        r = self.reading
        return {
            "ConnectorId": self.connector_id,
            "Backend": self.backend,
            "Online": self.online,
            "EnergyWh": r.energy_wh if r else 0.0,
            "PowerW": r.power_w if r else 0.0,
            "VoltageV": list(r.voltage_v) if r else [0.0] * PHASES,
            "CurrentA": list(r.current_a) if r else [0.0] * PHASES,
            "LastReadingAt": rfc3339(r.at) if r else "",
        }

    def update(self, reading: Reading) -> tuple[dict[str, Any], bool]:
        """Apply a good reading: (changed properties, came back online)."""
        reading.check()
        came_online = not self.online
        self.reading = reading
        self.online = True
        self.offline_reason = ""
        return self._changes(), came_online

    def fail(self, reason: str) -> tuple[dict[str, Any], bool]:
        """A poll failed: (changed properties, went offline now).

        The first failure of a meter that never answered counts as going offline too, so
        that it is logged once rather than never (or at every poll)."""
        went_offline = self.online or not self._failed_before
        self._failed_before = True
        self.online = False
        self.offline_reason = reason
        return self._changes(), went_offline

    def _changes(self) -> dict[str, Any]:
        now = self.properties()
        changed = {k: v for k, v in now.items() if self._published.get(k) != v}
        self._published = now
        return changed

    def read_result(self) -> dict[str, Variant]:
        """The a{sv} of Read(); the caller checks `online` first."""
        assert self.reading is not None
        p = self.properties()
        return {
            "ConnectorId": Variant("u", p["ConnectorId"]),
            "EnergyWh": Variant("d", p["EnergyWh"]),
            "PowerW": Variant("d", p["PowerW"]),
            "VoltageV": Variant("ad", p["VoltageV"]),
            "CurrentA": Variant("ad", p["CurrentA"]),
            "FrequencyHz": Variant("d", self.reading.frequency_hz),
            "LastReadingAt": Variant("s", p["LastReadingAt"]),
        }
