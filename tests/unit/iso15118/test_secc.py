"""The pure SECC against the captured sessions (tests/unit/exi/vectors/josev-sessions.jsonl) and
against the error paths: sequence errors, unknown sessions, invalid EXI, timeouts, failed checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evcharge import exi
from evcharge.iso15118 import sap
from evcharge.iso15118.secc import Phase, Secc

VECTORS = Path(__file__).resolve().parents[1] / "exi" / "vectors" / "josev-sessions.jsonl"
SID = bytes.fromhex("0102030405060708")


def session(name: str) -> list[dict]:
    out = []
    for line in VECTORS.read_text().splitlines():
        d = json.loads(line)
        if d["session"] == name:
            out.append(d)
    return out


def body_name(msg: dict) -> str:
    if "V2G_Message" in msg:
        return next(iter(msg["V2G_Message"]["Body"]))
    return next(iter(msg))


def body(msg: dict) -> dict:
    if "V2G_Message" in msg:
        return next(iter(msg["V2G_Message"]["Body"].values()))
    return next(iter(msg.values()))


def with_sid(payload_hex: str, ns: str, sid: bytes) -> bytes:
    """The captured request with our SessionID (the capture's SECC chose another one)."""
    msg = exi.decode(ns, bytes.fromhex(payload_hex))
    if "V2G_Message" in msg and body_name(msg) != "SessionSetupReq":
        msg["V2G_Message"]["Header"]["SessionID"] = sid
    return exi.encode(ns, msg)


def replay(name: str, controller, t0: float = 100.0):
    """Feed every EV->SECC message of a captured session; return (secc, [(request, response, captured)])."""
    secc = Secc(controller, now=t0, new_session_id=lambda: SID)
    lines = session(name)
    pairs = []
    for i, d in enumerate(lines):
        if d["dir"] != "EV->SECC":
            continue
        out = secc.handle(with_sid(d["hex"], d["ns"], SID), t0 + i * 0.1)
        captured = lines[i + 1]["json"] if i + 1 < len(lines) and lines[i + 1]["dir"] == "SECC->EV" else None
        pairs.append((d, out, captured))
    return secc, pairs


@pytest.mark.parametrize("name,dc", [("din", True), ("iso2ac", False), ("iso2dc", True)])
def test_captured_sessions_replay(name, dc, fake_controller):
    ctl = fake_controller(dc=dc, cable_answers=["Ongoing", "Valid"])
    secc, pairs = replay(name, ctl)
    for d, out, captured in pairs:
        req = body_name(d["json"])
        assert out.payload is not None, f"{req}: no response ({out.error})"
        # The response is schema-valid: it decodes back to what the SECC built.
        decoded = exi.decode(out.namespace, out.payload)
        assert body_name(decoded) == body_name(captured)
        code = body(decoded)["ResponseCode"]
        assert code.startswith("OK"), f"{req}: {code} ({out.error})"
        if "V2G_Message" in decoded:
            assert decoded["V2G_Message"]["Header"]["SessionID"] == SID
        # EVSEProcessing matches the capture where the capture finished (our cable check ends on the 2nd)
        if "EVSEProcessing" in body(captured) and req != "CableCheckReq":
            assert body(decoded)["EVSEProcessing"] == body(captured)["EVSEProcessing"]
    assert ctl.named("hlc_started")[0][1] == ("din" if name == "din" else "iso2")
    assert ctl.named("power_delivery")[0][1] is True
    if name == "din":
        # the capture ends in the charge loop: the EV is still charging
        assert secc.phase is Phase.CHARGING and secc.powered
        secc.abort("TCP connection closed", 200.0)
        assert ctl.named("power_delivery")[-1] == ("power_delivery", False, 0.0)
        assert secc.ended
    else:
        assert secc.ended and secc.stop_reason == "SessionStop(Terminate)"
        assert ctl.named("power_delivery")[-1] == ("power_delivery", False, 0.0)
        assert not secc.powered
    assert ctl.named("hlc_stopped")


def test_dc_setpoints_follow_the_ev(fake_controller):
    ctl = fake_controller(dc=True)
    replay("iso2dc", ctl)
    sets = ctl.named("dc_setpoint")
    assert sets[0] == ("dc_setpoint", 500.0, 1.0)  # precharge: EV target 500 V (50 x 10^1), 1 A
    assert all(v <= ctl.lim.dc_max_voltage_v for _n, v, _i in sets)


def test_sap_prefers_ev_priority_and_knows_minor_deviation():
    req = {"AppProtocol": [
        {"ProtocolNamespace": exi.NS_DIN, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 2},
        {"ProtocolNamespace": exi.NS_ISO2, "VersionNumberMajor": 2, "VersionNumberMinor": 1, "SchemaID": 7, "Priority": 1},
        {"ProtocolNamespace": "urn:iso:std:iso:15118:-20:CommonMessages", "VersionNumberMajor": 1,
         "VersionNumberMinor": 0, "SchemaID": 3, "Priority": 3}]}
    r = sap.negotiate(req)
    assert r.protocol == "iso2"
    assert r.response == {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiationWithMinorDeviation",
                                                      "SchemaID": 7}}
    assert sap.negotiate(req, ("din",)).protocol == "din"
    none = sap.negotiate({"AppProtocol": [req["AppProtocol"][2]]})
    assert none.protocol is None and none.response["supportedAppProtocolRes"]["ResponseCode"] == "Failed_NoNegotiation"
    exi.encode(exi.NS_APP_PROTOCOL, none.response)


def _started(fake_controller, name="iso2ac", upto="AuthorizationReq", **kw):
    """A SECC fed the capture up to (not including) the first `upto` request."""
    ctl = fake_controller(**kw)
    secc = Secc(ctl, now=0.0, new_session_id=lambda: SID)
    for d in session(name):
        if d["dir"] != "EV->SECC":
            continue
        if body_name(d["json"]) == upto:
            return secc, ctl, d
        out = secc.handle(with_sid(d["hex"], d["ns"], SID), 1.0)
        assert not out.close, out.error
    raise AssertionError(upto)


def _iso2(req: str, content: dict, sid: bytes = SID) -> bytes:
    return exi.encode(exi.NS_ISO2, {"V2G_Message": {"Header": {"SessionID": sid}, "Body": {req: content}}})


def test_unexpected_message_gets_sequence_error_and_ends(fake_controller):
    secc, ctl, _ = _started(fake_controller, upto="AuthorizationReq")
    out = secc.handle(_iso2("ChargingStatusReq", {}), 2.0)
    res = exi.decode(exi.NS_ISO2, out.payload)
    assert body_name(res) == "ChargingStatusRes"
    assert body(res)["ResponseCode"] == "FAILED_SequenceError"
    assert out.close and secc.ended and "not expected" in out.error
    assert ctl.named("hlc_stopped")


def test_wrong_session_id_gets_unknown_session(fake_controller):
    secc, ctl, d = _started(fake_controller, upto="AuthorizationReq")
    out = secc.handle(with_sid(d["hex"], d["ns"], b"\x99" * 8), 2.0)
    res = exi.decode(exi.NS_ISO2, out.payload)
    assert body(res)["ResponseCode"] == "FAILED_UnknownSession"
    assert out.close and "wrong SessionID" in out.error


def test_schema_invalid_body_closes_without_answer(fake_controller):
    secc, ctl, _ = _started(fake_controller, upto="AuthorizationReq")
    out = secc.handle(b"\x80\x98\x02\xff\xff\xff", 2.0)
    assert out.payload is None and out.close and "schema-invalid EXI" in out.error


def test_authorization_ongoing_loop_then_accepted(fake_controller):
    secc, ctl, d = _started(fake_controller, upto="AuthorizationReq",
                            auth_answers=["Ongoing", "Ongoing", "Accepted"])
    payload = with_sid(d["hex"], d["ns"], SID)
    got = [body(exi.decode(exi.NS_ISO2, secc.handle(payload, 2.0 + i).payload))["EVSEProcessing"] for i in range(3)]
    assert got == ["Ongoing", "Ongoing", "Finished"]
    assert secc.phase is Phase.CHARGE_PARAMETER


def test_authorization_rejected(fake_controller):
    secc, ctl, d = _started(fake_controller, upto="AuthorizationReq", auth_answers=["Rejected"])
    out = secc.handle(with_sid(d["hex"], d["ns"], SID), 2.0)
    assert body(exi.decode(exi.NS_ISO2, out.payload))["ResponseCode"] == "FAILED" and out.close


def test_sequence_timeout(fake_controller):
    secc, ctl, _ = _started(fake_controller, upto="AuthorizationReq")
    assert not secc.check_timeout(60.9)
    assert secc.check_timeout(61.0)
    assert secc.ended and "sequence timeout" in secc.stop_reason
    assert ctl.named("hlc_stopped")


def test_cable_check_fault_ends_dc_session_safe(fake_controller):
    secc, ctl, d = _started(fake_controller, name="iso2dc", upto="CableCheckReq", dc=True, cable_answers=["Fault"])
    out = secc.handle(with_sid(d["hex"], d["ns"], SID), 2.0)
    res = body(exi.decode(exi.NS_ISO2, out.payload))
    assert res["ResponseCode"] == "FAILED" and res["DC_EVSEStatus"]["EVSEIsolationStatus"] == "Fault"
    assert out.close and "CableCheck failed" in out.error
    assert not ctl.named("power_delivery")


def test_cable_check_limit(fake_controller):
    secc, ctl, d = _started(fake_controller, name="din", upto="CableCheckReq", dc=True, cable_answers=["Ongoing"])
    payload = with_sid(d["hex"], d["ns"], SID)
    assert not secc.handle(payload, 2.0).close
    assert not secc.handle(payload, 30.0).close
    out = secc.handle(payload, 41.0)
    assert out.close and "CableCheck not finished" in out.error


def test_tcp_drop_while_charging_stops_power(fake_controller):
    secc, ctl, _ = _started(fake_controller, upto="ChargingStatusReq")
    assert secc.powered
    secc.abort("TCP connection lost", 5.0)
    assert ctl.named("power_delivery")[-1] == ("power_delivery", False, 0.0)
    assert ctl.named("hlc_stopped")[-1] == ("hlc_stopped", "TCP connection lost")


def test_wrong_energy_mode_and_payment(fake_controller):
    secc, ctl, _ = _started(fake_controller, upto="ChargeParameterDiscoveryReq", dc=False)
    out = secc.handle(_iso2("ChargeParameterDiscoveryReq", {"RequestedEnergyTransferMode": "DC_extended", "DC_EVChargeParameter": {
        "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 10},
        "EVMaximumCurrentLimit": {"Multiplier": 0, "Unit": "A", "Value": 10},
        "EVMaximumVoltageLimit": {"Multiplier": 0, "Unit": "V", "Value": 400}}}), 2.0)
    assert body(exi.decode(exi.NS_ISO2, out.payload))["ResponseCode"] == "FAILED_WrongEnergyTransferMode"
    secc, ctl, _ = _started(fake_controller, upto="PaymentServiceSelectionReq")
    out = secc.handle(_iso2("PaymentServiceSelectionReq", {"SelectedPaymentOption": "Contract",
                                                           "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}), 2.0)
    assert body(exi.decode(exi.NS_ISO2, out.payload))["ResponseCode"] == "FAILED_PaymentSelectionInvalid"


def test_ac_current_is_min_of_evse_and_ev(fake_controller):
    secc, ctl, _ = _started(fake_controller, upto="ChargingStatusReq")
    # the capture's EV allows 32 A (32000 x 10^-3), the EVSE 32 A
    assert ctl.named("power_delivery")[0] == ("power_delivery", True, 32.0)


def test_every_response_builder_is_schema_valid_with_failure_codes(fake_controller):
    """A FAILED_SequenceError answer must be encodable for every request either protocol accepts."""
    for proto, ns, dc in (("din", exi.NS_DIN, True), ("iso2", exi.NS_ISO2, False), ("iso2", exi.NS_ISO2, True)):
        secc = Secc(fake_controller(dc=dc), now=0.0, new_session_id=lambda: SID)
        secc.protocol, secc.namespace, secc.session_id = proto, ns, SID
        for name in dir(secc):
            if name.startswith("_body_"):
                res = name[len("_body_"):]
                if proto == "din" and res in ("PaymentServiceSelectionRes", "AuthorizationRes", "ServiceDetailRes",
                                              "ChargingStatusRes", "MeteringReceiptRes"):
                    continue
                if proto == "iso2" and res in ("ServicePaymentSelectionRes", "ContractAuthenticationRes"):
                    continue
                out = secc._respond(res[:-3] + "Req", "FAILED_SequenceError")
                assert exi.decode(ns, out.payload) == exi.decode(ns, exi.encode(ns, out.response))
