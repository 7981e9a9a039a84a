from evcharge.ocpp.devicemodel import pages, standard_model


def model():
    return standard_model(heartbeat_s=300, message_timeout_s=30, offline_threshold_s=300, attempts=3,
                          attempt_interval_s=10, backoff_min_s=3, backoff_range_s=10, backoff_repeat=5, ping_s=60,
                          sample_interval_s=60, security_profile=1, identity="cs1", evse_ids=[1, 2])


def cv(c, v, inst=None, **kw):
    return {"component": {"name": c}, "variable": {"name": v} | ({"instance": inst} if inst else {}), **kw}


def test_get_statuses():
    dm = model()
    res = dm.get_variables([cv("OCPPCommCtrlr", "HeartbeatInterval"), cv("Nope", "X"), cv("OCPPCommCtrlr", "Nope"),
                            cv("OCPPCommCtrlr", "HeartbeatInterval", attributeType="MinSet"),
                            cv("OCPPCommCtrlr", "MessageTimeout", "Default")])
    assert [r["attributeStatus"] for r in res] == ["Accepted", "UnknownComponent", "UnknownVariable",
                                                   "NotSupportedAttributeType", "Accepted"]
    assert res[0]["attributeValue"] == "300"
    assert res[4]["attributeValue"] == "30"


def test_evse_component_needs_its_evse():
    dm = model()
    ok = {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "AvailabilityState"}}
    bad = {"component": {"name": "EVSE", "evse": {"id": 3}}, "variable": {"name": "AvailabilityState"}}
    assert [r["attributeStatus"] for r in dm.get_variables([ok, bad])] == ["Accepted", "UnknownComponent"]


def test_set_checks_type_range_mutability_and_notifies():
    dm = model()
    seen = []
    dm.on_change.append(lambda v: seen.append((v.name, v.value)))
    res = dm.set_variables([
        cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="60"),
        cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="0"),
        cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="1.5"),
        cv("AuthCtrlr", "LocalAuthorizeOffline", attributeValue="yes"),
        cv("AuthCtrlr", "AuthorizeRemoteStart", attributeValue="true"),
        cv("SampledDataCtrlr", "TxUpdatedMeasurands", attributeValue="Power.Active.Import"),
        cv("SampledDataCtrlr", "TxUpdatedMeasurands", attributeValue="SoC"),
        cv("TxCtrlr", "TxStartPoint", attributeValue="ParkingBayOccupancy"),   # no bay sensor
        cv("TxCtrlr", "TxStopPoint", attributeValue="EVConnected,Authorized"),
    ])
    assert [r["attributeStatus"] for r in res] == ["Accepted", "Rejected", "Rejected", "Rejected", "Rejected",
                                                   "Accepted", "Rejected", "Rejected", "Accepted"]
    assert res[4]["attributeStatusInfo"]["reasonCode"] == "ReadOnly"
    assert res[7]["attributeStatusInfo"]["reasonCode"] == "InvalidValue"
    assert seen == [("HeartbeatInterval", "60"), ("TxUpdatedMeasurands", "Power.Active.Import"),
                    ("TxStopPoint", "EVConnected,Authorized")]
    assert dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 60


def test_overrides_round_trip():
    dm = model()
    dm.set_variables([cv("OCPPCommCtrlr", "OfflineThreshold", attributeValue="42")])
    saved = dm.overrides()
    assert len(saved) == 1
    fresh = model()
    fresh.load(saved)
    assert fresh.get("OCPPCommCtrlr", "OfflineThreshold") == "42"
    fresh.load([[["OCPPCommCtrlr", None, None, "MessageTimeout", "Default"], "1"]])  # read-only: ignored
    assert fresh.get("OCPPCommCtrlr", "MessageTimeout", "Default") == "30"


def test_reports_and_pages():
    dm = model()
    full = dm.report("FullInventory")
    conf = dm.report("ConfigurationInventory")
    assert len(conf) < len(full)
    assert all(d["variableAttribute"][0]["mutability"] != "ReadOnly" for d in conf)
    assert dm.report("SummaryInventory") is None
    assert [len(p) for p in pages(list(range(45)), 20)] == [20, 20, 5]
    assert pages([], 20) == [[]]
