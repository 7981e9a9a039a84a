"""A simulated DC power supply: voltage and current follow their setpoints at a finite slew rate.

Pure (time is passed in). Used by the SECC's simulated controller and, later, by the
`org.evcharge.PowerSupply1` service's simulated backend.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SimPowerSupply:
    slew_v_per_s: float = 2000.0
    slew_a_per_s: float = 1000.0
    max_voltage_v: float = 500.0
    max_current_a: float = 125.0
    voltage_set: float = 0.0
    current_set: float = 0.0
    enabled: bool = False
    loaded: bool = False          # output connected to the battery (contactor closed): current flows
    _v: float = 0.0
    _i: float = 0.0
    _t: float = 0.0

    def _advance(self, now: float) -> None:
        dt = max(0.0, now - self._t)
        self._t = now
        v_target = min(self.voltage_set, self.max_voltage_v) if self.enabled else 0.0
        i_target = min(self.current_set, self.max_current_a) if (self.enabled and self.loaded) else 0.0
        self._v = _toward(self._v, v_target, self.slew_v_per_s * dt)
        self._i = _toward(self._i, i_target, self.slew_a_per_s * dt)

    def set(self, voltage_v: float, current_a: float, now: float) -> None:
        self._advance(now)
        self.voltage_set, self.current_set, self.enabled = max(0.0, voltage_v), max(0.0, current_a), True

    def off(self, now: float) -> None:
        self._advance(now)
        self.enabled = False

    def connect(self, loaded: bool, now: float) -> None:
        self._advance(now)
        self.loaded = loaded

    def present(self, now: float) -> tuple[float, float]:
        self._advance(now)
        return self._v, self._i


def _toward(value: float, target: float, step: float) -> float:
    if abs(target - value) <= step:
        return target
    return value + step if target > value else value - step
