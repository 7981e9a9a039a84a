"""Isolation monitoring (IMD) for the DC CableCheck: status from a measured resistance. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class IsolationStatus(str, enum.Enum):
    IDLE = "Idle"          # no measurement asked for since the last reset
    ONGOING = "Ongoing"
    VALID = "Valid"
    WARNING = "Warning"    # usable (ISO 15118-2 lets the session go on), but worth a service visit
    FAULT = "Fault"        # the session must not go on


def classify(resistance_ohm: float, test_voltage_v: float, fault_ohm_per_v: float,
             warning_ohm_per_v: float) -> IsolationStatus:
    """IEC 61851-23 thresholds in ohm per volt of the test voltage (100 / 500 ohm/V usual)."""
    v = max(test_voltage_v, 1.0)
    if resistance_ohm < fault_ohm_per_v * v:
        return IsolationStatus.FAULT
    if resistance_ohm < warning_ohm_per_v * v:
        return IsolationStatus.WARNING
    return IsolationStatus.VALID


@dataclass
class SimIsolationMonitor:
    """Measures `resistance_ohm` in `check_s` seconds after `start`; time is passed in."""

    resistance_ohm: float = 10_000_000.0
    check_s: float = 0.3
    fault_ohm_per_v: float = 100.0
    warning_ohm_per_v: float = 500.0
    status: IsolationStatus = IsolationStatus.IDLE
    test_voltage_v: float = 0.0
    measured_ohm: float = 0.0
    _started: float | None = None

    def start(self, test_voltage_v: float, now: float) -> None:
        self.test_voltage_v, self._started = test_voltage_v, now
        self.status, self.measured_ohm = IsolationStatus.ONGOING, 0.0

    def reset(self) -> None:
        self.status, self._started, self.measured_ohm = IsolationStatus.IDLE, None, 0.0

    def update(self, now: float) -> IsolationStatus:
        if self.status is IsolationStatus.ONGOING and self._started is not None \
                and now - self._started >= self.check_s:
            self.measured_ohm = self.resistance_ohm
            self.status = classify(self.resistance_ohm, self.test_voltage_v, self.fault_ohm_per_v,
                                   self.warning_ohm_per_v)
        return self.status

    @property
    def deadline(self) -> float | None:
        if self.status is IsolationStatus.ONGOING and self._started is not None:
            return self._started + self.check_s
        return None
