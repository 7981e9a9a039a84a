"""OCPP 2.0.1 smart charging (block K) against the test CSMS, with the real energy service.

The shared Part 6 edition lists only TC_K_38 (no smart charging); the TC_K_01..05 names follow
the OCA test tool's later numbering (K01 Set, K10 Clear). GetCompositeSchedule (K08) and
GetChargingProfiles (K09) are named after their use cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evcharge.common import names
from evcharge.common.bus import get_all

CARD = "04A1B2C3"


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def prof(pid, purpose, periods, *, level=0, unit="A", start=None, **extra):
    start = start or datetime.now(UTC) - timedelta(seconds=5)
    return {"id": pid, "stackLevel": level, "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": pid, "chargingRateUnit": unit, "startSchedule": iso(start),
                                  "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim, **ph}
                                                             for s, lim, *rest in periods
                                                             for ph in [rest[0] if rest else {}]]}],
            **extra}


async def ext_limits(stack) -> list[tuple]:
    p = await get_all(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY)
    return sorted(map(tuple, p["ExternalLimits"]))


async def set_profile(csms, evse_id, profile) -> dict:
    return await csms.call("SetChargingProfile", {"evseId": evse_id, "chargingProfile": profile})


async def test_TC_K_01_CS_tx_default_profile_specific_evse(start_ocpp, csms):
    stack = await start_ocpp()
    assert (await set_profile(csms, 1, prof(1, "TxDefaultProfile", [(0, 10)])))["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(1, "ocpp", 10.0)], what_name="evse 1 at 10 A", timeout=20)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(1), lambda c: 0 < c["AllocatedCurrentA"] <= 10.0, what_name="allocation <= 10 A")


async def test_TC_K_02_CS_tx_profile_without_transaction_is_rejected(start_ocpp, csms):
    stack = await start_ocpp()
    r = await set_profile(csms, 1, prof(5, "TxProfile", [(0, 8)], transactionId="no-such-tx"))
    assert r["status"] == "Rejected" and r["statusInfo"]["reasonCode"] == "TxNotFound"
    # With the transaction running on that EVSE, the same TxProfile is accepted and wins over TxDefault.
    assert (await set_profile(csms, 1, prof(1, "TxDefaultProfile", [(0, 16)])))["status"] == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    tx_id = ev["transactionInfo"]["transactionId"]
    r = await set_profile(csms, 1, prof(5, "TxProfile", [(0, 8)], transactionId=tx_id))
    assert r["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: (1, "ocpp", 8.0) in v, what_name="TxProfile 8 A", timeout=20)
    # The TxProfile ends with its transaction: back to the TxDefaultProfile.
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: ext_limits(stack), lambda v: (1, "ocpp", 16.0) in v, what_name="back to 16 A", timeout=20)


async def test_TC_K_03_CS_charging_station_max_profile_in_watts(start_ocpp, csms):
    stack = await start_ocpp()
    r = await set_profile(csms, 1, prof(2, "ChargingStationMaxProfile", [(0, 20)]))
    assert r["status"] == "Rejected"  # a station profile only on evseId 0
    # 13800 W on 3 phases at 230 V = 20 A per phase.
    r = await set_profile(csms, 0, prof(2, "ChargingStationMaxProfile", [(0, 13800, {"numberPhases": 3})], unit="W"))
    assert r["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(0, "ocpp", 20.0)], what_name="site at 20 A", timeout=20)
    got = await get_all(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY)
    assert got["EffectiveSiteLimitA"] == 20.0


async def test_TC_K_04_CS_replace_profile_with_same_id_and_duplicate_is_rejected(start_ocpp, csms):
    stack = await start_ocpp()
    assert (await set_profile(csms, 1, prof(1, "TxDefaultProfile", [(0, 10)])))["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(1, "ocpp", 10.0)], timeout=20)
    assert (await set_profile(csms, 1, prof(1, "TxDefaultProfile", [(0, 14)])))["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(1, "ocpp", 14.0)], what_name="replaced by id", timeout=20)
    r = await set_profile(csms, 1, prof(2, "TxDefaultProfile", [(0, 6)]))
    assert r["status"] == "Rejected" and r["statusInfo"]["reasonCode"] == "DuplicateProfile"
    assert (await set_profile(csms, 1, prof(2, "TxDefaultProfile", [(0, 6)], level=1)))["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(1, "ocpp", 6.0)], what_name="higher stack level wins", timeout=20)


async def test_TC_K_05_CS_clear_charging_profile_by_id_and_criteria(start_ocpp, csms):
    stack = await start_ocpp()
    for evse, pid, lim in ((1, 1, 10), (2, 2, 12)):
        assert (await set_profile(csms, evse, prof(pid, "TxDefaultProfile", [(0, lim)])))["status"] == "Accepted"
    assert (await set_profile(csms, 0, prof(3, "ChargingStationMaxProfile", [(0, 30)])))["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: len(v) == 3, timeout=20)
    r = await csms.call("GetVariables", {"getVariableData": [
        {"component": {"name": "SmartChargingCtrlr"}, "variable": v}
        for v in ({"name": "Entries", "instance": "ChargingProfiles"}, {"name": "RateUnit"})]})
    assert [x["attributeValue"] for x in r["getVariableResult"]] == ["3", "A,W"]
    assert (await csms.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Accepted"
    assert (await csms.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Unknown"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(0, "ocpp", 30.0), (2, "ocpp", 12.0)], timeout=20)
    r = await csms.call("ClearChargingProfile", {"chargingProfileCriteria": {"chargingProfilePurpose":
                                                                             "ChargingStationMaxProfile"}})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(2, "ocpp", 12.0)], timeout=20)
    r = await csms.call("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 2, "stackLevel": 0}})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [], what_name="no OCPP limit left", timeout=20)


async def test_K01_limit_follows_schedule_periods_over_time(start_ocpp, csms):
    """The energy limit changes at the period boundary without any new message from the CSMS."""
    stack = await start_ocpp()
    start = datetime.now(UTC).replace(microsecond=0)
    # Generous first period: under load the 10 A must still be seen before the 15 s boundary.
    r = await set_profile(csms, 1, prof(1, "TxDefaultProfile", [(0, 10), (15, 16), (18, 6)], start=start))
    assert r["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(1, "ocpp", 10.0)], timeout=14, what_name="10 A")
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(1, "ocpp", 16.0)], timeout=40, what_name="16 A")
    assert datetime.now(UTC) >= start + timedelta(seconds=15)
    await stack.wait(lambda: ext_limits(stack), lambda v: v == [(1, "ocpp", 6.0)], timeout=40, what_name="6 A")
    assert datetime.now(UTC) >= start + timedelta(seconds=18)


async def test_K08_get_composite_schedule(start_ocpp, csms):
    await start_ocpp()
    start = datetime.now(UTC) - timedelta(seconds=1)
    await set_profile(csms, 0, prof(1, "ChargingStationMaxProfile", [(0, 20)], start=start))
    await set_profile(csms, 1, prof(2, "TxDefaultProfile", [(0, 16), (3600, 25)], start=start))
    r = await csms.call("GetCompositeSchedule", {"duration": 7200, "evseId": 1, "chargingRateUnit": "A"})
    assert r["status"] == "Accepted"
    sch = r["schedule"]
    assert sch["evseId"] == 1 and sch["duration"] == 7200 and sch["chargingRateUnit"] == "A"
    periods = [(p["startPeriod"], p["limit"]) for p in sch["chargingSchedulePeriod"]]
    assert periods[0] == (0, 16.0) and periods[1][1] == 20.0 and 3590 <= periods[1][0] <= 3600, periods
    w = await csms.call("GetCompositeSchedule", {"duration": 600, "evseId": 1, "chargingRateUnit": "W"})
    assert [(p["startPeriod"], p["limit"]) for p in w["schedule"]["chargingSchedulePeriod"]] == [(0, 16 * 230 * 3)]
    station = await csms.call("GetCompositeSchedule", {"duration": 600, "evseId": 0})
    assert [p["limit"] for p in station["schedule"]["chargingSchedulePeriod"]] == [20.0]
    unknown = await csms.call("GetCompositeSchedule", {"duration": 600, "evseId": 9})
    assert unknown["status"] == "Rejected"


async def test_K09_get_charging_profiles_report(start_ocpp, csms):
    await start_ocpp()
    await set_profile(csms, 0, prof(1, "ChargingStationMaxProfile", [(0, 30)]))
    await set_profile(csms, 1, prof(2, "TxDefaultProfile", [(0, 16)]))
    await set_profile(csms, 2, prof(3, "TxDefaultProfile", [(0, 12)], level=2))
    r = await csms.call("GetChargingProfiles", {"requestId": 41, "chargingProfile": {}})
    assert r["status"] == "Accepted"
    reports = await csms.wait_for("ReportChargingProfiles", 3, where=lambda p: p["requestId"] == 41)
    assert [(p["evseId"], [c["id"] for c in p["chargingProfile"]], p.get("tbc", False)) for p in reports] == \
        [(0, [1], True), (1, [2], True), (2, [3], False)]
    assert all(p["chargingLimitSource"] == "CSO" for p in reports)
    r = await csms.call("GetChargingProfiles", {"requestId": 42, "evseId": 2,
                                                "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile",
                                                                    "stackLevel": 2}})
    assert r["status"] == "Accepted"
    (rep,) = await csms.wait_for("ReportChargingProfiles", where=lambda p: p["requestId"] == 42)
    assert rep["evseId"] == 2 and rep["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"] == \
        [{"startPeriod": 0, "limit": 12}]
    r = await csms.call("GetChargingProfiles", {"requestId": 43, "chargingProfile": {"chargingProfileId": [99]}})
    assert r["status"] == "NoProfiles"


async def test_limit_change_significance_reports_charging_rate_changed(start_ocpp, csms):
    """K01 / SmartChargingCtrlr.LimitChangeSignificance (percent): a TxProfile that moves the
    transaction's limit by at least that much is reported as Updated / ChargingRateChanged; a
    smaller change is not."""
    stack = await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "LimitChangeSignificance"},
        "attributeValue": "20"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert (await set_profile(csms, 1, prof(1, "TxDefaultProfile", [(0, 20)])))["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: (1, "ocpp", 20.0) in v, what_name="evse 1 at 20 A", timeout=20)
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=60)
    tx_id = ev["transactionInfo"]["transactionId"]
    # 20 A -> 18 A is 10 %: below the significance, not reported.
    assert (await set_profile(csms, 1, prof(5, "TxProfile", [(0, 18)], transactionId=tx_id)))["status"] == "Accepted"
    await stack.wait(lambda: ext_limits(stack), lambda v: (1, "ocpp", 18.0) in v, what_name="18 A", timeout=20)
    # 18 A -> 12 A is 33 % (and 40 % from the 20 A last reported): reported once.
    assert (await set_profile(csms, 1, prof(6, "TxProfile", [(0, 12)], level=1, transactionId=tx_id)))["status"] \
        == "Accepted"
    (changed,) = await csms.wait_for("TransactionEvent", timeout=60,
                                     where=lambda p: p["triggerReason"] == "ChargingRateChanged")
    assert changed["eventType"] == "Updated" and changed["transactionInfo"]["transactionId"] == tx_id
    await stack.wait(lambda: ext_limits(stack), lambda v: (1, "ocpp", 12.0) in v, what_name="12 A", timeout=20)
    reasons = [p["triggerReason"] for p in csms.received("TransactionEvent")]
    assert reasons.count("ChargingRateChanged") == 1
