"""EvseController implementations: a self-contained simulated EVSE (for tests, benchmarks and a
SECC without the rest of the charger) and the D-Bus one (evse, board, energy, meter services)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ..sim.power_supply import SimPowerSupply
from .secc import Limits

log = logging.getLogger("evcharge.iso15118")


@dataclass
class SimEvseController:
    """Answers from a model: authorization after `auth_delay_s`, isolation valid after
    `cable_check_s` (or a fault), an instant-ish DC supply, energy integrated from power."""

    evse_id: str = "DE*EVC*E1"
    dc: bool = False
    auth_delay_s: float = 0.2
    auth_result: str = "Accepted"
    cable_check_s: float = 0.3
    isolation_fault: bool = False
    lim: Limits = field(default_factory=Limits)
    supply: SimPowerSupply = field(default_factory=SimPowerSupply)
    events: list[tuple] = field(default_factory=list)
    clock: object = time.monotonic
    _started_at: float = 0.0
    _cable_check_at: float | None = None
    _power_on: bool = False
    _current_a: float = 0.0
    _energy_wh: float = 0.0
    _energy_t: float = 0.0

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator]

    def hlc_started(self, protocol: str, evcc_id: str, session_id: str) -> None:
        self._started_at = self._now()
        self._cable_check_at = None
        self.events.append(("started", protocol, evcc_id, session_id))

    def authorization(self) -> str:
        if self._now() - self._started_at < self.auth_delay_s:
            return "Ongoing"
        return self.auth_result

    def limits(self) -> Limits:
        return self.lim

    def cable_check(self) -> str:
        now = self._now()
        if self._cable_check_at is None:
            self._cable_check_at = now
            self.supply.set(self.lim.dc_max_voltage_v * 0.9, 0.0, now)  # isolation test voltage
        if self.isolation_fault:
            self.supply.off(now)
            return "Fault"
        if now - self._cable_check_at < self.cable_check_s:
            return "Ongoing"
        self.supply.off(now)
        return "Valid"

    def dc_setpoint(self, voltage_v: float, current_a: float) -> None:
        self.supply.set(voltage_v, current_a, self._now())

    def dc_present(self) -> tuple[float, float]:
        return self.supply.present(self._now())

    def _integrate(self) -> None:
        now = self._now()
        if self._power_on:
            if self.dc:
                v, i = self.supply.present(now)
                w = v * i
            else:
                w = self._current_a * self.lim.ac_nominal_voltage_v * self.lim.ac_phases
            self._energy_wh += w * (now - self._energy_t) / 3600.0
        self._energy_t = now

    def power_delivery(self, start: bool, current_a: float) -> None:
        self._integrate()
        self._power_on, self._current_a = start, current_a if start else 0.0
        now = self._now()
        if self.dc:
            self.supply.connect(start, now)
            if not start:
                self.supply.off(now)
        self.events.append(("power", start, current_a))

    def meter_wh(self) -> float | None:
        self._integrate()
        return self._energy_wh

    def hlc_stopped(self, reason: str) -> None:
        if self._power_on:
            self.power_delivery(False, 0.0)
        self.supply.off(self._now())
        self.events.append(("stopped", reason))
