from evcharge.ocpp.smartcharging import ProfileStore, check_profile, parse_time

T0 = "2026-01-01T00:00:00Z"
t0 = parse_time(T0)


def profile(pid, purpose, level, periods, kind="Absolute", **extra):
    sch = {"id": 1, "chargingRateUnit": "A", "startSchedule": T0,
           "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods]}
    return {"id": pid, "stackLevel": level, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": [sch], **extra}


def test_checks():
    assert check_profile(0, profile(1, "ChargingStationMaxProfile", 0, [(0, 32)]), {}) is None
    assert check_profile(1, profile(1, "ChargingStationMaxProfile", 0, [(0, 32)]), {}) == "InvalidEvse"
    assert check_profile(1, profile(1, "TxProfile", 0, [(0, 32)], transactionId="x"), {}) == "TxNotFound"
    assert check_profile(1, profile(1, "TxProfile", 0, [(0, 32)], transactionId="x"), {1: "x"}) is None
    bad = profile(1, "TxDefaultProfile", 0, [(0, 32)])
    bad["chargingSchedule"][0]["chargingRateUnit"] = "W"
    assert check_profile(1, bad, {}) == "UnsupportedRateUnit"
    assert check_profile(1, profile(1, "TxDefaultProfile", 0, [(10, 32)]), {}) == "InvalidSchedule"


def test_periods_stack_levels_and_evse_fallback():
    s = ProfileStore()
    s.set(0, profile(1, "TxDefaultProfile", 0, [(0, 20)]))
    s.set(1, profile(2, "TxDefaultProfile", 1, [(0, 16), (3600, 10)]))
    s.set(0, profile(3, "ChargingStationMaxProfile", 0, [(0, 40)]))
    assert s.evse_limit(1, t0 + 10, None, None) == 16
    assert s.evse_limit(1, t0 + 3600, None, None) == 10
    assert s.evse_limit(2, t0 + 10, None, None) == 20       # evseId 0's default
    assert s.evse_limit(2, t0 - 10, None, None) is None     # before the schedule starts
    assert s.station_limit(t0 + 1) == 40
    s.set(1, profile(4, "TxProfile", 0, [(0, 8)], transactionId="tx1"))
    assert s.evse_limit(1, t0 + 10, "tx1", t0) == 8
    s.drop_transaction("tx1")
    assert s.evse_limit(1, t0 + 10, "tx1", t0) == 16
    assert s.clear(evse_id=1) and not s.clear(profile_id=99)
    assert s.evse_limit(1, t0 + 10, None, None) == 20


def test_recurring_daily_and_relative():
    s = ProfileStore()
    s.set(1, profile(1, "TxDefaultProfile", 0, [(0, 6), (8 * 3600, 32)], kind="Recurring", recurrencyKind="Daily"))
    assert s.evse_limit(1, t0 + 3 * 86400 + 3600, None, None) == 6
    assert s.evse_limit(1, t0 + 3 * 86400 + 9 * 3600, None, None) == 32
    r = ProfileStore()
    rel = profile(2, "TxDefaultProfile", 0, [(0, 10), (60, 20)], kind="Relative")
    del rel["chargingSchedule"][0]["startSchedule"]
    r.set(1, rel)
    assert r.evse_limit(1, 1000, None, None) is None      # no transaction: nothing to be relative to
    assert r.evse_limit(1, 1070, "tx", 1000) == 20


def test_same_stack_level_and_purpose_replaces():
    s = ProfileStore()
    s.set(1, profile(1, "TxDefaultProfile", 0, [(0, 20)]))
    s.set(1, profile(2, "TxDefaultProfile", 0, [(0, 12)]))
    assert list(s.profiles) == [2]
    d = ProfileStore()
    d.load_json(s.to_json())
    assert d.evse_limit(1, t0, None, None) == 12
