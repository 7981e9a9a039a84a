from evcharge.ocpp.smartcharging import ProfileStore, check_profile, format_time, parse_time, to_amps

T0 = "2026-01-01T00:00:00Z"
t0 = parse_time(T0)


def profile(pid, purpose, level, periods, kind="Absolute", **extra):
    sch = {"id": 1, "chargingRateUnit": "A", "startSchedule": T0,
           "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods]}
    return {"id": pid, "stackLevel": level, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": [sch], **extra}


def test_checks():
    assert check_profile(0, profile(1, "ChargingStationMaxProfile", 0, [(0, 32)]), {}) is None
    assert check_profile(1, profile(1, "ChargingStationMaxProfile", 0, [(0, 32)]), {}) == "InvalidProfile"
    assert check_profile(1, profile(1, "TxProfile", 0, [(0, 32)], transactionId="x"), {}) == "TxNotFound"
    assert check_profile(1, profile(1, "TxProfile", 0, [(0, 32)], transactionId="x"), {1: "x"}) is None
    bad = profile(1, "TxDefaultProfile", 0, [(0, 32)])
    bad["chargingSchedule"][0]["chargingRateUnit"] = "kW"
    assert check_profile(1, bad, {}) == "UnsupportedRateUnit"
    assert check_profile(1, profile(1, "TxProfile", 0, [(0, 32)]), {1: "x"}) == "TxNotFound"  # no transactionId
    assert check_profile(1, profile(1, "TxDefaultProfile", 9, [(0, 32)]), {}) == "InvalidStackLevel"
    assert check_profile(1, profile(1, "TxDefaultProfile", 0, [(i, 6) for i in range(25)]), {}) == "TooManyElements"
    assert check_profile(1, profile(1, "TxDefaultProfile", 0, [(0, -1)]), {}) == "InvalidSchedule"
    assert check_profile(1, profile(1, "TxDefaultProfile", 0, [(0, 6)], validFrom=T0, validTo=T0), {}) == \
        "InvalidProfile"
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


def test_same_id_replaces_and_same_stack_level_with_overlap_is_a_duplicate():
    s = ProfileStore()
    s.set(1, profile(1, "TxDefaultProfile", 0, [(0, 20)]))
    assert check_profile(1, profile(2, "TxDefaultProfile", 0, [(0, 12)]), {}, s.items()) == "DuplicateProfile"
    assert check_profile(2, profile(2, "TxDefaultProfile", 0, [(0, 12)]), {}, s.items()) is None   # other EVSE
    assert check_profile(1, profile(2, "TxDefaultProfile", 1, [(0, 12)]), {}, s.items()) is None   # other level
    later = profile(2, "TxDefaultProfile", 0, [(0, 12)], validFrom="2027-01-01T00:00:00Z")
    s.profiles[1][1]["validTo"] = "2026-06-01T00:00:00Z"
    assert check_profile(1, later, {}, s.items()) is None                                          # no overlap
    assert check_profile(1, profile(1, "TxDefaultProfile", 0, [(0, 12)]), {}, s.items()) is None   # same id
    s.set(1, profile(1, "TxDefaultProfile", 0, [(0, 12)]))
    assert list(s.profiles) == [1]
    d = ProfileStore()
    d.load_json(s.to_json())
    assert d.evse_limit(1, t0, None, None) == 12


def test_watts_are_converted_with_the_period_phases():
    assert to_amps(6900, "W", 3) == 10.0
    assert to_amps(2300, "W", 1) == 10.0
    assert to_amps(16, "A", 1) == 16.0
    s = ProfileStore()
    w = profile(1, "TxDefaultProfile", 0, [(0, 11040)])
    w["chargingSchedule"][0]["chargingRateUnit"] = "W"
    assert check_profile(1, w, {}) is None
    s.set(1, w)
    assert s.evse_limit(1, t0 + 1, None, None) == 16.0


def test_validity_window():
    s = ProfileStore()
    s.set(1, profile(1, "TxDefaultProfile", 0, [(0, 10)], validFrom=format_time(t0 + 100), validTo=format_time(t0 + 200)))
    assert s.evse_limit(1, t0 + 99, None, None) is None
    assert s.evse_limit(1, t0 + 100, None, None) == 10
    assert s.evse_limit(1, t0 + 200, None, None) is None


def test_composite_schedule_combines_station_and_evse_profiles():
    s = ProfileStore()
    s.set(0, profile(1, "ChargingStationMaxProfile", 0, [(0, 20), (600, 12)]))
    s.set(1, profile(2, "TxDefaultProfile", 0, [(0, 16), (300, 25), (900, 8)]))
    c = s.composite_schedule(1, t0, 1200, "A", default_a=32)
    assert c["scheduleStart"] == T0 and c["duration"] == 1200 and c["chargingRateUnit"] == "A"
    assert [(p["startPeriod"], p["limit"]) for p in c["chargingSchedulePeriod"]] == [(0, 16), (300, 20), (600, 12),
                                                                                      (900, 8)]
    w = s.composite_schedule(1, t0, 1200, "W", default_a=32, phases=3)
    assert w["chargingSchedulePeriod"][0]["limit"] == 16 * 230 * 3
    station = s.composite_schedule(0, t0 - 60, 120, "A", default_a=40)
    assert [(p["startPeriod"], p["limit"]) for p in station["chargingSchedulePeriod"]] == [(0, 40), (60, 20)]


def test_composite_schedule_follows_recurrence_and_higher_stack_levels():
    s = ProfileStore()
    s.set(1, profile(1, "TxDefaultProfile", 0, [(0, 6), (8 * 3600, 32)], kind="Recurring", recurrencyKind="Daily"))
    s.set(1, profile(2, "TxDefaultProfile", 1, [(0, 10)], validFrom=format_time(t0 + 86400 + 3600),
                     validTo=format_time(t0 + 86400 + 7200)))
    c = s.composite_schedule(1, t0 + 86400, 86400, "A", default_a=32)
    assert [(p["startPeriod"], p["limit"]) for p in c["chargingSchedulePeriod"]] == [
        (0, 6), (3600, 10), (7200, 6), (8 * 3600, 32)]


def test_next_change_is_the_next_period_boundary():
    s = ProfileStore()
    s.set(1, profile(1, "TxDefaultProfile", 0, [(0, 10), (30, 16)]))
    assert s.next_change(t0 + 1, 60, {}) == t0 + 30
    assert s.next_change(t0 + 31, 60, {}) is None
    s.set(1, profile(2, "TxProfile", 0, [(0, 6), (5, 8)], kind="Relative", transactionId="tx"))
    assert s.next_change(t0 + 31, 60, {"tx": t0 + 30}) == t0 + 35


def test_get_charging_profiles_criteria():
    s = ProfileStore()
    s.set(0, profile(1, "ChargingStationMaxProfile", 0, [(0, 40)]))
    s.set(1, profile(2, "TxDefaultProfile", 0, [(0, 16)]))
    s.set(2, profile(3, "TxDefaultProfile", 1, [(0, 16)]))
    assert {e: [p["id"] for p in ps] for e, ps in s.select().items()} == {0: [1], 1: [2], 2: [3]}
    assert list(s.select(evse_id=1)) == [1]
    assert {e: [p["id"] for p in ps] for e, ps in s.select(purpose="TxDefaultProfile", stack_level=1).items()} == \
        {2: [3]}
    assert list(s.select(ids=[1, 3])) == [0, 2]
    assert s.select(sources=["EMS"]) == {}
    assert s.select(evse_id=1, purpose="ChargingStationMaxProfile") == {}
    assert s.clear(evse_id=None, purpose="TxDefaultProfile") and list(s.profiles) == [1]
