"""Clock-aligned and transaction-ended meter values (OCA Part 6 TC_J_01/02/03/07/09/10) on the real stack."""

from __future__ import annotations

from datetime import datetime

CARD = "04A1B2C3"


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def set_vars(csms, *items: tuple[str, str, str]) -> None:
    r = await csms.call("SetVariables", {"setVariableData": [
        {"component": {"name": c}, "variable": {"name": v}, "attributeValue": val} for c, v, val in items]})
    assert all(x["attributeStatus"] == "Accepted" for x in r["setVariableResult"]), r


async def charging(stack, cid: int = 1) -> None:
    await stack.sim(cid, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(cid, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(cid), lambda c: c["State"] == "Charging", timeout=20, what_name="Charging")


def assert_multiples(times: list[float], interval: float) -> None:
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps and all(g > 0 and abs(g / interval - round(g / interval)) < 1e-6 for g in gaps), gaps


async def test_TC_J_01_CS_clock_aligned_no_transaction(start_ocpp, csms):
    await start_ocpp()
    await set_vars(csms, ("AlignedDataCtrlr", "Interval", "1"))
    mvs = await csms.wait_for("MeterValues", 6, where=lambda p: p["evseId"] in (1, 2), timeout=30)
    for evse in (1, 2):
        mine = [p for p in csms.received("MeterValues") if p["evseId"] == evse]
        assert len(mine) >= 2
        for p in mine:
            (mv,) = p["meterValue"]
            assert mv["sampledValue"][0]["context"] == "Sample.Clock"
            assert {sv["measurand"] for sv in mv["sampledValue"]} == {"Energy.Active.Import.Register"}
            assert ts(mv["timestamp"]) == int(ts(mv["timestamp"]))        # on the clock boundary
        assert_multiples([ts(p["meterValue"][0]["timestamp"]) for p in mine], 1)
    # one tick: every EVSE's message carries the same timestamp
    assert mvs[0]["meterValue"][0]["timestamp"] in {p["meterValue"][0]["timestamp"] for p in mvs[1:]}


async def test_TC_J_02_CS_clock_aligned_during_transaction(start_ocpp, csms):
    stack = await start_ocpp()
    await set_vars(csms, ("AlignedDataCtrlr", "Interval", "1"),
                   ("AlignedDataCtrlr", "Measurands", "Energy.Active.Import.Register,Power.Active.Import"))
    await charging(stack)
    evs = await csms.wait_for("TransactionEvent", 2, where=lambda p: p["triggerReason"] == "MeterValueClock",
                              timeout=30)
    for ev in evs:
        assert ev["eventType"] == "Updated"
        svs = ev["meterValue"][0]["sampledValue"]
        assert {sv["context"] for sv in svs} == {"Sample.Clock"}
        assert {sv["measurand"] for sv in svs} == {"Energy.Active.Import.Register", "Power.Active.Import"}
    assert_multiples([ts(e["timestamp"]) for e in evs], 1)
    # the idle EVSE keeps reporting with MeterValues
    await csms.wait_for("MeterValues", where=lambda p: p["evseId"] == 2, timeout=30)


async def test_TC_J_03_CS_clock_aligned_in_ended(start_ocpp, csms):
    stack = await start_ocpp()
    await set_vars(csms, ("AlignedDataCtrlr", "TxEndedInterval", "1"), ("AlignedDataCtrlr", "Interval", "1"))
    await charging(stack)
    # The aligned ticks of the two intervals coincide: three of them mean at least two kept samples.
    await csms.wait_for("TransactionEvent", 3, where=lambda p: p["triggerReason"] == "MeterValueClock", timeout=30)
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    clock = [mv for mv in end["meterValue"] if mv["sampledValue"][0]["context"] == "Sample.Clock"]
    assert len(clock) >= 2
    assert_multiples([ts(mv["timestamp"]) for mv in clock], 1)
    assert end["meterValue"][-1]["sampledValue"][0]["context"] == "Transaction.End"


async def test_TC_J_10_CS_sampled_in_ended(start_ocpp, csms):
    stack = await start_ocpp(meter_sample_interval_s=1)
    await set_vars(csms, ("SampledDataCtrlr", "TxEndedInterval", "1"),
                   ("SampledDataCtrlr", "TxEndedMeasurands", "Energy.Active.Import.Register,Power.Active.Import"))
    await charging(stack)
    await csms.wait_for("TransactionEvent", 4, where=lambda p: p["triggerReason"] == "MeterValuePeriodic", timeout=30)
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    periodic = [mv for mv in end["meterValue"] if mv["sampledValue"][0]["context"] == "Sample.Periodic"]
    assert len(periodic) >= 2
    assert {sv["measurand"] for sv in periodic[0]["sampledValue"]} == {"Energy.Active.Import.Register",
                                                                       "Power.Active.Import"}
    assert_multiples([ts(mv["timestamp"]) for mv in periodic], 1)
    # the next transaction starts with an empty list: nothing older than its start
    await stack.sim(1, "PlugIn", "d", 220.0)
    second = (await csms.wait_for("TransactionEvent", 2, where=lambda p: p["eventType"] == "Started"))[1]
    await stack.sim(1, "Unplug")
    ends = await csms.wait_for("TransactionEvent", 2, where=lambda p: p["eventType"] == "Ended")
    assert all(ts(mv["timestamp"]) >= ts(second["timestamp"]) - 0.001 for mv in ends[1]["meterValue"])


async def test_TC_J_07_CS_sampled_in_started(start_ocpp, csms):
    stack = await start_ocpp()
    await set_vars(csms, ("SampledDataCtrlr", "TxStartedMeasurands",
                          "Energy.Active.Import.Register,Power.Active.Import"))
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    assert ev["evse"] == {"id": 1, "connectorId": 1}
    svs = ev["meterValue"][0]["sampledValue"]
    assert {sv["context"] for sv in svs} == {"Transaction.Begin"}
    assert {sv["measurand"] for sv in svs} == {"Energy.Active.Import.Register", "Power.Active.Import"}


async def test_TC_J_09_CS_sampled_in_updated(start_ocpp, csms):
    stack = await start_ocpp(meter_sample_interval_s=1)
    await set_vars(csms, ("SampledDataCtrlr", "TxUpdatedMeasurands", "Energy.Active.Import.Register"))
    await charging(stack)
    evs = await csms.wait_for("TransactionEvent", 2, where=lambda p: p["triggerReason"] == "MeterValuePeriodic",
                              timeout=30)
    for ev in evs:
        assert ev["eventType"] == "Updated"
        (sv,) = ev["meterValue"][0]["sampledValue"]
        assert sv["context"] == "Sample.Periodic" and sv["measurand"] == "Energy.Active.Import.Register"
