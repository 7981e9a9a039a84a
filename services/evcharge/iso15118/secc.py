"""The SECC side of one V2G communication session (DIN SPEC 70121 DC, ISO 15118-2 AC/DC with EIM): pure.

`Secc.handle(payload, now)` takes one decoded-or-not EXI body from the TCP connection and returns
an `Output`: the response (dict and encoded bytes), and whether the connection must close. All side
effects go through the `EvseController` the adapter implements; its methods are synchronous and
cheap (they read cached state or queue a request), so a response never waits for D-Bus.
Anything that takes time (authorization, isolation check, power supply ramp) is answered with
EVSEProcessing=Ongoing / a present value until the controller reports it done: the EV repeats the
request, which is what the standards intend.

Timers are explicit: `deadline` is when `check_timeout(now)` ends the session (sequence timeout,
60 s without a request), and `performance_s(name)` is the time the adapter has to answer a
request (1.5 s, 25 ms goal for CurrentDemand) - it measures and logs it.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evcharge import exi

from . import sap
from .values import pv, val

log = logging.getLogger("evcharge.iso15118")

SEQUENCE_TIMEOUT_S = 60.0
PERFORMANCE_TIME_S = 1.5
CURRENT_DEMAND_GOAL_S = 0.025
CABLE_CHECK_LIMIT_S = 38.0     # the EV gives up after 40 s (V2G_EVCC_CableCheck_Timeout)
PRECHARGE_CURRENT_MAX_A = 2.0  # DIN 70121 / ISO 15118-2: precharge current limited to 2 A


class Phase(str, enum.Enum):
    SAP = "SupportedAppProtocol"
    SESSION_SETUP = "SessionSetup"
    SERVICE_DISCOVERY = "ServiceDiscovery"
    PAYMENT_SELECTION = "PaymentSelection"
    AUTHORIZATION = "Authorization"
    CHARGE_PARAMETER = "ChargeParameterDiscovery"
    CABLE_CHECK = "CableCheck"
    PRECHARGE = "PreCharge"
    POWER_DELIVERY = "PowerDelivery"  # AC: charge parameters agreed, waiting for PowerDelivery(Start)
    CHARGING = "Charging"             # after PowerDelivery(Start)
    STOPPED_CHARGING = "StoppedCharging"  # after PowerDelivery(Stop)
    ENDED = "Ended"


@dataclass(frozen=True)
class Limits:
    """What the EVSE can give now (energy service allocation, board, power supply)."""

    ac_max_current_a: float = 32.0
    ac_nominal_voltage_v: float = 230.0
    ac_phases: int = 3
    dc_max_voltage_v: float = 500.0
    dc_min_voltage_v: float = 50.0
    dc_max_current_a: float = 100.0
    dc_min_current_a: float = 0.0
    dc_max_power_w: float = 50000.0
    dc_peak_ripple_a: float = 1.0


class EvseController(Protocol):
    """What the SECC needs from the rest of the charger (implemented by the adapter)."""

    evse_id: str
    dc: bool                        # a DC charger (DC_extended); else AC (AC_three/single_phase_core)

    def hlc_started(self, protocol: str, evcc_id: str, session_id: str) -> None: ...
    def authorization(self) -> str: ...            # "Accepted", "Ongoing" or "Rejected" (EIM)
    def limits(self) -> Limits: ...
    def cable_check(self) -> str: ...              # "Ongoing", "Valid" or "Fault" (starts it on first call)
    def dc_setpoint(self, voltage_v: float, current_a: float) -> None: ...
    def dc_present(self) -> tuple[float, float]: ...  # present voltage, current
    def power_delivery(self, start: bool, current_a: float) -> None: ...
    def meter_wh(self) -> float | None: ...
    def hlc_stopped(self, reason: str) -> None: ...


@dataclass
class Output:
    namespace: str | None = None
    response: dict[str, Any] | None = None
    payload: bytes | None = None
    close: bool = False
    request: str = ""                 # the request's body element name
    error: str = ""                   # why the session ends, when it does (for the log)


def _res_name(req: str) -> str:
    return req[:-3] + "Res" if req.endswith("Req") else req


# Which requests each phase accepts (ISO 15118-2 section 8.8 / DIN 70121 section 9.6 sequences).
_ISO2_NEXT: dict[Phase, frozenset[str]] = {
    Phase.SESSION_SETUP: frozenset({"SessionSetupReq"}),
    Phase.SERVICE_DISCOVERY: frozenset({"ServiceDiscoveryReq"}),
    Phase.PAYMENT_SELECTION: frozenset({"ServiceDetailReq", "PaymentServiceSelectionReq"}),
    Phase.AUTHORIZATION: frozenset({"AuthorizationReq"}),
    Phase.CHARGE_PARAMETER: frozenset({"ChargeParameterDiscoveryReq"}),
    Phase.CABLE_CHECK: frozenset({"CableCheckReq"}),
    Phase.PRECHARGE: frozenset({"PreChargeReq", "PowerDeliveryReq"}),
    Phase.POWER_DELIVERY: frozenset({"PowerDeliveryReq"}),
    Phase.CHARGING: frozenset({"ChargingStatusReq", "CurrentDemandReq", "MeteringReceiptReq", "PowerDeliveryReq"}),
    Phase.STOPPED_CHARGING: frozenset({"WeldingDetectionReq", "SessionStopReq"}),
}
_DIN_NEXT: dict[Phase, frozenset[str]] = {
    Phase.SESSION_SETUP: frozenset({"SessionSetupReq"}),
    Phase.SERVICE_DISCOVERY: frozenset({"ServiceDiscoveryReq"}),
    Phase.PAYMENT_SELECTION: frozenset({"ServicePaymentSelectionReq"}),
    Phase.AUTHORIZATION: frozenset({"ContractAuthenticationReq"}),
    Phase.CHARGE_PARAMETER: frozenset({"ChargeParameterDiscoveryReq"}),
    Phase.CABLE_CHECK: frozenset({"CableCheckReq"}),
    Phase.PRECHARGE: frozenset({"PreChargeReq", "PowerDeliveryReq"}),
    Phase.CHARGING: frozenset({"CurrentDemandReq", "PowerDeliveryReq"}),
    Phase.STOPPED_CHARGING: frozenset({"WeldingDetectionReq", "SessionStopReq"}),
}


@dataclass
class Secc:
    controller: EvseController
    now: float = field(default_factory=time.monotonic)
    enabled: tuple[str, ...] = ("iso2", "din")
    new_session_id: Callable[[], bytes] = lambda: os.urandom(8)
    sequence_timeout_s: float = SEQUENCE_TIMEOUT_S

    protocol: str | None = None       # "din" / "iso2" after the handshake
    namespace: str = exi.NS_APP_PROTOCOL
    session_id: bytes = b""
    phase: Phase = Phase.SAP
    dc_mode: bool = False             # the EV chose a DC energy transfer mode
    energy_mode: str = ""
    powered: bool = False             # PowerDelivery(Start) answered and not yet stopped
    stop_reason: str = ""
    deadline: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    _cable_check_since: float | None = None
    _ev_max_current_a: float = 0.0
    _last_request: str = ""

    def __post_init__(self) -> None:
        self.deadline = self.now + self.sequence_timeout_s

    # --- public API ----------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED

    @staticmethod
    def performance_s(request: str) -> float:
        """How long the SECC may take to answer `request` (the EV's timeouts are longer)."""
        return CURRENT_DEMAND_GOAL_S if request == "CurrentDemandReq" else PERFORMANCE_TIME_S

    def handle(self, payload: bytes, now: float) -> Output:
        """One EXI body from the EV -> the response to send (or none) and whether to close."""
        if self.ended:
            return Output(close=True, error="session already ended")
        try:
            msg = exi.decode(self.namespace, payload)
        except exi.ExiError as e:
            return self._end(now, f"schema-invalid EXI body ({e})", Output(close=True))
        return self.handle_message(msg, now)

    def handle_message(self, msg: dict[str, Any], now: float) -> Output:
        """Like `handle` for an already decoded message (the unit tests feed dicts)."""
        self.now = now
        self.deadline = now + self.sequence_timeout_s
        if self.phase is Phase.SAP:
            return self._sap(msg)
        root = msg.get("V2G_Message")
        if not root:
            return self._end(now, "not a V2G_Message", Output(close=True))
        body = root["Body"]
        if len(body) != 1:
            return self._end(now, "empty body", Output(close=True))
        ((req, content),) = body.items()
        self.counts[req] = self.counts.get(req, 0) + 1
        out = self._dispatch(req, content, bytes(root["Header"]["SessionID"]))
        out.request = req
        self._last_request = req
        return out

    def check_timeout(self, now: float) -> bool:
        """True once the sequence timer ran out: the session is then ended (adapter closes TCP)."""
        if not self.ended and now >= self.deadline:
            self._end(now, f"sequence timeout: no request for {self.sequence_timeout_s:g} s", Output())
            return True
        return False

    def abort(self, reason: str, now: float) -> None:
        """The connection is gone (TCP drop, shutdown): make the EVSE safe."""
        if not self.ended:
            self._end(now, reason, Output())

    # --- handshake -----------------------------------------------------------------------------
    def _sap(self, msg: dict[str, Any]) -> Output:
        req = msg.get("supportedAppProtocolReq")
        if req is None:
            return self._end(self.now, "expected supportedAppProtocolReq", Output(close=True))
        result = sap.negotiate(req, self.enabled)
        out = Output(namespace=exi.NS_APP_PROTOCOL, response=result.response, request="supportedAppProtocolReq")
        out.payload = exi.encode(exi.NS_APP_PROTOCOL, result.response)
        if result.protocol is None:
            out.close = True
            self._end(self.now, "no common protocol (supportedAppProtocol Failed_NoNegotiation)", out)
            return out
        self.protocol, self.namespace = result.protocol, result.namespace or ""
        self.phase = Phase.SESSION_SETUP
        return out

    # --- dispatch ------------------------------------------------------------------------------
    def _dispatch(self, req: str, content: dict[str, Any], header_sid: bytes) -> Output:
        din = self.protocol == "din"
        table = _DIN_NEXT if din else _ISO2_NEXT
        handler = getattr(self, f"_on_{req}", None)
        if handler is None or not req.endswith("Req"):
            return self._end(self.now, f"unsupported message {req}", Output(close=True))
        if req != "SessionSetupReq" and header_sid != self.session_id:
            return self._fail(req, "FAILED_UnknownSession",
                              f"wrong SessionID {header_sid.hex().upper()} in {req} "
                              f"(session {self.session_id.hex().upper()})")
        allowed = table.get(self.phase, frozenset())
        if req not in allowed:
            return self._fail(req, "FAILED_SequenceError", f"{req} not expected in phase {self.phase.value}")
        return handler(content)

    def _fail(self, req: str, code: str, why: str) -> Output:
        out = self._respond(req, code)
        out.close = True
        return self._end(self.now, f"{code}: {why}", out)

    def _respond(self, req: str, code: str = "OK", **extra: Any) -> Output:
        res = _res_name(req)
        build = getattr(self, f"_body_{res}")
        body = build(code)
        body.update(extra)
        msg = {"V2G_Message": {"Header": {"SessionID": self.session_id or b"\x00"}, "Body": {res: body}}}
        return Output(namespace=self.namespace, response=msg, payload=exi.encode(self.namespace, msg))

    def _end(self, now: float, reason: str, out: Output) -> Output:
        if self.ended:
            return out
        prev = self.phase
        self.phase = Phase.ENDED
        self.stop_reason = reason
        out.error = reason
        out.close = True
        if self.powered:
            self.powered = False
            self.controller.power_delivery(False, 0.0)
        if prev not in (Phase.SAP, Phase.SESSION_SETUP) or self.session_id:
            self.controller.hlc_stopped(reason)
        return out

    # --- status blocks -------------------------------------------------------------------------
    def _dc_status(self, isolation: str = "Valid", code: str = "EVSE_Ready") -> dict[str, Any]:
        return {"EVSEIsolationStatus": isolation, "EVSEStatusCode": code, "NotificationMaxDelay": 0,
                "EVSENotification": "None"}

    def _ac_status(self) -> dict[str, Any]:
        return {"NotificationMaxDelay": 0, "EVSENotification": "None", "RCD": False}

    def _evse_id(self) -> Any:
        cid = self.controller.evse_id
        if self.protocol == "din":
            # DIN's EVSEID is hexBinary; an ISO 15118 EVSEID string is not: send its bytes.
            return cid.encode()[:32] or b"\x00"
        return cid

    # --- handlers ------------------------------------------------------------------------------
    def _on_SessionSetupReq(self, c: dict[str, Any]) -> Output:  # noqa: N802 - message names
        self.session_id = self.new_session_id()
        evcc = c["EVCCID"]
        evcc_id = evcc.hex().upper() if isinstance(evcc, bytes) else str(evcc)
        self.controller.hlc_started(self.protocol or "", evcc_id, self.session_id.hex().upper())
        self.phase = Phase.SERVICE_DISCOVERY
        return self._respond("SessionSetupReq", "OK_NewSessionEstablished")

    def _body_SessionSetupRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        if self.protocol == "din":
            return {"ResponseCode": code, "EVSEID": self._evse_id(), "DateTimeNow": int(time.time())}
        return {"ResponseCode": code, "EVSEID": self._evse_id(), "EVSETimeStamp": int(time.time())}

    def _energy_modes(self) -> list[str]:
        return ["DC_extended", "DC_core"] if self.controller.dc else ["AC_three_phase_core", "AC_single_phase_core"]

    def _on_ServiceDiscoveryReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        self.phase = Phase.PAYMENT_SELECTION
        return self._respond("ServiceDiscoveryReq")

    def _body_ServiceDiscoveryRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        if self.protocol == "din":
            return {"ResponseCode": code, "PaymentOptions": {"PaymentOption": ["ExternalPayment"]},
                    "ChargeService": {"ServiceTag": {"ServiceID": 1, "ServiceCategory": "EVCharging"},
                                      "FreeService": False,
                                      "EnergyTransferType": "DC_extended" if self.controller.dc else "DC_core"}}
        return {"ResponseCode": code, "PaymentOptionList": {"PaymentOption": ["ExternalPayment"]},
                "ChargeService": {"ServiceID": 1, "ServiceName": "AC_DC_Charging", "ServiceCategory": "EVCharging",
                                  "FreeService": False,
                                  "SupportedEnergyTransferMode": {"EnergyTransferMode": self._energy_modes()}}}

    def _on_ServiceDetailReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        # The charge service has no parameter sets, and no value-added services are offered.
        return self._respond("ServiceDetailReq", "FAILED_ServiceIDInvalid", ServiceID=c.get("ServiceID", 1))

    def _body_ServiceDetailRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        return {"ResponseCode": code, "ServiceID": 1}

    def _select_payment(self, req: str, c: dict[str, Any]) -> Output:
        if c.get("SelectedPaymentOption") != "ExternalPayment":
            return self._fail(req, "FAILED_PaymentSelectionInvalid",
                              f"payment option {c.get('SelectedPaymentOption')} not offered (EIM only)")
        ids = [s.get("ServiceID") for s in c.get("SelectedServiceList", {}).get("SelectedService", [])]
        if 1 not in ids:
            return self._fail(req, "FAILED_NoChargeServiceSelected", f"charge service not selected ({ids})")
        self.phase = Phase.AUTHORIZATION
        return self._respond(req)

    def _on_ServicePaymentSelectionReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        return self._select_payment("ServicePaymentSelectionReq", c)

    def _on_PaymentServiceSelectionReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        return self._select_payment("PaymentServiceSelectionReq", c)

    def _body_ServicePaymentSelectionRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        return {"ResponseCode": code}

    _body_PaymentServiceSelectionRes = _body_ServicePaymentSelectionRes

    def _authorize(self, req: str) -> Output:
        status = self.controller.authorization()
        if status == "Rejected":
            return self._fail(req, "FAILED", "authorization rejected")
        if status == "Accepted":
            self.phase = Phase.CHARGE_PARAMETER
            return self._respond(req, EVSEProcessing="Finished")
        return self._respond(req)

    def _on_ContractAuthenticationReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        return self._authorize("ContractAuthenticationReq")

    def _on_AuthorizationReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        return self._authorize("AuthorizationReq")

    def _body_ContractAuthenticationRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        return {"ResponseCode": code, "EVSEProcessing": "Ongoing"}

    _body_AuthorizationRes = _body_ContractAuthenticationRes

    def _on_ChargeParameterDiscoveryReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        req = "ChargeParameterDiscoveryReq"
        mode = c.get("EVRequestedEnergyTransferType") or c.get("RequestedEnergyTransferMode") or ""
        if self.protocol == "din":
            ok = self.controller.dc and mode in ("DC_extended", "DC_core")
        else:
            ok = mode in self._energy_modes()
        if not ok:
            code = "FAILED_WrongEnergyTransferMode" if self.protocol == "iso2" else "FAILED_WrongEnergyTransferType"
            return self._fail(req, code, f"energy transfer mode {mode!r} not offered ({', '.join(self._energy_modes())})")
        self.energy_mode = mode
        self.dc_mode = mode.startswith("DC")
        if self.dc_mode:
            p = c.get("DC_EVChargeParameter", {})
            self._ev_max_current_a = val(p.get("EVMaximumCurrentLimit"))
        else:
            p = c.get("AC_EVChargeParameter", {})
            self._ev_max_current_a = val(p.get("EVMaxCurrent"))
        self.phase = Phase.CABLE_CHECK if self.dc_mode else Phase.POWER_DELIVERY
        return self._respond(req, EVSEProcessing="Finished")

    def _body_ChargeParameterDiscoveryRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        lim = self.controller.limits()
        dc = self.dc_mode or (self.protocol == "din") or (not self.energy_mode and self.controller.dc)
        body: dict[str, Any] = {"ResponseCode": code, "EVSEProcessing": "Finished"}
        if self.protocol == "din":
            pmax = int(min(lim.dc_max_power_w, 32767))  # DIN PMax is a bare short; 32767 = no limit (as stations send)
            body["SAScheduleList"] = {"SAScheduleTuple": [{"SAScheduleTupleID": 1, "PMaxSchedule": {
                "PMaxScheduleID": 1, "PMaxScheduleEntry": [{"RelativeTimeInterval": {"start": 0, "duration": 86400},
                                                             "PMax": pmax}]}}]}
        else:
            pmax_w = lim.dc_max_power_w if dc else lim.ac_max_current_a * lim.ac_nominal_voltage_v * lim.ac_phases
            body["SAScheduleList"] = {"SAScheduleTuple": [{"SAScheduleTupleID": 1, "PMaxSchedule": {
                "PMaxScheduleEntry": [{"RelativeTimeInterval": {"start": 0, "duration": 86400},
                                       "PMax": pv(pmax_w, "W")}]}}]}
        if dc:
            body["DC_EVSEChargeParameter"] = {
                "DC_EVSEStatus": self._dc_status(),
                "EVSEMaximumCurrentLimit": pv(lim.dc_max_current_a, "A"),
                "EVSEMaximumPowerLimit": pv(lim.dc_max_power_w, "W"),
                "EVSEMaximumVoltageLimit": pv(lim.dc_max_voltage_v, "V"),
                "EVSEMinimumCurrentLimit": pv(lim.dc_min_current_a, "A"),
                "EVSEMinimumVoltageLimit": pv(lim.dc_min_voltage_v, "V"),
                "EVSEPeakCurrentRipple": pv(lim.dc_peak_ripple_a, "A")}
        else:
            body["AC_EVSEChargeParameter"] = {"AC_EVSEStatus": self._ac_status(),
                                              "EVSENominalVoltage": pv(lim.ac_nominal_voltage_v, "V"),
                                              "EVSEMaxCurrent": pv(lim.ac_max_current_a, "A")}
        return body

    # DC: CableCheck, PreCharge, CurrentDemand, WeldingDetection
    def _on_CableCheckReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        req = "CableCheckReq"
        if self._cable_check_since is None:
            self._cable_check_since = self.now
        result = self.controller.cable_check()
        if result == "Fault":
            out = self._respond(req, "FAILED", DC_EVSEStatus=self._dc_status("Fault", "EVSE_Shutdown"),
                                EVSEProcessing="Finished")
            return self._end(self.now, "CableCheck failed: isolation fault", out)
        if result == "Valid":
            self.phase = Phase.PRECHARGE
            return self._respond(req, EVSEProcessing="Finished")
        if self.now - self._cable_check_since > CABLE_CHECK_LIMIT_S:
            out = self._respond(req, "FAILED", DC_EVSEStatus=self._dc_status("Invalid", "EVSE_Shutdown"),
                                EVSEProcessing="Finished")
            return self._end(self.now, f"CableCheck not finished within {CABLE_CHECK_LIMIT_S:g} s", out)
        return self._respond(req, DC_EVSEStatus=self._dc_status("Invalid"))

    def _body_CableCheckRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        return {"ResponseCode": code, "DC_EVSEStatus": self._dc_status(), "EVSEProcessing": "Ongoing"}

    def _on_PreChargeReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        if not self.dc_mode:
            return self._fail("PreChargeReq", "FAILED_SequenceError", "PreChargeReq in an AC session")
        target_v = val(c.get("EVTargetVoltage"))
        target_i = min(val(c.get("EVTargetCurrent")), PRECHARGE_CURRENT_MAX_A)
        lim = self.controller.limits()
        self.controller.dc_setpoint(min(target_v, lim.dc_max_voltage_v), target_i)
        return self._respond("PreChargeReq")

    def _body_PreChargeRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        v, _i = self.controller.dc_present()
        return {"ResponseCode": code, "DC_EVSEStatus": self._dc_status(), "EVSEPresentVoltage": pv(v, "V")}

    def _on_PowerDeliveryReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        req = "PowerDeliveryReq"
        if self.protocol == "din":
            start = bool(c.get("ReadyToChargeState"))
        else:
            progress = c.get("ChargeProgress")
            if progress == "Renegotiate":
                return self._fail(req, "FAILED", "renegotiation is not supported")
            start = progress == "Start"
        if start:
            if self.phase not in (Phase.PRECHARGE, Phase.POWER_DELIVERY):
                return self._fail(req, "FAILED_SequenceError", f"PowerDelivery(Start) in phase {self.phase.value}")
            lim = self.controller.limits()
            current = lim.dc_max_current_a if self.dc_mode else min(lim.ac_max_current_a, self._ev_max_current_a or 1e9)
            self.controller.power_delivery(True, current)
            self.powered = True
            self.phase = Phase.CHARGING
        else:
            if self.phase is not Phase.CHARGING:
                return self._fail(req, "FAILED_SequenceError", f"PowerDelivery(Stop) in phase {self.phase.value}")
            self.controller.power_delivery(False, 0.0)
            self.powered = False
            self.phase = Phase.STOPPED_CHARGING
        return self._respond(req)

    def _body_PowerDeliveryRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        if self.dc_mode or self.protocol == "din" or (not self.energy_mode and self.controller.dc):
            return {"ResponseCode": code, "DC_EVSEStatus": self._dc_status()}
        return {"ResponseCode": code, "AC_EVSEStatus": self._ac_status()}

    def _on_CurrentDemandReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        if not self.dc_mode:
            return self._fail("CurrentDemandReq", "FAILED_SequenceError", "CurrentDemandReq in an AC session")
        lim = self.controller.limits()
        target_v = val(c.get("EVTargetVoltage"))
        target_i = val(c.get("EVTargetCurrent"))
        v = min(target_v, lim.dc_max_voltage_v)
        i = min(target_i, lim.dc_max_current_a)
        if v > 0 and i * v > lim.dc_max_power_w:
            i = lim.dc_max_power_w / v
        self.controller.dc_setpoint(v, i)
        return self._respond("CurrentDemandReq", EVSECurrentLimitAchieved=i < target_i,
                             EVSEVoltageLimitAchieved=v < target_v,
                             EVSEPowerLimitAchieved=target_v * target_i > lim.dc_max_power_w)

    def _body_CurrentDemandRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        lim = self.controller.limits()
        v, i = self.controller.dc_present()
        body: dict[str, Any] = {
            "ResponseCode": code, "DC_EVSEStatus": self._dc_status(),
            "EVSEPresentVoltage": pv(v, "V"), "EVSEPresentCurrent": pv(i, "A"),
            "EVSECurrentLimitAchieved": False, "EVSEVoltageLimitAchieved": False, "EVSEPowerLimitAchieved": False,
            "EVSEMaximumVoltageLimit": pv(lim.dc_max_voltage_v, "V"),
            "EVSEMaximumCurrentLimit": pv(lim.dc_max_current_a, "A"),
            "EVSEMaximumPowerLimit": pv(lim.dc_max_power_w, "W")}
        if self.protocol == "iso2":
            body.update(EVSEID=self._evse_id(), SAScheduleTupleID=1, ReceiptRequired=False)
        return body

    def _on_ChargingStatusReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        if self.dc_mode:
            return self._fail("ChargingStatusReq", "FAILED_SequenceError", "ChargingStatusReq in a DC session")
        return self._respond("ChargingStatusReq")

    def _body_ChargingStatusRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        lim = self.controller.limits()
        body: dict[str, Any] = {"ResponseCode": code, "EVSEID": self._evse_id(), "SAScheduleTupleID": 1,
                                "EVSEMaxCurrent": pv(lim.ac_max_current_a, "A"), "ReceiptRequired": False,
                                "AC_EVSEStatus": self._ac_status()}
        wh = self.controller.meter_wh()
        if wh is not None:
            body["MeterInfo"] = {"MeterID": self._evse_id()[:32], "MeterReading": int(max(0.0, wh))}
        return body

    def _on_MeteringReceiptReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        return self._respond("MeteringReceiptReq")

    def _body_MeteringReceiptRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        if self.dc_mode:
            return {"ResponseCode": code, "DC_EVSEStatus": self._dc_status()}
        return {"ResponseCode": code, "AC_EVSEStatus": self._ac_status()}

    def _on_WeldingDetectionReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        if not self.dc_mode:
            return self._fail("WeldingDetectionReq", "FAILED_SequenceError", "WeldingDetectionReq in an AC session")
        return self._respond("WeldingDetectionReq")

    def _body_WeldingDetectionRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        v, _i = self.controller.dc_present()
        return {"ResponseCode": code, "DC_EVSEStatus": self._dc_status(), "EVSEPresentVoltage": pv(v, "V")}

    def _on_SessionStopReq(self, c: dict[str, Any]) -> Output:  # noqa: N802
        out = self._respond("SessionStopReq")
        reason = "SessionStop" + (f"({c['ChargingSession']})" if c.get("ChargingSession") else "")
        self._end(self.now, reason, out)
        out.error = ""
        return out

    def _body_SessionStopRes(self, code: str) -> dict[str, Any]:  # noqa: N802
        return {"ResponseCode": code}
