"""The simulated meters' physics: energy from the simulated EV's AC current, or from the simulated
DC supply's output. Pure: time is passed in.

The simulated board changes the EV current in steps (a property change is the instant of the
step), so integrating the power held since the previous sample (left rectangle) is exact here,
where a trapezoid would smear each step over the sampling interval.
"""

from __future__ import annotations

from dataclasses import dataclass

NOMINAL_VOLTAGE_V = 230.0
NOMINAL_FREQUENCY_HZ = 50.0
PHASES = 3


@dataclass
class SimulatedMeter:
    energy_wh: float = 0.0              # the register: persisted by the service across restarts
    current_a: float = 0.0              # per phase, as the board reports EvCurrentA
    phases: int = 3                     # how many phases the EV draws on
    _last_s: float | None = None        # monotonic time of the last integration step

    def __post_init__(self) -> None:
        self.phases = _clamp_phases(self.phases)

    def advance(self, now_s: float) -> None:
        """Integrate the power held since the previous step up to `now_s` (monotonic seconds)."""
        if self._last_s is not None and now_s > self._last_s:
            self.energy_wh += self.power_w * (now_s - self._last_s) / 3600.0
        if self._last_s is None or now_s > self._last_s:
            self._last_s = now_s

    def set_draw(self, now_s: float, *, current_a: float | None = None, phases: int | None = None) -> None:
        """The EV's draw changes at `now_s`: close the step at the old power first."""
        self.advance(now_s)
        if current_a is not None:
            # A negative or NaN current from a confused simulator must not run the register back.
            self.current_a = current_a if current_a > 0.0 else 0.0
        if phases is not None:
            self.phases = _clamp_phases(phases)

    @property
    def currents_a(self) -> tuple[float, ...]:
        return tuple(self.current_a if i < self.phases else 0.0 for i in range(PHASES))

    @property
    def voltages_v(self) -> tuple[float, ...]:
        # The supply has all three lines whatever the EV draws on, as a real meter would show.
        return (NOMINAL_VOLTAGE_V,) * PHASES

    @property
    def power_w(self) -> float:
        return sum(v * i for v, i in zip(self.voltages_v, self.currents_a, strict=True))


def _clamp_phases(phases: int) -> int:
    return min(max(int(phases), 1), PHASES)


@dataclass
class SimulatedDcMeter:
    """A DC energy meter on the output of the simulated DC supply (as a DC meter sits between the
    power module and the cable): import energy from the present voltage and current."""

    energy_wh: float = 0.0              # the register: persisted by the service across restarts
    voltage_v: float = 0.0
    current_a: float = 0.0
    _last_s: float | None = None

    def advance(self, now_s: float) -> None:
        if self._last_s is not None and now_s > self._last_s:
            self.energy_wh += self.power_w * (now_s - self._last_s) / 3600.0
        if self._last_s is None or now_s > self._last_s:
            self._last_s = now_s

    def set_output(self, now_s: float, *, voltage_v: float | None = None, current_a: float | None = None) -> None:
        """The supply's present values changed at `now_s`: close the step at the old power first."""
        self.advance(now_s)
        if voltage_v is not None:
            self.voltage_v = voltage_v if voltage_v > 0.0 else 0.0
        if current_a is not None:
            # The import register only counts energy into the EV; a negative or NaN current
            # (a confused simulator, a discharge) must not run it back.
            self.current_a = current_a if current_a > 0.0 else 0.0

    @property
    def power_w(self) -> float:
        return self.voltage_v * self.current_a
