"""IEC 61851-1 control pilot: voltage bands, hysteresis, debounce and the diode check.

Bands follow the table in notes/field-notes.md (as used by shipping chargers). A reading in a gap
between two bands keeps the previous state when that state borders the gap: that is the
hysteresis, and it stops a slowly drifting or noisy level from toggling the state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CpState(str, enum.Enum):
    A = "A"  # no vehicle
    B = "B"  # vehicle connected, not ready
    C = "C"  # ready, charging
    D = "D"  # ready, ventilation needed
    E = "E"  # CP shorted to PE / no supply
    F = "F"  # EVSE not available (-12 V)
    INVALID = "Invalid"  # out of every band: treated as a fault

    @property
    def vehicle_connected(self) -> bool:
        return self in (CpState.B, CpState.C, CpState.D)

    @property
    def wants_power(self) -> bool:
        return self in (CpState.C, CpState.D)


# (low, high, state): accepted bands, inclusive.
_BANDS: tuple[tuple[float, float, CpState], ...] = (
    (11.0, 13.0, CpState.A),
    (8.0, 10.0, CpState.B),
    (5.0, 7.0, CpState.C),
    (2.0, 4.0, CpState.D),
    (-1.0, 2.0, CpState.E),
    (-13.0, -11.0, CpState.F),
)
# (low, high, states that may be kept): the hysteresis gaps between bands.
_GAPS: tuple[tuple[float, float, tuple[CpState, ...]], ...] = (
    (10.0, 11.0, (CpState.A, CpState.B)),
    (7.0, 8.0, (CpState.B, CpState.C)),
    (4.0, 5.0, (CpState.C, CpState.D)),
    (-2.0, -1.0, (CpState.E,)),
    (-11.0, -10.0, (CpState.F,)),
)


def classify(high_v: float, previous: CpState) -> CpState:
    """The CP state for a positive-plateau voltage, given the last confirmed state."""
    for low, high, state in _BANDS:
        if low <= high_v <= high:
            return state
    for low, high, keeps in _GAPS:
        if low < high_v < high:
            if previous in keeps:
                return previous
            # A gap reached from a non-neighbouring state: take the nearer neighbour band.
            return keeps[0] if len(keeps) == 1 else min(keeps, key=lambda s: abs(_nominal(s) - high_v))
    return CpState.INVALID


def _nominal(state: CpState) -> float:
    return {CpState.A: 12.0, CpState.B: 9.0, CpState.C: 6.0, CpState.D: 3.0,
            CpState.E: 0.0, CpState.F: -12.0}.get(state, 0.0)


def diode_ok(low_v: float, previous_ok: bool) -> bool:
    """The negative plateau must reach about -12 V while PWM runs; -11..-10 V keeps the last verdict."""
    if -13.0 <= low_v <= -11.0:
        return True
    if -11.0 < low_v < -10.0:
        return previous_ok
    return False


@dataclass
class Debouncer:
    """A new value is accepted once it was seen `confirm` times in a row.

    The adapter re-samples within a millisecond or two when a sample differs from the confirmed
    value, so two samples take a few ms: well inside the 25 ms allowed for a change to A and the
    100 ms allowed for opening the contactor on C->B.
    """

    value: object
    confirm: int = 2
    _candidate: object = None
    _count: int = 0

    def feed(self, raw: object) -> bool:
        """True when `raw` became the confirmed value with this sample."""
        if raw == self.value:
            self._candidate, self._count = None, 0
            return False
        if raw == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = raw, 1
        if self._count >= self.confirm:
            self.value = raw
            self._candidate, self._count = None, 0
            return True
        return False

    @property
    def pending(self) -> bool:
        return self._candidate is not None
