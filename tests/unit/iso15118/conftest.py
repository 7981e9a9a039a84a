"""A scripted EvseController for the pure SECC tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from evcharge.iso15118.secc import Limits


@dataclass
class FakeController:
    evse_id: str = "DE*EVC*E12345"
    dc: bool = False
    auth_answers: list[str] = field(default_factory=lambda: ["Accepted"])
    cable_answers: list[str] = field(default_factory=lambda: ["Ongoing", "Valid"])
    lim: Limits = field(default_factory=Limits)
    voltage: float = 0.0
    current: float = 0.0
    calls: list[tuple] = field(default_factory=list)

    def hlc_started(self, protocol, evcc_id, session_id):
        self.calls.append(("hlc_started", protocol, evcc_id, session_id))

    def authorization(self):
        ans = self.auth_answers.pop(0) if len(self.auth_answers) > 1 else self.auth_answers[0]
        self.calls.append(("authorization", ans))
        return ans

    def limits(self):
        return self.lim

    def cable_check(self):
        ans = self.cable_answers.pop(0) if len(self.cable_answers) > 1 else self.cable_answers[0]
        self.calls.append(("cable_check", ans))
        return ans

    def dc_setpoint(self, voltage_v, current_a):
        self.calls.append(("dc_setpoint", voltage_v, current_a))
        self.voltage, self.current = voltage_v, current_a  # an instant power supply

    def dc_present(self):
        return self.voltage, self.current

    def power_delivery(self, start, current_a):
        self.calls.append(("power_delivery", start, current_a))

    def meter_wh(self):
        return 1234.0

    def hlc_stopped(self, reason):
        self.calls.append(("hlc_stopped", reason))

    def named(self, name):
        return [c for c in self.calls if c[0] == name]


@pytest.fixture
def fake_controller():
    """FakeController class (call it with the fields to override)."""
    return FakeController
