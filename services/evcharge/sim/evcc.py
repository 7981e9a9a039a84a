"""The EV side (EVCC) of DIN SPEC 70121 DC and ISO 15118-2 AC/DC sessions, as a pure state machine.

`Evcc.first()` gives the supportedAppProtocolReq; `Evcc.on_response(msg)` takes each decoded
response and returns the next `Step`: the request to send (namespace, dict), CP actions for the
simulated vehicle ("C" when it starts drawing power, "B" when it stops), or the end of the session.
Message contents follow real captured sessions (tests/unit/exi/vectors/josev-sessions.jsonl).

`misbehave` makes the EV break the protocol on purpose for negative tests: at the first (or nth) request
named `at` it sends a wrong SessionID ("wrong_sid"), an out-of-order request ("unexpected"),
bytes that are not EXI of the schema ("invalid_exi"), goes silent ("stall") or drops TCP ("drop").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evcharge import exi
from evcharge.iso15118.values import pv, val

MISBEHAVIOURS = ("wrong_sid", "unexpected", "invalid_exi", "stall", "drop")
#: Bytes that the ISO-2/DIN decoders reject (an escape to undeclared productions).
INVALID_EXI = b"\x80\x98\x02\xff\xff\xff\xff"


@dataclass
class EvParams:
    protocol: str = "iso2"              # "iso2" or "din" (DIN is DC only)
    dc: bool = False
    evcc_id: bytes = bytes.fromhex("0200000000E1")  # the EV's MAC address
    ac_max_current_a: float = 16.0
    dc_max_voltage_v: float = 450.0
    dc_max_current_a: float = 125.0
    battery_voltage_v: float = 400.0     # precharge target
    dc_target_current_a: float = 50.0
    charge_loops: int = 10               # CurrentDemand / ChargingStatus requests before stopping
    welding_loops: int = 2
    soc: int = 40


@dataclass
class Misbehave:
    kind: str = ""
    at: str = ""
    nth: int = 1      # at the nth request of that name (KIND@Request#N), e.g. well into charging


@dataclass
class Step:
    namespace: str = ""
    request: dict[str, Any] | None = None
    payload: bytes | None = None         # raw bytes to send (invalid_exi)
    name: str = ""                       # body element name of the request
    cp: str = ""                         # "B" / "C": the vehicle's S2 switch
    done: bool = False
    error: str = ""
    stall: bool = False
    drop: bool = False


@dataclass
class Evcc:
    params: EvParams = field(default_factory=EvParams)
    misbehave: Misbehave = field(default_factory=Misbehave)
    session_id: bytes = b"\x00"
    namespace: str = ""
    expected: str = "supportedAppProtocolRes"
    loops: int = 0
    welding: int = 0
    tuple_id: int = 1
    responses: list[tuple[str, str]] = field(default_factory=list)  # (response name, code)
    _misbehaved: bool = False
    _seen_at: int = 0
    _charging: bool = False

    @property
    def ns(self) -> str:
        return exi.NS_DIN if self.params.protocol == "din" else exi.NS_ISO2

    @property
    def din(self) -> bool:
        return self.params.protocol == "din"

    def first(self) -> Step:
        major = 2
        entry = {"ProtocolNamespace": self.ns, "VersionNumberMajor": major, "VersionNumberMinor": 0,
                 "SchemaID": 1, "Priority": 1}
        return Step(exi.NS_APP_PROTOCOL, {"supportedAppProtocolReq": {"AppProtocol": [entry]}},
                    name="supportedAppProtocolReq")

    # --- the sequence ------------------------------------------------------------------------
    def on_response(self, msg: dict[str, Any]) -> Step:
        if "supportedAppProtocolRes" in msg:
            res_name, res = "supportedAppProtocolRes", msg["supportedAppProtocolRes"]
        else:
            root = msg["V2G_Message"]
            ((res_name, res),) = root["Body"].items()
            if res_name == "SessionSetupRes":
                self.session_id = bytes(root["Header"]["SessionID"])
        code = res.get("ResponseCode", "")
        self.responses.append((res_name, code))
        if res_name != self.expected:
            return Step(done=True, error=f"expected {self.expected}, got {res_name} ({code})")
        if code.startswith("FAILED") or code.startswith("Failed"):
            return Step(done=True, error=f"SECC answered {code} to {res_name[:-3]}Req")
        return getattr(self, f"_after_{res_name}")(res)

    def _req(self, name: str, content: dict[str, Any], cp: str = "") -> Step:
        self.expected = name[:-3] + "Res"
        step = Step(self.ns, {"V2G_Message": {"Header": {"SessionID": self.session_id}, "Body": {name: content}}},
                    name=name, cp=cp)
        m = self.misbehave
        if m.kind and m.at == name:
            self._seen_at += 1
        if m.kind and not self._misbehaved and m.at == name and self._seen_at >= m.nth:
            self._misbehaved = True
            if m.kind == "wrong_sid":
                step.request["V2G_Message"]["Header"]["SessionID"] = bytes(b ^ 0xFF for b in self.session_id)
            elif m.kind == "unexpected":
                # A request valid in the schema but out of order here.
                step.request["V2G_Message"]["Body"] = {"ServiceDiscoveryReq": {}}
                step.name = "ServiceDiscoveryReq"
                self.expected = "ServiceDiscoveryRes"
            elif m.kind == "invalid_exi":
                step.request, step.payload = None, INVALID_EXI
            elif m.kind == "stall":
                step.stall = True
            elif m.kind == "drop":
                step.drop = True
        return step

    def _ev_status(self) -> dict[str, Any]:
        return {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": self.params.soc}

    def _after_supportedAppProtocolRes(self, res: dict[str, Any]) -> Step:  # noqa: N802 - message names
        return self._req("SessionSetupReq", {"EVCCID": self.params.evcc_id})

    def _after_SessionSetupRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        return self._req("ServiceDiscoveryReq", {})

    def _after_ServiceDiscoveryRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        sel = {"SelectedPaymentOption": "ExternalPayment", "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}
        if self.din:
            return self._req("ServicePaymentSelectionReq", sel)
        modes = res["ChargeService"]["SupportedEnergyTransferMode"]["EnergyTransferMode"]
        want = "DC_extended" if self.params.dc else "AC_three_phase_core"
        if want not in modes:
            return Step(done=True, error=f"the EVSE does not offer {want} ({modes})")
        return self._req("PaymentServiceSelectionReq", sel)

    def _auth(self) -> Step:
        return self._req("ContractAuthenticationReq" if self.din else "AuthorizationReq", {})

    def _after_ServicePaymentSelectionRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        return self._auth()

    _after_PaymentServiceSelectionRes = _after_ServicePaymentSelectionRes

    def _after_ContractAuthenticationRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        if res.get("EVSEProcessing") == "Ongoing":
            return self._auth()
        return self._cpd()

    _after_AuthorizationRes = _after_ContractAuthenticationRes

    def _cpd(self) -> Step:
        p = self.params
        if self.din:
            return self._req("ChargeParameterDiscoveryReq", {
                "EVRequestedEnergyTransferType": "DC_extended",
                "DC_EVChargeParameter": {"DC_EVStatus": self._ev_status(),
                                         "EVMaximumCurrentLimit": pv(p.dc_max_current_a, "A"),
                                         "EVMaximumVoltageLimit": pv(p.dc_max_voltage_v, "V")}})
        if p.dc:
            return self._req("ChargeParameterDiscoveryReq", {
                "RequestedEnergyTransferMode": "DC_extended",
                "DC_EVChargeParameter": {"DepartureTime": 0, "DC_EVStatus": self._ev_status(),
                                         "EVMaximumCurrentLimit": pv(p.dc_max_current_a, "A"),
                                         "EVMaximumVoltageLimit": pv(p.dc_max_voltage_v, "V"),
                                         "FullSOC": 90, "BulkSOC": 80}})
        return self._req("ChargeParameterDiscoveryReq", {
            "RequestedEnergyTransferMode": "AC_three_phase_core",
            "AC_EVChargeParameter": {"DepartureTime": 0, "EAmount": pv(20000, "Wh"), "EVMaxVoltage": pv(400, "V"),
                                     "EVMaxCurrent": pv(p.ac_max_current_a, "A"), "EVMinCurrent": pv(6, "A")}})

    def _after_ChargeParameterDiscoveryRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        if res.get("EVSEProcessing") == "Ongoing":
            return self._cpd()
        tuples = res.get("SAScheduleList", {}).get("SAScheduleTuple", [])
        if tuples:
            self.tuple_id = tuples[0]["SAScheduleTupleID"]
        if self.din or self.params.dc:
            return self._req("CableCheckReq", {"DC_EVStatus": self._ev_status()})
        return self._power_delivery(True)

    def _after_CableCheckRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        if res.get("EVSEProcessing") == "Ongoing":
            return self._req("CableCheckReq", {"DC_EVStatus": self._ev_status()})
        return self._precharge()

    def _precharge(self) -> Step:
        return self._req("PreChargeReq", {"DC_EVStatus": self._ev_status(),
                                          "EVTargetVoltage": pv(self.params.battery_voltage_v, "V"),
                                          "EVTargetCurrent": pv(1, "A")})

    def _after_PreChargeRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        if abs(val(res.get("EVSEPresentVoltage")) - self.params.battery_voltage_v) > 10.0:
            return self._precharge()
        return self._power_delivery(True)

    def _power_delivery(self, start: bool) -> Step:
        dc = self.din or self.params.dc
        self._charging = start
        if self.din:
            content: dict[str, Any] = {"ReadyToChargeState": start}
        else:
            content = {"ChargeProgress": "Start" if start else "Stop", "SAScheduleTupleID": self.tuple_id}
        if dc:
            content["DC_EVPowerDeliveryParameter"] = {"DC_EVStatus": self._ev_status(), "BulkChargingComplete": False,
                                                      "ChargingComplete": not start}
        # An AC EV closes S2 right after PowerDeliveryRes(Start); a DC EV too (the EVSE closes the contactor).
        return self._req("PowerDeliveryReq", content)

    def _after_PowerDeliveryRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        if self._charging:
            self.loops = 0
            step = self._charge_loop()
            step.cp = "C"
            return step
        if self.din or self.params.dc:
            step = self._req("WeldingDetectionReq", {"DC_EVStatus": self._ev_status()})
        else:
            step = self._session_stop()
        step.cp = "B"
        return step

    def _charge_loop(self) -> Step:
        self.loops += 1
        p = self.params
        if self.din or p.dc:
            content = {"DC_EVStatus": self._ev_status(), "EVTargetCurrent": pv(p.dc_target_current_a, "A"),
                       "EVMaximumVoltageLimit": pv(p.dc_max_voltage_v, "V"),
                       "EVMaximumCurrentLimit": pv(p.dc_max_current_a, "A"),
                       "BulkChargingComplete": False, "ChargingComplete": False,
                       "EVTargetVoltage": pv(p.battery_voltage_v, "V")}
            return self._req("CurrentDemandReq", content)
        return self._req("ChargingStatusReq", {})

    def _after_CurrentDemandRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        if self.loops >= self.params.charge_loops:
            return self._power_delivery(False)
        return self._charge_loop()

    _after_ChargingStatusRes = _after_CurrentDemandRes

    def _after_WeldingDetectionRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        self.welding += 1
        if self.welding < self.params.welding_loops:
            return self._req("WeldingDetectionReq", {"DC_EVStatus": self._ev_status()})
        return self._session_stop()

    def _session_stop(self) -> Step:
        return self._req("SessionStopReq", {} if self.din else {"ChargingSession": "Terminate"})

    def _after_SessionStopRes(self, res: dict[str, Any]) -> Step:  # noqa: N802
        return Step(done=True)
