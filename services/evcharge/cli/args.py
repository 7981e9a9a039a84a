"""Argument types: clear messages for what the CLI can judge itself (exit 2, usage).

Only the shape is checked here (a connector is a positive integer, amps a finite number); whether
connector 7 exists or 90 A is allowed is for the service to say.
"""

from __future__ import annotations

import argparse
import math

SITE = 0  # the energy service's id for the whole site

# PP resistor coding of Type 2 cables (IEC 61851-1): cable ampacity -> ohms.
CABLE_OHM = {13: 1500.0, 20: 680.0, 32: 220.0, 63: 100.0}


def connector(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"connector must be a positive integer (1, 2, ...), got {text!r}")
    return value


def connector_or_site(text: str) -> int:
    if text.strip().lower() == "site":
        return SITE
    try:
        return connector(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a connector number (1, 2, ...) or 'site', got {text!r}") from None


def number(text: str, what: str = "amps") -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{what} must be a non-negative number, got {text!r}")
    return value


def amps(text: str) -> float:
    return number(text, "amps")


def ohms(text: str) -> float:
    value = number(text, "resistance")
    if value == 0:
        raise argparse.ArgumentTypeError("resistance must be greater than 0 ohm")
    return value


def cable(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value not in CABLE_OHM:
        raise argparse.ArgumentTypeError(f"cable must be one of {', '.join(map(str, CABLE_OHM))} (amps), got {text!r}")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value
