"""The safety controller driven in closed loop with the simulated EV and hardware (no I/O)."""

import pytest
from evcharge.board.backends.base import PwmMode
from evcharge.board.backends.sim import SimulatedConnector
from evcharge.board.controller import (
    OFFER_WITHDRAWN_TIMEOUT_S,
    UNLOCK_AFTER_F_S,
    X1_AFTER_DIGITAL_S,
    ConnectorConfig,
    ConnectorController,
    Fault,
    OpenReason,
)
from evcharge.board.cp import CpState


class Loop:
    def __init__(self, **cfg):
        self.t = 100.0
        self.ctl = ConnectorController(ConnectorConfig(**cfg), now=self.t)
        self.hw = SimulatedConnector()
        self.ctl.heartbeat(self.t)

    def run(self, seconds=0.0, step=0.005, heartbeat=True):
        """Sample every `step` s for `seconds` (at least two samples, as the debounce needs)."""
        end = self.t + seconds
        n = 0
        while n < 3 or self.t < end:
            self.t += step
            if heartbeat:
                self.ctl.heartbeat(self.t)
            self.ctl.sample(self.hw.inputs(), self.t)
            self.hw.apply(self.ctl.outputs)
            n += 1
        return self

    def plug(self, pp=220.0):
        self.hw.plugged, self.hw.pp_ohm = True, pp
        return self.run()

    def authorize(self, amps=16.0):
        self.ctl.set_lock(True, self.t)
        self.ctl.set_offer(amps, self.t)
        self.hw.apply(self.ctl.outputs)
        return self.run()

    @property
    def state(self):
        return self.ctl.cp_state


def charging(**cfg):
    loop = Loop(**cfg).plug().authorize()
    assert loop.state is CpState.C and loop.ctl.outputs.contactor and loop.hw.contactor_physically_closed
    return loop


def test_unplugged_idle_is_x1_and_open():
    loop = Loop().run()
    assert loop.state is CpState.A
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH and not loop.ctl.outputs.contactor


def test_plug_in_without_offer_stays_b1():
    loop = Loop().plug()
    assert loop.state is CpState.B
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH  # B1: no PWM until authorized
    assert not loop.ctl.outputs.contactor


def test_offer_starts_pwm_and_ev_closes_contactor():
    loop = charging()
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM
    assert loop.ctl.outputs.duty_pct == pytest.approx(26.667)
    assert loop.ctl.outputs.lock


def test_no_contactor_without_lock():
    loop = Loop().plug()
    loop.ctl.set_offer(16, loop.t)
    loop.run()
    assert loop.state is CpState.C and not loop.ctl.outputs.contactor


def test_c_to_b_opens_contactor_at_once():
    loop = charging()
    loop.hw.ev_ready = False
    loop.run()
    assert not loop.ctl.outputs.contactor
    assert loop.ctl.last_open_reason is OpenReason.EV_NOT_READY
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM  # still offered: the EV may resume


def test_c_to_b_opens_within_100ms_of_the_change():
    loop = charging()
    loop.hw.ev_ready = False
    t0 = loop.t
    while loop.ctl.outputs.contactor:
        loop.run(0, step=0.010)
        assert loop.t - t0 < 0.1


def test_unplug_opens_and_unlocks_when_not_requested():
    loop = charging()
    loop.ctl.set_offer(0, loop.t)
    loop.hw.plugged = False
    loop.run()
    assert loop.state is CpState.A and not loop.ctl.outputs.contactor
    assert loop.ctl.last_open_reason in (OpenReason.UNPLUGGED, OpenReason.OFFER_WITHDRAWN)


def test_pp_caps_advertised_current():
    loop = Loop().plug(pp=1500.0).authorize(32.0)
    assert loop.ctl.advertised_a == 13.0
    assert loop.ctl.outputs.duty_pct == pytest.approx(13 / 0.6, abs=1e-3)


def test_invalid_pp_means_no_offer():
    loop = Loop().plug(pp=5000.0).authorize(32.0)
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH and not loop.ctl.outputs.contactor


def test_tethered_cable_uses_board_maximum():
    loop = Loop(socket=False, max_current_a=16.0).plug(pp=1500.0).authorize(32.0)
    assert loop.ctl.advertised_a == 16.0


def test_withdrawn_offer_waits_for_ev_then_opens():
    loop = charging()
    loop.ctl.set_offer(0, loop.t)
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH
    assert loop.ctl.outputs.contactor  # not under load while the EV may still be drawing
    loop.run()  # a well-behaved EV sees X1 and opens S2
    assert loop.state is CpState.B and not loop.ctl.outputs.contactor
    assert loop.ctl.last_open_reason is OpenReason.OFFER_WITHDRAWN


def test_ev_ignoring_x1_is_cut_after_6_s():
    loop = charging()
    loop.hw.ev_ignores_pwm = True
    loop.ctl.set_offer(0, loop.t)
    loop.run(OFFER_WITHDRAWN_TIMEOUT_S - 0.1, step=0.05)
    assert loop.ctl.outputs.contactor
    loop.run(0.2, step=0.05)
    assert not loop.ctl.outputs.contactor
    assert loop.ctl.last_open_reason is OpenReason.EV_IGNORED_STOP


def test_heartbeat_loss_opens_and_recovery_recloses():
    loop = charging(heartbeat_timeout_s=2.0)
    loop.run(1.9, step=0.05, heartbeat=False)
    assert loop.ctl.outputs.contactor
    loop.run(0.2, step=0.05, heartbeat=False)
    assert not loop.ctl.outputs.contactor
    assert Fault.HEARTBEAT in loop.ctl.faults
    assert loop.ctl.last_open_reason is OpenReason.HEARTBEAT
    loop.run(0.1)  # heartbeats again
    assert Fault.HEARTBEAT not in loop.ctl.faults
    assert loop.ctl.outputs.contactor


def test_rcd_trip_opens_drives_f_and_latches():
    loop = charging()
    loop.hw.rcd_tripped = True
    loop.run()
    assert not loop.ctl.outputs.contactor
    assert loop.ctl.outputs.pwm_mode is PwmMode.LOW
    assert Fault.RCD in loop.ctl.faults
    assert loop.ctl.reset_faults(loop.t) == []  # still tripped
    loop.hw.rcd_tripped = False
    loop.run()
    assert Fault.RCD in loop.ctl.faults  # latched until reset
    assert loop.ctl.reset_faults(loop.t) == [Fault.RCD]
    loop.run()
    # The offer made before the fault is void: no power until the session manager offers again.
    assert loop.ctl.offer_a == 0 and not loop.ctl.outputs.contactor
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH
    loop.ctl.set_offer(16, loop.t)
    loop.run()
    assert loop.ctl.outputs.contactor


def test_f_releases_lock_after_5_s():
    loop = charging()
    loop.hw.rcd_tripped = True
    loop.run(UNLOCK_AFTER_F_S - 0.2, step=0.05)
    assert loop.ctl.outputs.lock
    loop.run(0.3, step=0.05)
    assert not loop.ctl.outputs.lock


def test_missing_diode_is_a_fault():
    loop = Loop()
    loop.hw.diode_present = False
    loop.plug().authorize()
    assert Fault.DIODE in loop.ctl.faults
    assert not loop.ctl.outputs.contactor
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH
    loop.hw.plugged = False
    loop.run()
    assert Fault.DIODE not in loop.ctl.faults  # the faulty vehicle left


def test_welded_contactor_detected_and_keeps_lock():
    loop = charging()
    loop.hw.welded = True
    loop.hw.ev_ready = False
    loop.run(0.2)
    assert not loop.ctl.outputs.contactor
    assert loop.hw.contactor_physically_closed
    assert Fault.WELDED in loop.ctl.faults
    assert loop.ctl.outputs.pwm_mode is PwmMode.LOW
    loop.run(UNLOCK_AFTER_F_S + 1, step=0.1)
    assert loop.ctl.outputs.lock  # live pins: never release the plug


def test_contactor_failing_to_close_is_detected():
    loop = Loop().plug()
    loop.hw.has_contactor_feedback = True
    loop.ctl.set_lock(True, loop.t)
    loop.ctl.set_offer(16, loop.t)
    # A broken coil: the command never reaches the contacts.
    loop.hw.apply = lambda outputs: setattr(loop.hw, "outputs", outputs)
    loop.run(0.2)
    assert Fault.FAILED_TO_CLOSE in loop.ctl.faults
    assert not loop.ctl.outputs.contactor


def test_state_e_and_invalid_voltage_open():
    loop = charging()
    loop.hw.cp_level = lambda: 0.0  # CP shorted to PE
    loop.run()
    assert Fault.SHORT in loop.ctl.faults and not loop.ctl.outputs.contactor
    loop.hw.cp_level = lambda: -5.0
    loop.run()
    assert Fault.CP in loop.ctl.faults


def test_ventilation_request_is_refused():
    loop = Loop().plug()
    loop.hw.ventilation = True
    loop.authorize()
    assert loop.state is CpState.D
    assert Fault.VENTILATION in loop.ctl.faults and not loop.ctl.outputs.contactor


def test_link_loss_opens():
    loop = charging()
    loop.t += 0.01
    loop.ctl.sample(loop.hw.inputs(), loop.t, link_ok=False)
    assert not loop.ctl.outputs.contactor and Fault.LINK in loop.ctl.faults


def test_unlock_refused_while_energised():
    loop = charging()
    with pytest.raises(PermissionError):
        loop.ctl.set_lock(False, loop.t)


def test_offer_below_6_a_is_rejected():
    loop = Loop()
    with pytest.raises(ValueError):
        loop.ctl.set_offer(3.0, loop.t)


def test_duty_rises_at_most_every_5_s_but_falls_at_once():
    from evcharge.board.controller import DUTY_INCREASE_INTERVAL_S

    loop = charging()  # 16 A
    loop.ctl.set_offer(10, loop.t)
    assert loop.ctl.outputs.duty_pct == pytest.approx(16.667, abs=1e-3)  # lower: immediately
    loop.ctl.set_offer(32, loop.t)
    loop.run(DUTY_INCREASE_INTERVAL_S - 0.5, step=0.1)
    assert loop.ctl.outputs.duty_pct == pytest.approx(16.667, abs=1e-3)  # higher: held
    loop.run(0.6, step=0.1)
    assert loop.ctl.outputs.duty_pct == pytest.approx(53.333, abs=1e-3)
    loop.ctl.set_offer(20, loop.t)
    assert loop.ctl.outputs.duty_pct == pytest.approx(33.333, abs=1e-3)


# --- digital communication (ISO 15118 / DIN 70121: 5 % PWM) ------------------------------------

def digital(**cfg):
    loop = Loop(**cfg)
    loop.ctl.set_digital_communication(True, loop.t)
    loop.hw.ev_ready = False  # an HLC EV keeps S2 open until PowerDelivery
    return loop


def test_digital_communication_shows_5_percent_from_plug_in_without_offer():
    loop = digital().run()
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH  # no EV: X1
    loop.plug()
    assert loop.state is CpState.B
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM and loop.ctl.outputs.duty_pct == 5.0
    assert not loop.ctl.outputs.contactor
    st = loop.ctl.status()
    assert st.digital_communication and st.advertised_a == 0.0


def test_digital_communication_contactor_needs_c_offer_and_lock():
    loop = digital().plug()
    loop.hw.ev_ready = True
    loop.run()
    assert loop.state is CpState.C and not loop.ctl.outputs.contactor  # C but no offer
    loop.ctl.set_offer(16.0, loop.t)
    loop.run()
    assert not loop.ctl.outputs.contactor  # offer but not locked
    loop.ctl.set_lock(True, loop.t)
    loop.run()
    assert loop.ctl.outputs.contactor and loop.ctl.outputs.duty_pct == 5.0
    assert loop.hw.ev_current_a == loop.hw.ev_max_current_a  # the sim EV draws what HLC agreed


def test_digital_communication_opens_on_c_to_b_and_on_faults():
    loop = digital().plug()
    loop.ctl.set_lock(True, loop.t)
    loop.ctl.set_offer(16.0, loop.t)
    loop.hw.ev_ready = True
    loop.run()
    assert loop.ctl.outputs.contactor
    loop.hw.ev_ready = False  # PowerDelivery(Stop): the EV opens S2
    loop.run()
    assert not loop.ctl.outputs.contactor and loop.ctl.last_open_reason is OpenReason.EV_NOT_READY
    assert loop.ctl.outputs.duty_pct == 5.0  # still connected, still digital
    loop.hw.ev_ready = True
    loop.run()
    assert loop.ctl.outputs.contactor
    loop.hw.rcd_tripped = True
    loop.run()
    assert not loop.ctl.outputs.contactor and loop.ctl.outputs.pwm_mode is PwmMode.LOW


def test_digital_communication_off_returns_to_nominal_pwm():
    loop = digital().plug()
    loop.ctl.set_lock(True, loop.t)
    loop.ctl.set_offer(16.0, loop.t)
    loop.run()
    assert loop.ctl.outputs.duty_pct == 5.0
    loop.ctl.set_digital_communication(False, loop.t)
    loop.run(X1_AFTER_DIGITAL_S + 0.1)
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM and loop.ctl.outputs.duty_pct == pytest.approx(16.0 / 0.6, abs=0.01)
    loop.ctl.set_offer(0.0, loop.t)
    loop.run()
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH


def test_leaving_5_percent_shows_x1_for_3_s_before_nominal_pwm():
    loop = digital().plug()
    loop.ctl.set_lock(True, loop.t)
    loop.ctl.set_offer(16.0, loop.t)
    loop.hw.ev_ready = True
    loop.run()
    assert loop.ctl.outputs.duty_pct == 5.0 and loop.ctl.outputs.contactor
    off_at = loop.t
    loop.ctl.set_digital_communication(False, off_at)
    # X1 at once, the contactor opens (no PWM), and the timer is explicit
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH and not loop.ctl.outputs.contactor
    assert loop.ctl.x1_gap_until == pytest.approx(off_at + X1_AFTER_DIGITAL_S)
    loop.run(X1_AFTER_DIGITAL_S - 0.05)
    assert loop.t < off_at + X1_AFTER_DIGITAL_S
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH and not loop.ctl.outputs.contactor
    loop.t = off_at + X1_AFTER_DIGITAL_S
    loop.ctl.tick(loop.t)
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM
    assert loop.ctl.outputs.duty_pct == pytest.approx(16.0 / 0.6, abs=0.01)
    loop.run(0.1)
    assert loop.ctl.outputs.contactor  # basic charging: the EV in C closes it again


def test_x1_gap_also_when_the_offer_comes_after_5_percent_ended():
    loop = digital().plug()
    loop.ctl.set_lock(True, loop.t)
    off_at = loop.t
    loop.ctl.set_digital_communication(False, off_at)  # no offer yet: X1
    loop.run(1.0)
    loop.ctl.set_offer(16.0, loop.t)  # offered 1 s later: still inside the 3 s
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH
    loop.run(X1_AFTER_DIGITAL_S - 1.0 - 0.1)
    assert loop.ctl.outputs.pwm_mode is PwmMode.HIGH
    loop.ctl.tick(off_at + X1_AFTER_DIGITAL_S)
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM


def test_no_x1_gap_without_prior_5_percent_or_after_unplug():
    loop = Loop().plug().authorize()
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM and loop.ctl.x1_gap_until is None
    loop = digital().plug()
    loop.ctl.set_digital_communication(False, loop.t)
    loop.hw.plugged = False
    loop.run()
    assert loop.ctl.x1_gap_until is None
    loop.hw.plugged = True
    loop.run()
    loop.ctl.set_lock(True, loop.t)
    loop.ctl.set_offer(16.0, loop.t)
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM  # a new plug-in owes no gap


def test_ef_pulse_shows_f_then_5_percent_again():
    from evcharge.board.controller import EF_PULSE_MAX_S

    loop = digital().plug()
    assert loop.ctl.outputs.duty_pct == 5.0
    start = loop.t
    loop.ctl.pulse_state_f(4.0, start)
    assert loop.ctl.outputs.pwm_mode is PwmMode.LOW and loop.ctl.ef_pulse_until == pytest.approx(start + 4.0)
    loop.run(3.9)
    assert loop.ctl.outputs.pwm_mode is PwmMode.LOW and not loop.ctl.faults
    assert loop.state is CpState.B  # kept while we drive -12 V
    loop.run(0.2)
    assert loop.ctl.outputs.pwm_mode is PwmMode.PWM and loop.ctl.outputs.duty_pct == 5.0
    assert loop.ctl.ef_pulse_until is None
    with pytest.raises(ValueError):
        loop.ctl.pulse_state_f(EF_PULSE_MAX_S + 1, loop.t)


def test_ef_pulse_refused_while_the_contactor_is_closed():
    loop = charging()
    with pytest.raises(PermissionError):
        loop.ctl.pulse_state_f(4.0, loop.t)
    assert loop.ctl.outputs.contactor and loop.ctl.outputs.pwm_mode is PwmMode.PWM
