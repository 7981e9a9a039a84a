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


def test_overrides_saved_before_connector_ids_still_load():
    """Keys saved with 5 items (before Connector components) load into the 6-item keys."""
    fresh = model()
    fresh.load([[["OCPPCommCtrlr", None, None, "OfflineThreshold", None], "43"], [["bad"], "1"], ["x", "1"]])
    assert fresh.get("OCPPCommCtrlr", "OfflineThreshold") == "43"


def test_connector_components_need_evse_and_connector_id():
    dm = standard_model(heartbeat_s=300, message_timeout_s=30, offline_threshold_s=300, attempts=3,
                        attempt_interval_s=10, backoff_min_s=3, backoff_range_s=10, backoff_repeat=5, ping_s=60,
                        sample_interval_s=60, security_profile=1, identity="cs1", evse_ids=[1],
                        connectors=[(1, 1)], evse_max_power_w=22080)
    conn = {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    res = dm.get_variables([{"component": conn, "variable": {"name": "ConnectorType"}},
                            {"component": {"name": "Connector", "evse": {"id": 1}}, "variable": {"name": "Available"}},
                            {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}])
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in res] == \
        [("Accepted", "sType2"), ("UnknownComponent", None), ("Accepted", "0")]
    dm.set_local("Connector", "AvailabilityState", "Occupied", evse_id=1, connector_id=1)
    rows = [d for d in dm.report("FullInventory") if d["component"]["name"] in ("Connector", "EVSE")]
    state = next(d for d in rows if d["component"] == conn and d["variable"]["name"] == "AvailabilityState")
    assert state["variableAttribute"][0]["value"] == "Occupied"
    power = next(d for d in rows if d["component"]["name"] == "EVSE" and d["variable"]["name"] == "Power")
    assert power["variableCharacteristics"]["maxLimit"] == 22080


def test_datetime_values_are_checked():
    from evcharge.ocpp.devicemodel import Variable
    v = Variable("ClockCtrlr", "Some", "", "dateTime")
    assert v.check("2026-01-01T00:00:00Z") is None and v.check("2026-01-01T00:00:00.5+01:00") is None
    for bad in ("abc", "2026-01-01", "2026-13-01T00:00:00Z", "1", "true", "2026-01-01T00:00:00"):
        assert v.check(bad) is not None, bad
