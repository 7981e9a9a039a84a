"""The per-connector safety controller: a pure state machine fed samples, requests and time.

It decides PWM, contactor and lock from the CP/PP readings, the contactor's feedback, the RCD,
the evse service's offer and heartbeat. No I/O and no clock of its own: the adapter passes
`now` (monotonic seconds) with every call, which makes every timing rule testable exactly.

Rules (IEC 61851-1 as in notes/field-notes.md):
- Power flows only in C (D only where ventilation is supported, which this board is not) with
  PWM running, an offer >= 6 A, a live heartbeat and no fault.
- The contactor opens at once on C->B, unplug, E, F, invalid CP, any fault and heartbeat loss.
  When only the offer is withdrawn (stop/pause) PWM goes to X1 and the EV is given 6 s to leave C
  before the contactor opens under load.
- Leaving 5 % PWM (digital communication) for a nominal duty cycle shows X1 for 3 s first.
- Feedback contacts must follow the command within the profile's timeout: staying closed after
  an open command is a welded contactor; staying open after close is a failure to close.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .backends.base import ConnectorInputs, ConnectorOutputs, PwmMode
from .cp import CpState, Debouncer, classify, diode_ok
from .signalling import (
    DIGITAL_COMMUNICATION_DUTY_PCT,
    MIN_CURRENT_A,
    cable_ampacity,
    current_for_duty,
    duty_for_current,
)

OFFER_WITHDRAWN_TIMEOUT_S = 6.0
UNLOCK_AFTER_F_S = 5.0
# The duty cycle may rise at most once per 5 s (IEC 61851-1 practice). A lower limit applies at
# once: it protects the grid connection, and the EV has its own 5 s to follow it.
DUTY_INCREASE_INTERVAL_S = 5.0
# Between 5 % (digital communication) and a nominal duty cycle the EV must see X1 for at least 3 s
# (IEC 61851-1 A.6 / ISO 15118-3): it tells an HLC EV that the charger fell back to basic charging.
X1_AFTER_DIGITAL_S = 3.0
# E/F wake-up (ISO 15118-3 T_step_EF, at least 4 s): state F shown on request, e.g. to make the EV
# restart SLAC after a failed matching.
EF_PULSE_MAX_S = 10.0


class Fault(str, enum.Enum):
    RCD = "RcdTrip"
    WELDED = "ContactorWelded"
    FAILED_TO_CLOSE = "ContactorFailedToClose"
    DIODE = "DiodeFault"
    CP = "CpInvalid"
    SHORT = "CpShortCircuit"          # state E
    VENTILATION = "VentilationNotAvailable"  # state D
    HEARTBEAT = "HeartbeatLost"
    LINK = "HardwareLinkLost"


# Faults that only ResetFault clears (after their cause is gone), and those of them that put the
# CP into F so the EV sees "EVSE not available" until someone acts.
LATCHED = frozenset({Fault.RCD, Fault.WELDED, Fault.FAILED_TO_CLOSE, Fault.DIODE})
DRIVES_F = frozenset({Fault.RCD, Fault.WELDED})
# Latched faults that an unplug (state A) clears: the vehicle or cable that caused them is gone.
CLEARED_BY_UNPLUG = frozenset({Fault.DIODE, Fault.FAILED_TO_CLOSE})
PRIORITY = (Fault.WELDED, Fault.RCD, Fault.LINK, Fault.FAILED_TO_CLOSE, Fault.DIODE, Fault.SHORT,
            Fault.CP, Fault.VENTILATION, Fault.HEARTBEAT)


class OpenReason(str, enum.Enum):
    NONE = ""
    EV_NOT_READY = "EvNotReady"          # C -> B
    UNPLUGGED = "Unplugged"              # -> A
    OFFER_WITHDRAWN = "OfferWithdrawn"   # evse stopped or paused and the EV left C
    EV_IGNORED_STOP = "EvIgnoredStop"    # offer withdrawn and the EV stayed in C for 6 s
    FAULT = "Fault"
    HEARTBEAT = "HeartbeatLost"


@dataclass(frozen=True)
class ConnectorConfig:
    max_current_a: float = 32.0
    socket: bool = True
    lock: bool = True
    contactor_feedback: bool = True
    rcd: bool = True
    feedback_timeout_s: float = 0.1
    heartbeat_timeout_s: float = 2.0


@dataclass(frozen=True)
class Status:
    """What the adapter publishes; compared between steps to emit changes."""

    cp_state: CpState
    pwm_mode: PwmMode
    duty_pct: float
    offer_a: float
    advertised_a: float
    cable_max_a: float
    contactor_closed: bool
    contactor_feedback: bool | None
    locked: bool
    faults: tuple[Fault, ...]
    last_open_reason: OpenReason
    digital_communication: bool = False


@dataclass
class ConnectorController:
    cfg: ConnectorConfig
    now: float = 0.0
    offer_a: float = 0.0
    lock_requested: bool = False
    # ISO 15118 / DIN 70121: PWM shows 5 % (digital communication) instead of a current, which is
    # negotiated over HLC. The contactor rules are unchanged (C, offer >= 6 A, lock, no fault).
    digital_communication: bool = False
    _cp: Debouncer = field(default_factory=lambda: Debouncer(CpState.A))
    _diode: Debouncer = field(default_factory=lambda: Debouncer(True))
    _inputs: ConnectorInputs = field(default_factory=lambda: ConnectorInputs(cp_high_v=12.0, cp_low_v=12.0))
    _faults: set[Fault] = field(default_factory=set)
    _heartbeat_at: float | None = None
    _contactor: bool = False
    _contactor_changed_at: float = 0.0
    _withdrawn_at: float | None = None
    _f_since: float | None = None
    _link_ok: bool = True
    _stale: bool = False  # set on leaving F: the last CP state predates it
    _duty_changed_at: float = float("-inf")
    _digital_ended_at: float | None = None  # 5 % PWM stopped showing here; nominal PWM waits X1_AFTER_DIGITAL_S
    _ef_until: float | None = None  # an E/F wake-up pulse (state F) runs until then
    last_open_reason: OpenReason = OpenReason.NONE
    outputs: ConnectorOutputs = field(default_factory=ConnectorOutputs)

    def __post_init__(self) -> None:
        # Until the first heartbeat, give the evse service one timeout to show up.
        self._heartbeat_at = self.now

    # --- requests -------------------------------------------------------------------------
    def set_offer(self, current_a: float, now: float) -> None:
        """0 withdraws the offer; otherwise >= 6 A (the caller validated the range)."""
        if current_a > 0 and current_a < MIN_CURRENT_A:
            raise ValueError(f"an offer is 0 or at least {MIN_CURRENT_A:g} A")
        if current_a == 0 and self.offer_a > 0:
            self._withdrawn_at = now
        elif current_a > 0:
            self._withdrawn_at = None
        self.offer_a = current_a
        self._step(now)

    def set_digital_communication(self, enabled: bool, now: float) -> None:
        self.digital_communication = enabled
        self._step(now)

    def pulse_state_f(self, duration_s: float, now: float) -> None:
        """Show state F for `duration_s` (the E/F wake-up of ISO 15118-3), then carry on; refused
        while the contactor is closed (a wake-up is never a way to break load)."""
        if not (0.0 < duration_s <= EF_PULSE_MAX_S):
            raise ValueError(f"an E/F pulse lasts more than 0 and at most {EF_PULSE_MAX_S:g} s")
        if self._contactor:
            raise PermissionError("no E/F pulse while the contactor is closed")
        self._ef_until = now + duration_s
        self._step(now)

    @property
    def ef_pulse_until(self) -> float | None:
        return self._ef_until

    def heartbeat(self, now: float) -> None:
        self._heartbeat_at = now
        self._step(now)

    def set_lock(self, locked: bool, now: float) -> None:
        if not locked and self._contactor:
            raise PermissionError("the connector stays locked while the contactor is closed")
        self.lock_requested = locked
        self._step(now)

    def reset_faults(self, now: float) -> list[Fault]:
        """Clear latched faults whose cause is gone; returns those cleared."""
        cleared = []
        for f in sorted(self._faults & LATCHED, key=PRIORITY.index):
            if f is Fault.RCD and self._inputs.rcd_tripped:
                continue
            if f is Fault.WELDED and self._inputs.contactor_closed:
                continue
            self._faults.discard(f)
            cleared.append(f)
        if cleared:
            # Back from F: the CP level must be read afresh before anything is allowed.
            self._f_since = None
            self._stale = True
        self._step(now)
        return cleared

    # --- hardware -------------------------------------------------------------------------
    def sample(self, inputs: ConnectorInputs, now: float, link_ok: bool = True) -> None:
        self._inputs = inputs
        self._link_ok = link_ok
        self._stale = False
        driving_f = self.outputs.pwm_mode is PwmMode.LOW
        if not driving_f:
            # In F we drive -12 V ourselves and cannot see the vehicle: keep the last state.
            raw = classify(inputs.cp_high_v, self._cp.value)  # type: ignore[arg-type]
            self._cp.feed(raw)
            if self.outputs.pwm_mode is PwmMode.PWM and self.cp_state.vehicle_connected:
                self._diode.feed(diode_ok(inputs.cp_low_v, bool(self._diode.value)))
        self._step(now)

    def tick(self, now: float) -> None:
        self._step(now)

    @property
    def cp_state(self) -> CpState:
        return self._cp.value  # type: ignore[return-value]

    @property
    def cp_pending(self) -> bool:
        """A differing sample awaits confirmation: the adapter should re-sample soon."""
        return self._cp.pending or self._diode.pending

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(sorted(self._faults, key=PRIORITY.index))

    @property
    def cable_max_a(self) -> float:
        if not self.cfg.socket:
            return self.cfg.max_current_a
        return cable_ampacity(self._inputs.pp_ohm) if self.cp_state.vehicle_connected else 0.0

    @property
    def advertised_a(self) -> float:
        cap = min(self.offer_a, self.cfg.max_current_a, self.cable_max_a)
        return cap if cap >= MIN_CURRENT_A else 0.0

    @property
    def signalled_a(self) -> float:
        """What the PWM tells the EV now (lags advertised_a while a rise waits its turn)."""
        if self.outputs.pwm_mode is not PwmMode.PWM:
            return 0.0
        return round(current_for_duty(self.outputs.duty_pct), 1)

    def status(self) -> Status:
        return Status(cp_state=self.cp_state, pwm_mode=self.outputs.pwm_mode, duty_pct=self.outputs.duty_pct,
                      offer_a=self.offer_a, advertised_a=self.signalled_a,
                      cable_max_a=self.cable_max_a, contactor_closed=self._contactor,
                      contactor_feedback=self._inputs.contactor_closed if self.cfg.contactor_feedback else None,
                      locked=self.outputs.lock, faults=self.faults, last_open_reason=self.last_open_reason,
                      digital_communication=self.digital_communication)

    # --- the decision -----------------------------------------------------------------------
    def _step(self, now: float) -> None:
        self.now = now
        self._update_faults(now)
        state = self.cp_state
        faults = self._faults

        # PWM
        if self._ef_until is not None and now >= self._ef_until:
            self._ef_until = None
            self._stale = True  # back from F: the CP level must be read afresh
        if faults & DRIVES_F:
            mode, duty = PwmMode.LOW, 0.0
            if self._f_since is None:
                self._f_since = now
        elif self._ef_until is not None and state.vehicle_connected:
            mode, duty = PwmMode.LOW, 0.0  # E/F wake-up pulse
        elif state.vehicle_connected and self.digital_communication and not faults:
            # 5 % from plug-in on, offer or not: the EV needs it to start the HLC (SLAC, SDP).
            mode, duty = PwmMode.PWM, DIGITAL_COMMUNICATION_DUTY_PCT
        elif state.vehicle_connected and self.advertised_a > 0 and not faults and not self._in_x1_gap(now):
            mode, duty = PwmMode.PWM, self._rate_limited_duty(duty_for_current(self.advertised_a), now)
        else:
            mode, duty = PwmMode.HIGH, 100.0
        if not faults & DRIVES_F:
            self._f_since = None
        showing_digital = mode is PwmMode.PWM and duty == DIGITAL_COMMUNICATION_DUTY_PCT
        if self._showing_digital() and not showing_digital:
            self._digital_ended_at = now
        if not state.vehicle_connected:
            self._ef_until = None
        if showing_digital or not state.vehicle_connected:
            self._digital_ended_at = None  # an unplug ends the EV's HLC attempt: no gap owed to the next one

        # Contactor
        want = (state is CpState.C and mode is PwmMode.PWM and self.advertised_a > 0 and not faults
                and not self._stale and self._lock_ok())
        if want:
            self._set_contactor(True, OpenReason.NONE, now)
        elif self._contactor:
            reason = self._open_reason(state)
            if reason is OpenReason.OFFER_WITHDRAWN and state is CpState.C:
                # Give the EV its 6 s to stop drawing current and leave C before we break load.
                assert self._withdrawn_at is not None
                if now - self._withdrawn_at >= OFFER_WITHDRAWN_TIMEOUT_S:
                    self._set_contactor(False, OpenReason.EV_IGNORED_STOP, now)
            else:
                self._set_contactor(False, reason, now)

        # Lock: held while energised or asked for; a welded contactor keeps it locked (live pins);
        # 5 s in F releases it so a cable can be removed from a faulted charger.
        lock = self.cfg.lock and (self.lock_requested or self._contactor or Fault.WELDED in faults)
        if lock and self._f_since is not None and now - self._f_since >= UNLOCK_AFTER_F_S \
                and Fault.WELDED not in faults and not self._contactor:
            lock = False
        self.outputs = ConnectorOutputs(pwm_mode=mode, duty_pct=round(duty, 3), contactor=self._contactor, lock=lock)

    def _showing_digital(self) -> bool:
        return self.outputs.pwm_mode is PwmMode.PWM and self.outputs.duty_pct == DIGITAL_COMMUNICATION_DUTY_PCT

    def _in_x1_gap(self, now: float) -> bool:
        if self._showing_digital():
            return True  # leaving 5 % for a nominal duty: X1 first
        return self._digital_ended_at is not None and now - self._digital_ended_at < X1_AFTER_DIGITAL_S

    @property
    def x1_gap_until(self) -> float | None:
        """When the X1 owed after 5 % PWM ends (None: none owed); nominal PWM may start then."""
        if self._digital_ended_at is None:
            return None
        return self._digital_ended_at + X1_AFTER_DIGITAL_S

    def _rate_limited_duty(self, wanted: float, now: float) -> float:
        current = self.outputs.duty_pct if self.outputs.pwm_mode is PwmMode.PWM else None
        if current is None or wanted < current:
            self._duty_changed_at = now  # starting PWM or lowering: at once
            return wanted
        if wanted > current and now - self._duty_changed_at >= DUTY_INCREASE_INTERVAL_S:
            self._duty_changed_at = now
            return wanted
        return current

    def _lock_ok(self) -> bool:
        if not self.cfg.lock:
            return True
        if not (self.lock_requested or self._contactor):
            return False
        return self._inputs.locked is not False

    def _open_reason(self, state: CpState) -> OpenReason:
        if self._faults - {Fault.HEARTBEAT}:
            return OpenReason.FAULT
        if Fault.HEARTBEAT in self._faults:
            return OpenReason.HEARTBEAT
        if state is CpState.A:
            return OpenReason.UNPLUGGED
        if state is CpState.C and self.offer_a == 0:
            return OpenReason.OFFER_WITHDRAWN
        if state is CpState.B and self.offer_a == 0 and self._withdrawn_at is not None:
            return OpenReason.OFFER_WITHDRAWN
        if state is CpState.B:
            return OpenReason.EV_NOT_READY
        return OpenReason.FAULT

    def _set_contactor(self, closed: bool, reason: OpenReason, now: float) -> None:
        if closed != self._contactor:
            self._contactor = closed
            self._contactor_changed_at = now
            if not closed:
                self.last_open_reason = reason

    def _update_faults(self, now: float) -> None:
        f = self._faults
        before = set(f)
        inputs = self._inputs
        state = self.cp_state

        def set_(fault: Fault, active: bool) -> None:
            (f.add if active else f.discard)(fault)

        set_(Fault.LINK, not self._link_ok)
        assert self._heartbeat_at is not None
        set_(Fault.HEARTBEAT, now - self._heartbeat_at > self.cfg.heartbeat_timeout_s)
        set_(Fault.CP, state is CpState.INVALID)
        set_(Fault.SHORT, state is CpState.E)
        set_(Fault.VENTILATION, state is CpState.D)
        if self.cfg.rcd and inputs.rcd_tripped:
            f.add(Fault.RCD)
        if self.outputs.pwm_mode is PwmMode.PWM and state.vehicle_connected and not self._diode.value:
            f.add(Fault.DIODE)
        if state is CpState.A:
            f.difference_update(CLEARED_BY_UNPLUG)
            self._diode.value = True
            self._withdrawn_at = None
        if self.cfg.contactor_feedback and inputs.contactor_closed is not None \
                and inputs.contactor_closed != self._contactor \
                and now - self._contactor_changed_at >= self.cfg.feedback_timeout_s:
            f.add(Fault.FAILED_TO_CLOSE if self._contactor else Fault.WELDED)
        if (f & LATCHED) - before:
            # A latched fault cancels the standing offer: after a reset, power needs a new,
            # deliberate offer from the session manager, never one made before the fault.
            self.offer_a = 0.0
            self._withdrawn_at = None
        # A fault that breaks the circuit has to open the contactor before the decision runs,
        # so that FAILED_TO_CLOSE does not re-close in the same step.
        if f and self._contactor:
            self._set_contactor(False, OpenReason.HEARTBEAT if f == {Fault.HEARTBEAT} else OpenReason.FAULT, now)
