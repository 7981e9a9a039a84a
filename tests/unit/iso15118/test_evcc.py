"""The EV simulator's state machine against the SECC's, both pure, through the EXI codec."""

from __future__ import annotations

import pytest
from evcharge import exi
from evcharge.iso15118.secc import Secc
from evcharge.sim.evcc import Evcc, EvParams, Misbehave


def run(evcc: Evcc, secc: Secc, now: float = 0.0, max_steps: int = 500):
    """Exchange messages until either side ends; returns (evcc step, secc output, requests sent)."""
    step = evcc.first()
    sent = []
    out = None
    for _ in range(max_steps):
        if step.stall or step.drop:
            secc.abort("TCP connection closed by the EV" if step.drop else "EV silent", now)
            return step, out, sent
        payload = step.payload if step.payload is not None else exi.encode(step.namespace, step.request)
        sent.append(step.name)
        now += 0.05
        out = secc.handle(payload, now)
        if out.payload is None:
            return step, out, sent
        step = evcc.on_response(exi.decode(out.namespace, out.payload))
        if step.done:
            return step, out, sent
    raise AssertionError("no end")


@pytest.mark.parametrize("protocol,dc", [("din", True), ("iso2", False), ("iso2", True)])
def test_full_sessions(protocol, dc, fake_controller):
    ctl = fake_controller(dc=dc, auth_answers=["Ongoing", "Accepted"], cable_answers=["Ongoing", "Ongoing", "Valid"])
    evcc = Evcc(EvParams(protocol=protocol, dc=dc, charge_loops=5))
    step, out, sent = run(evcc, Secc(ctl, now=0.0))
    assert step.done and not step.error, step.error
    assert out.close and sent[-1] == "SessionStopReq"
    loop = "CurrentDemandReq" if dc else "ChargingStatusReq"
    assert sent.count(loop) == 5
    assert [c[1] for c in ctl.named("power_delivery")] == [True, False]
    if dc:
        assert "PreChargeReq" in sent and sent.count("WeldingDetectionReq") == 2
        assert ctl.named("dc_setpoint")[-1][1] == 400.0


@pytest.mark.parametrize("kind,at,code", [
    ("wrong_sid", "ChargingStatusReq", "FAILED_UnknownSession"),
    ("unexpected", "PowerDeliveryReq", "FAILED_SequenceError"),
])
def test_misbehaving_ev_gets_failed_and_power_stops(kind, at, code, fake_controller):
    ctl = fake_controller()
    evcc = Evcc(EvParams(charge_loops=3), Misbehave(kind, at))
    step, out, sent = run(evcc, Secc(ctl, now=0.0))
    assert code in step.error and out.close
    if at == "ChargingStatusReq":
        assert [c[1] for c in ctl.named("power_delivery")] == [True, False]


def test_invalid_exi_and_drop(fake_controller):
    ctl = fake_controller()
    step, out, _ = run(Evcc(EvParams(), Misbehave("invalid_exi", "ChargeParameterDiscoveryReq")), Secc(ctl, now=0.0))
    assert out.payload is None and "schema-invalid" in out.error
    ctl = fake_controller()
    secc = Secc(ctl, now=0.0)
    step, out, _ = run(Evcc(EvParams(), Misbehave("drop", "ChargingStatusReq")), secc)
    assert step.drop and secc.ended and not secc.powered
    assert ctl.named("power_delivery")[-1][1] is False
