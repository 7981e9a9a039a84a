from evcharge.ocpp.transactions import TxBuilder, sampled_values


def builder():
    return TxBuilder({1: (1, 1), 2: (2, 1)})


def test_seqno_continuous_and_shapes():
    b = builder()
    m = [b.started(1, "s1", "t0", meter=sampled_values("t0", "Transaction.Begin", energy_wh=10, power_w=None,
                                                        measurands=["Energy.Active.Import.Register"])),
         b.authorized(1, "CARD", "ISO14443", "t1"),
         b.charging_state(1, "Charging", "t2"),
         b.charging_state(1, "Charging", "t2b"),   # no change: no message
         b.stopped(1, "Local", "t3"),
         b.ended(1, "Local", "t4", offline=True)]
    assert m[3] is None
    m = [x for x in m if x]
    assert [x["seqNo"] for x in m] == [0, 1, 2, 3, 4]
    assert [x["eventType"] for x in m] == ["Started", "Updated", "Updated", "Updated", "Ended"]
    assert m[0]["evse"] == {"id": 1, "connectorId": 1} and m[0]["triggerReason"] == "CablePluggedIn"
    assert m[0]["meterValue"][0]["sampledValue"][0]["value"] == 10
    assert m[1]["idToken"] == {"idToken": "CARD", "type": "ISO14443"}
    assert m[3]["triggerReason"] == "StopAuthorized"
    assert m[4]["transactionInfo"] == {"transactionId": "s1", "chargingState": "Idle", "stoppedReason": "Local"}
    assert m[4]["offline"] is True
    assert b.active == {}


def test_remote_start_id_and_token_type():
    b = builder()
    b.remote_starts[2] = (42, {"idToken": "R1", "type": "Central"})
    b.started(2, "s2", "t0")
    msg = b.authorized(2, "r1", "Central", "t1")
    assert msg["triggerReason"] == "RemoteStart" and msg["transactionInfo"]["remoteStartId"] == 42
    assert b.authorized(1, "X", "weird", "t") is None  # no transaction on 1
    b.started(1, "s3", "t")
    assert b.authorized(1, "X", "weird", "t")["idToken"]["type"] == "Central"


def test_state_survives_restart():
    b = builder()
    b.started(1, "s1", "t0")
    b.authorized(1, "CARD", "ISO14443", "t1")
    c = builder()
    c.load_json(b.to_json())
    assert c.ended(1, "EVDisconnected", "t2")["seqNo"] == 2
    assert c.started(9, "x", "t") is None  # unmapped connector


def test_stopped_by_another_card_of_the_group_carries_its_id_token():
    """C09: the StopAuthorized event names the card that stopped the transaction (TC_C_39)."""
    b = builder()
    b.started(1, "s1", "t0")
    b.authorized(1, "CARDA", "ISO14443", "t1")
    m = b.stopped(1, "Local", "t2", id_token={"idToken": "CARDB", "type": "ISO14443"})
    assert m["triggerReason"] == "StopAuthorized" and m["idToken"] == {"idToken": "CARDB", "type": "ISO14443"}
