from evcharge.ocpp.faults import FAULTS, FaultReporter, event_data, lookup


def test_mapping_uses_confirmed_chargex_codes_only():
    assert lookup("RcdTrip").code == "CX002" and lookup("OvercurrentFault").code == "CX004"
    assert {m.code for m in FAULTS.values() if m.code.startswith("CX")} <= {f"CX00{i}" for i in range(1, 7)}
    assert lookup("SomethingNew").component == "EVSE"


def test_event_data_raised_and_cleared():
    d = event_data(7, "2026-01-01T00:00:00Z", "RcdTrip", 1, 1, cleared=False)
    assert d["trigger"] == "Alerting" and d["variable"] == {"name": "Problem"} and d["techCode"] == "CX002"
    assert d["component"] == {"name": "RCD", "evse": {"id": 1, "connectorId": 1}} and "cleared" not in d
    c = event_data(8, "2026-01-01T00:00:00Z", "RcdTrip", 1, 1, cleared=True)
    assert c["cleared"] is True and c["actualValue"] == "false"


def test_reporter_sends_only_differences_and_survives_restart():
    r = FaultReporter()
    r.set_faults(1, ["RcdTrip", "DiodeFault"])
    assert r.pending(1) == (["DiodeFault", "RcdTrip"], [])
    r.sent(1, ["DiodeFault", "RcdTrip"], [])
    assert r.pending(1) == ([], [])
    r.set_faults(1, ["DiodeFault"])
    saved = r.to_json()
    r2 = FaultReporter()
    r2.load_json(saved)                # restarted before the clear went out
    r2.set_faults(1, ["DiodeFault"])
    assert r2.pending(1) == ([], ["RcdTrip"])
    r2.load_json({"1": ["DiodeFault", "RcdTrip"]})
    r2.set_faults(1, [])
    assert r2.pending(1) == ([], ["DiodeFault", "RcdTrip"])
    r2.raise_fault(2, "OvercurrentFault")
    assert r2.pending(2) == (["OvercurrentFault"], [])
    r2.clear_fault(2, "OvercurrentFault")
    assert r2.pending(2) == ([], [])
