"""The board's D-Bus interfaces. Only translation and argument checks live here.

No `from __future__ import annotations`: dbus-fast reads the D-Bus signatures from the
annotation strings.
"""

import math
from typing import TYPE_CHECKING

from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

from ..common import names
from ..common.errors import InvalidArgument, InvalidState
from .controller import EF_PULSE_MAX_S
from .signalling import MAX_CURRENT_A, MIN_CURRENT_A

if TYPE_CHECKING:
    from .service import BoardService, ConnectorRuntime


class BoardInterface(ServiceInterface):
    """org.evcharge.Board1 on /org/evcharge/Board1: the board as a whole."""

    def __init__(self, svc: "BoardService") -> None:
        super().__init__(names.BOARD)
        self._svc = svc

    @method()
    def Heartbeat(self) -> None:
        """The evse service's sign of life; without it for HeartbeatTimeoutS the board makes itself safe."""
        self._svc.heartbeat()

    @dbus_property(access=PropertyAccess.READ)
    def BoardName(self) -> "s":
        """Name of the loaded board profile."""
        return self._svc.profile.name

    @dbus_property(access=PropertyAccess.READ)
    def Backend(self) -> "s":
        """sim, linux or mcu."""
        return self._svc.profile.backend.value

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorIds(self) -> "au":
        """Connectors of this board."""
        return [c.id for c in self._svc.profile.connectors]

    @dbus_property(access=PropertyAccess.READ)
    def HeartbeatTimeoutS(self) -> "d":
        """Longest gap between two Heartbeat calls before the board makes every connector safe."""
        return self._svc.profile.heartbeat_timeout_s


class ConnectorInterface(ServiceInterface):
    """org.evcharge.Board1.Connector on /org/evcharge/Board1/Connector/<id>."""

    def __init__(self, rt: "ConnectorRuntime") -> None:
        super().__init__(names.BOARD_CONNECTOR_IFACE)
        self._rt = rt

    @method()
    def SetOffer(self, current_a: "d") -> None:
        """Offer up to current_a amps (0 withdraws the offer; else 6..80 A, capped by cable and board)."""
        if math.isnan(current_a) or not (current_a == 0 or MIN_CURRENT_A <= current_a <= MAX_CURRENT_A):
            raise InvalidArgument(f"current_a must be 0 (no offer) or between {MIN_CURRENT_A:g} and "
                                  f"{MAX_CURRENT_A:g} A, got {current_a!r}")
        self._rt.set_offer(current_a)

    @method()
    def SetLock(self, locked: "b") -> None:
        """Lock or release the connector; refused while the contactor is closed."""
        try:
            self._rt.set_lock(locked)
        except PermissionError as e:
            raise InvalidState(str(e)) from None

    @method()
    def SetDigitalCommunication(self, enabled: "b") -> None:
        """ISO 15118 / DIN 70121 on this connector: PWM shows 5 % while an EV is connected (the current is
        negotiated digitally); the contactor still needs state C, an offer, the lock and no fault."""
        self._rt.set_digital_communication(enabled)

    @method()
    def PulseStateF(self, duration_s: "d") -> None:
        """E/F wake-up (ISO 15118-3): show state F for duration_s (0 < s <= 10; the standard's T_step_EF is
        at least 4 s) while an EV is connected, then carry on (5 % again with digital communication), so
        the EV restarts SLAC. Refused while the contactor is closed (InvalidState)."""
        if math.isnan(duration_s) or not (0.0 < duration_s <= EF_PULSE_MAX_S):
            raise InvalidArgument(f"duration_s must be more than 0 and at most {EF_PULSE_MAX_S:g} s, got {duration_s!r}")
        try:
            self._rt.pulse_state_f(duration_s)
        except PermissionError as e:
            raise InvalidState(str(e)) from None

    @method()
    def ResetFault(self) -> "as":
        """Clear latched faults whose cause is gone; returns the faults cleared."""
        return [f.value for f in self._rt.reset_faults()]

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorId(self) -> "u":
        """This connector."""
        return self._rt.profile.id

    @dbus_property(access=PropertyAccess.READ)
    def MaxCurrentA(self) -> "d":
        """The connector's hardware maximum (board profile)."""
        return self._rt.profile.max_current_a

    @dbus_property(access=PropertyAccess.READ)
    def Phases(self) -> "u":
        """Phases wired to the connector."""
        return self._rt.profile.phases

    @dbus_property(access=PropertyAccess.READ)
    def CpState(self) -> "s":
        """Debounced control-pilot state: A, B, C, D, E, F or Invalid."""
        return self._rt.status.cp_state.value

    @dbus_property(access=PropertyAccess.READ)
    def PwmMode(self) -> "s":
        """high (X1, steady +12 V), pwm, or low (state F, -12 V)."""
        return self._rt.status.pwm_mode.value

    @dbus_property(access=PropertyAccess.READ)
    def PwmDutyPct(self) -> "d":
        """Duty cycle being generated (100 in X1, 0 in F)."""
        return self._rt.status.duty_pct

    @dbus_property(access=PropertyAccess.READ)
    def DigitalCommunication(self) -> "b":
        """SetDigitalCommunication is on: 5 % PWM while an EV is connected."""
        return self._rt.status.digital_communication

    @dbus_property(access=PropertyAccess.READ)
    def OfferA(self) -> "d":
        """The offer last made with SetOffer (0 after a latched fault)."""
        return self._rt.status.offer_a

    @dbus_property(access=PropertyAccess.READ)
    def AdvertisedCurrentA(self) -> "d":
        """Current signalled to the EV: min(offer, MaxCurrentA, CableMaxCurrentA), 0 without PWM."""
        return self._rt.status.advertised_a

    @dbus_property(access=PropertyAccess.READ)
    def CableMaxCurrentA(self) -> "d":
        """Ampacity coded by the PP resistor of the plugged cable (0: none or invalid)."""
        return self._rt.status.cable_max_a

    @dbus_property(access=PropertyAccess.READ)
    def ContactorClosed(self) -> "b":
        """The contactor command."""
        return self._rt.status.contactor_closed

    @dbus_property(access=PropertyAccess.READ)
    def ContactorFeedback(self) -> "s":
        """The auxiliary contact: closed, open, or none when the board has none."""
        fb = self._rt.status.contactor_feedback
        return "none" if fb is None else ("closed" if fb else "open")

    @dbus_property(access=PropertyAccess.READ)
    def Locked(self) -> "b":
        """The connector lock command."""
        return self._rt.status.locked

    @dbus_property(access=PropertyAccess.READ)
    def Faults(self) -> "as":
        """Active faults (RcdTrip, ContactorWelded, ContactorFailedToClose, DiodeFault, CpInvalid,
        CpShortCircuit, VentilationNotAvailable, HeartbeatLost, HardwareLinkLost)."""
        return [f.value for f in self._rt.status.faults]

    @dbus_property(access=PropertyAccess.READ)
    def LastOpenReason(self) -> "s":
        """Why the contactor last opened (EvNotReady, Unplugged, OfferWithdrawn, EvIgnoredStop, Fault, HeartbeatLost)."""
        return self._rt.status.last_open_reason.value

    @signal()
    def FaultRaised(self, fault: str) -> "s":
        """A fault became active."""
        return fault

    @signal()
    def FaultCleared(self, fault: str) -> "s":
        """A fault is no longer active."""
        return fault

    @signal()
    def ContactorChanged(self, closed: bool, reason: str) -> "bs":
        """The contactor command changed: closed, and the reason when it opened."""
        return [closed, reason]


class SimInterface(ServiceInterface):
    """org.evcharge.Board1.Sim: the simulated EV and hardware (sim backend only)."""

    def __init__(self, rt: "ConnectorRuntime") -> None:
        super().__init__(names.BOARD_SIM_IFACE)
        self._rt = rt

    def _c(self):
        return self._rt.sim_connector()

    @method()
    def PlugIn(self, pp_ohm: "d") -> None:
        """Plug the simulated EV in with a cable coded by pp_ohm (1500 = 13 A, 680 = 20 A, 220 = 32 A, 100 = 63 A)."""
        if math.isnan(pp_ohm) or not (0 < pp_ohm <= 100_000):
            raise InvalidArgument(f"pp_ohm must be a resistance in ohms (0 < pp_ohm <= 100000), got {pp_ohm!r}")
        self._rt.sim_change(plugged=True, pp_ohm=pp_ohm)

    @method()
    def Unplug(self) -> None:
        """Unplug the simulated EV."""
        self._rt.sim_change(plugged=False)

    @method()
    def SetEvReady(self, ready: "b") -> None:
        """True: the EV requests energy (closes S2 on PWM, state C). False: state B."""
        self._rt.sim_change(ev_ready=ready)

    @method()
    def SetEvMaxCurrent(self, current_a: "d") -> None:
        """The most current the simulated EV draws per phase."""
        if math.isnan(current_a) or not (0 <= current_a <= MAX_CURRENT_A):
            raise InvalidArgument(f"current_a must be between 0 and {MAX_CURRENT_A:g} A, got {current_a!r}")
        self._rt.sim_change(ev_max_current_a=current_a)

    @method()
    def SetDiodePresent(self, present: "b") -> None:
        """False simulates a vehicle without its CP diode (DiodeFault)."""
        self._rt.sim_change(diode_present=present)

    @method()
    def SetVentilation(self, required: "b") -> None:
        """True makes the EV request state D (ventilation)."""
        self._rt.sim_change(ventilation=required)

    @method()
    def SetEvIgnoresPwm(self, ignores: "b") -> None:
        """True simulates an EV that closes S2 without PWM and ignores X1."""
        self._rt.sim_change(ev_ignores_pwm=ignores)

    @method()
    def SetContactorWelded(self, welded: "b") -> None:
        """True welds the simulated contactor: it stays closed once closed."""
        self._rt.sim_change(welded=welded)

    @method()
    def SetRcdTripped(self, tripped: "b") -> None:
        """Trip or reset the simulated RCD."""
        self._rt.sim_change(rcd_tripped=tripped)

    @dbus_property(access=PropertyAccess.READ)
    def EvPluggedIn(self) -> "b":
        """The simulated EV is plugged in."""
        return self._c().plugged

    @dbus_property(access=PropertyAccess.READ)
    def EvReady(self) -> "b":
        """The simulated EV requests energy."""
        return self._c().ev_ready

    @dbus_property(access=PropertyAccess.READ)
    def PpOhm(self) -> "d":
        """PP resistor of the simulated cable."""
        return self._c().pp_ohm

    @dbus_property(access=PropertyAccess.READ)
    def EvMaxCurrentA(self) -> "d":
        """The simulated EV's own current limit."""
        return self._c().ev_max_current_a

    @dbus_property(access=PropertyAccess.READ)
    def EvCurrentA(self) -> "d":
        """Current per phase the simulated EV draws now."""
        return self._c().ev_current_a

    @dbus_property(access=PropertyAccess.READ)
    def Phases(self) -> "u":
        return self._c().phases

    @dbus_property(access=PropertyAccess.READ)
    def CpVoltageV(self) -> "d":
        """CP positive plateau the board reads."""
        return self._c().inputs().cp_high_v

    @dbus_property(access=PropertyAccess.READ)
    def PwmDutyPct(self) -> "d":
        return self._c().outputs.duty_pct

    @dbus_property(access=PropertyAccess.READ)
    def ContactorPhysicallyClosed(self) -> "b":
        """State of the simulated contacts (differs from the command when welded)."""
        return self._c().contactor_physically_closed

    @dbus_property(access=PropertyAccess.READ)
    def ContactorWelded(self) -> "b":
        """The simulated contactor is welded."""
        return self._c().welded

    @dbus_property(access=PropertyAccess.READ)
    def RcdTripped(self) -> "b":
        """The simulated RCD is tripped."""
        return self._c().rcd_tripped

    @dbus_property(access=PropertyAccess.READ)
    def DiodePresent(self) -> "b":
        """The simulated EV has its CP diode."""
        return self._c().diode_present
