"""Current advertised through the PWM duty cycle, and cable ampacity from the PP resistor."""

from __future__ import annotations

MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0
DIGITAL_COMMUNICATION_DUTY_PCT = 5.0


def duty_for_current(current_a: float) -> float:
    """IEC 61851-1 Table A.8: duty cycle (%) that advertises `current_a`."""
    if not (MIN_CURRENT_A <= current_a <= MAX_CURRENT_A):
        raise ValueError(f"current must be within {MIN_CURRENT_A:g}..{MAX_CURRENT_A:g} A, got {current_a}")
    if current_a <= 51.0:
        return current_a / 0.6
    if current_a <= 52.5:
        # 51..52.5 A has no duty cycle of its own (85 % would mean 52.5 A): clamp down, never up.
        return 51.0 / 0.6
    return current_a / 2.5 + 64.0


def current_for_duty(duty_pct: float) -> float:
    """The current an EV reads from a duty cycle (0 where the duty means no current)."""
    if 8.0 <= duty_pct < 10.0:
        return MIN_CURRENT_A
    if 10.0 <= duty_pct <= 85.0:
        return duty_pct * 0.6
    if 85.0 < duty_pct <= 96.0:
        return (duty_pct - 64.0) * 2.5
    if 96.0 < duty_pct <= 97.0:
        return MAX_CURRENT_A
    return 0.0


# IEC 61851-1 Table B.2 (Type 2 plugs): nominal resistor and the accepted measuring range.
_PP_RANGES: tuple[tuple[float, float, float], ...] = (
    (1100.0, 2460.0, 13.0),   # 1.5 kOhm
    (400.0, 936.0, 20.0),     # 680 Ohm
    (164.0, 308.0, 32.0),     # 220 Ohm
    (80.0, 140.0, 63.0),      # 100 Ohm
)


def cable_ampacity(pp_ohm: float | None) -> float:
    """Ampacity of the plugged cable; 0 when no valid cable is detected."""
    if pp_ohm is None:
        return 0.0
    for low, high, amps in _PP_RANGES:
        if low <= pp_ohm <= high:
            return amps
    return 0.0
