"""What the board logic needs from hardware, whichever hardware it is.

The controller is pure; a backend turns its outputs into pins (or frames, or simulated state)
and its pins into inputs. `read()` and `apply()` are synchronous and cheap: backends that talk
over a link (the MCU) keep the latest status in memory and queue writes.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass


class PwmMode(enum.Enum):
    HIGH = "high"  # steady +12 V (state X1: no PWM)
    PWM = "pwm"    # 1 kHz +/-12 V at duty_pct
    LOW = "low"    # steady -12 V (state F: EVSE not available)


@dataclass(frozen=True)
class ConnectorInputs:
    cp_high_v: float             # positive plateau of the CP signal
    cp_low_v: float              # negative plateau (meaningful while PWM runs or in F)
    pp_ohm: float | None = None  # proximity resistor; None where the cable is tethered
    contactor_closed: bool | None = None  # auxiliary contact; None where there is none
    rcd_tripped: bool = False
    locked: bool | None = None   # lock feedback; None where there is none


@dataclass(frozen=True)
class ConnectorOutputs:
    pwm_mode: PwmMode = PwmMode.HIGH
    duty_pct: float = 100.0
    contactor: bool = False
    lock: bool = False


SAFE_OUTPUTS = ConnectorOutputs(pwm_mode=PwmMode.HIGH, duty_pct=100.0, contactor=False, lock=False)


class BoardBackend(ABC):
    """One backend drives every connector of a board."""

    @abstractmethod
    async def start(self, on_input: Callable[[int], None]) -> None:
        """Open the hardware. Push backends call `on_input(connector_id)` when inputs changed,
        so the controller need not wait for its next poll."""

    @abstractmethod
    async def stop(self) -> None:
        """Leave every connector safe (contactor open) and release the hardware."""

    @abstractmethod
    def read(self, connector_id: int) -> ConnectorInputs: ...

    @abstractmethod
    def apply(self, connector_id: int, outputs: ConnectorOutputs) -> None: ...

    @property
    def link_ok(self) -> bool:
        """False while the hardware cannot be reached (e.g. MCU silent): the controller faults."""
        return True


class BackendError(Exception):
    """The hardware described by the profile is missing or does not answer."""
