"""Simulated hardware and a simulated EV, for software-in-the-loop and tests.

The model is electrical enough for the board logic to be exercised unchanged: the EV's S2
switch and resistors set the CP level, the diode shapes the negative plateau, the PP resistor
codes the cable, the contactor has an auxiliary contact that can weld, and the RCD can trip.
A well-behaved EV closes S2 (B -> C) only when it sees PWM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..profile import BoardProfile
from ..signalling import DIGITAL_COMMUNICATION_DUTY_PCT, current_for_duty
from .base import BoardBackend, ConnectorInputs, ConnectorOutputs, PwmMode

DEFAULT_PP_OHM = 220.0  # a 32 A cable


@dataclass
class SimulatedConnector:
    phases: int = 3
    has_lock_feedback: bool = True
    has_contactor_feedback: bool = True
    outputs: ConnectorOutputs = field(default_factory=ConnectorOutputs)
    # the vehicle
    plugged: bool = False
    pp_ohm: float = DEFAULT_PP_OHM
    ev_ready: bool = True             # the EV wants energy and will close S2 on PWM
    ev_ignores_pwm: bool = False      # a misbehaving EV that closes S2 without PWM / ignores X1
    diode_present: bool = True
    ventilation: bool = False         # requests D instead of C
    ev_max_current_a: float = 32.0
    # the hardware
    contactor_physically_closed: bool = False
    welded: bool = False
    rcd_tripped: bool = False

    def cp_level(self) -> float:
        if not self.plugged:
            return 12.0
        pwm = self.outputs.pwm_mode is PwmMode.PWM
        if self.ev_ready and (pwm or self.ev_ignores_pwm):
            return 3.0 if self.ventilation else 6.0
        return 9.0

    def inputs(self) -> ConnectorInputs:
        mode = self.outputs.pwm_mode
        if mode is PwmMode.LOW:
            high = low = -12.0
        else:
            high = self.cp_level()
            if mode is PwmMode.PWM:
                # The EV diode blocks the negative half; without it the EV's resistors load it too.
                low = -12.0 if (not self.plugged or self.diode_present) else -high
            else:
                low = high  # steady DC: there is no negative plateau
        return ConnectorInputs(
            cp_high_v=high, cp_low_v=low,
            pp_ohm=self.pp_ohm if self.plugged else None,
            contactor_closed=self.contactor_physically_closed if self.has_contactor_feedback else None,
            rcd_tripped=self.rcd_tripped,
            locked=self.outputs.lock if self.has_lock_feedback else None,
        )

    def apply(self, outputs: ConnectorOutputs) -> None:
        self.outputs = outputs
        if outputs.contactor:
            self.contactor_physically_closed = True
        elif not self.welded:
            self.contactor_physically_closed = False

    @property
    def ev_current_a(self) -> float:
        """Per-phase current the EV draws: what the duty cycle allows, up to its own maximum."""
        if not (self.contactor_physically_closed and self.plugged and self.ev_ready):
            return 0.0
        offered = current_for_duty(self.outputs.duty_pct) if self.outputs.pwm_mode is PwmMode.PWM else 0.0
        if self.outputs.pwm_mode is PwmMode.PWM and self.outputs.duty_pct == DIGITAL_COMMUNICATION_DUTY_PCT:
            offered = self.ev_max_current_a  # 5 %: the current was agreed over ISO 15118 (SetEvMaxCurrent)
        if self.ev_ignores_pwm and offered == 0.0:
            offered = self.ev_max_current_a
        return min(self.ev_max_current_a, offered)


class SimBackend(BoardBackend):
    def __init__(self, profile: BoardProfile) -> None:
        self.connectors = {c.id: SimulatedConnector(phases=c.phases, has_lock_feedback=c.lock,
                                                    has_contactor_feedback=c.contactor_feedback)
                           for c in profile.connectors}
        self._on_input: Callable[[int], None] = lambda _cid: None
        # Told after every change of simulated state so the D-Bus Sim interface can publish it.
        self.on_sim_change: Callable[[int], None] = lambda _cid: None

    async def start(self, on_input: Callable[[int], None]) -> None:
        self._on_input = on_input

    async def stop(self) -> None:
        for c in self.connectors.values():
            c.apply(ConnectorOutputs())

    def read(self, connector_id: int) -> ConnectorInputs:
        return self.connectors[connector_id].inputs()

    def apply(self, connector_id: int, outputs: ConnectorOutputs) -> None:
        c = self.connectors[connector_id]
        if outputs == c.outputs:
            return
        before = c.inputs()
        c.apply(outputs)
        self.on_sim_change(connector_id)
        if c.inputs() != before:
            self._on_input(connector_id)

    def change(self, connector_id: int, **changes: object) -> None:
        """Change the simulated EV or hardware (from the Sim D-Bus interface)."""
        c = self.connectors[connector_id]
        for name, value in changes.items():
            if not hasattr(c, name):
                raise AttributeError(name)
            setattr(c, name, value)
        if "welded" in changes and not changes["welded"] and not c.outputs.contactor:
            c.contactor_physically_closed = False
        self.on_sim_change(connector_id)
        self._on_input(connector_id)
