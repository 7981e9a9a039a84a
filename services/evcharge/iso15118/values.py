"""PhysicalValue helpers shared by the SECC and the EV simulator (DIN 70121 and ISO 15118-2 shapes)."""

from __future__ import annotations

from typing import Any

_VALUE_MAX = 32767


def pv(value: float, unit: str) -> dict[str, Any]:
    """A PhysicalValue {Multiplier, Unit, Value}: the smallest multiplier (-3..3) that keeps Value in int16
    with the most precision."""
    value = float(value)
    for mult in (-3, -2, -1, 0, 1, 2, 3):
        scaled = round(value / (10.0 ** mult))
        if -_VALUE_MAX - 1 <= scaled <= _VALUE_MAX:
            return {"Multiplier": mult, "Unit": unit, "Value": int(scaled)}
    return {"Multiplier": 3, "Unit": unit, "Value": _VALUE_MAX if value > 0 else -_VALUE_MAX - 1}


def val(physical: dict[str, Any] | None, default: float = 0.0) -> float:
    """The float a PhysicalValue stands for."""
    if not physical:
        return default
    return physical["Value"] * (10.0 ** physical.get("Multiplier", 0))
