"""C16 Master Pass without UI (masterpass.py) and MaxEnergyOnInvalidId (invalidid.py): the pure rules."""

from evcharge.ocpp.authcache import AuthCache
from evcharge.ocpp.devicemodel import standard_model
from evcharge.ocpp.invalidid import EnergyCaps, OnInvalid, on_invalid
from evcharge.ocpp.masterpass import check_group_id, is_master_pass, no_connector_takes, sessions_to_stop
from evcharge.ocpp.transactions import TxBuilder
from evcharge.ocpp.txpoints import TxFlow


def model():
    return standard_model(heartbeat_s=300, message_timeout_s=30, offline_threshold_s=300, attempts=3,
                          attempt_interval_s=10, backoff_min_s=3, backoff_range_s=10, backoff_repeat=5, ping_s=60,
                          sample_interval_s=60, security_profile=1, identity="cs1", evse_ids=[1, 2])


def cv(c, v, value):
    return {"component": {"name": c}, "variable": {"name": v}, "attributeValue": value}


def test_master_pass_group_matches_case_insensitively_and_empty_means_none():
    assert is_master_pass("POLICE", "police")
    assert not is_master_pass("GROUP1", "POLICE")
    assert not is_master_pass(None, "POLICE")
    assert not is_master_pass("", "")            # no MasterPassGroupId configured: nobody is a Master Pass
    assert not is_master_pass("POLICE", "")


def test_master_pass_stops_every_authorized_running_session():
    props = {1: {"SessionId": "s1", "SessionToken": "A", "StopReason": ""},
             2: {"SessionId": "s2", "SessionToken": "B", "StopReason": ""},
             3: {"SessionId": "s3", "SessionToken": "", "StopReason": ""},          # not authorized
             4: {"SessionId": "s4", "SessionToken": "C", "StopReason": "Local"},     # already stopped
             5: {"SessionId": "", "SessionToken": ""}}
    assert sessions_to_stop(props) == [1, 2]
    assert sessions_to_stop({}) == []


def test_evse_drops_a_token_only_when_every_usable_connector_is_busy_with_another_token():
    busy = {"SessionId": "s", "SessionToken": "A", "StopReason": "", "State": "Charging", "Available": True}
    busy2 = busy | {"SessionId": "t", "SessionToken": "B"}
    assert no_connector_takes({1: busy, 2: busy2}, "MASTER")
    assert not no_connector_takes({1: busy, 2: busy2}, "a")        # the card that started 1 stops it
    free = {"SessionId": "", "SessionToken": "", "State": "Available", "Available": True}
    assert not no_connector_takes({1: busy, 2: free}, "MASTER")    # evse holds it on 2: TokenRejected follows
    waiting = {"SessionId": "u", "SessionToken": "", "State": "Preparing", "Available": True}
    assert not no_connector_takes({1: busy, 2: waiting}, "MASTER")
    assert no_connector_takes({1: busy, 2: free | {"State": "Faulted"}}, "MASTER")
    assert no_connector_takes({1: busy, 2: free | {"Available": False}}, "MASTER")
    assert not no_connector_takes({}, "MASTER")                    # evse not read yet: leave it to evse


def test_master_pass_group_id_is_a_settable_persistent_variable():
    dm = model()
    assert dm.get("AuthCtrlr", "MasterPassGroupId") == ""
    (res,) = dm.set_variables([cv("AuthCtrlr", "MasterPassGroupId", "POLICE")])
    assert res["attributeStatus"] == "Accepted"
    (bad,) = dm.set_variables([cv("AuthCtrlr", "MasterPassGroupId", "X" * 37)])
    assert bad["attributeStatus"] == "Rejected" and bad["attributeStatusInfo"]["reasonCode"] == "InvalidValue"
    assert check_group_id("X" * 36) is None
    fresh = model()
    fresh.load(dm.overrides())
    assert fresh.get("AuthCtrlr", "MasterPassGroupId") == "POLICE"
    reported = {(d["component"]["name"], d["variable"]["name"]) for d in dm.report("ConfigurationInventory")}
    assert {("AuthCtrlr", "MasterPassGroupId"), ("TxCtrlr", "MaxEnergyOnInvalidId")} <= reported


def test_max_energy_on_invalid_id_variable():
    dm = model()
    assert dm.get_int("TxCtrlr", "MaxEnergyOnInvalidId") == 0
    res = dm.set_variables([cv("TxCtrlr", "MaxEnergyOnInvalidId", "10000"),
                            cv("TxCtrlr", "MaxEnergyOnInvalidId", "-1"),
                            cv("TxCtrlr", "MaxEnergyOnInvalidId", "1.5")])
    assert [r["attributeStatus"] for r in res] == ["Accepted", "Rejected", "Rejected"]
    assert dm.get_int("TxCtrlr", "MaxEnergyOnInvalidId") == 10000


def test_what_an_invalid_answer_does():
    assert on_invalid(True, 0) is OnInvalid.STOP
    assert on_invalid(True, 500) is OnInvalid.STOP          # TC_C_18: the energy flow stops on the answer
    assert on_invalid(False, 0) is OnInvalid.SUSPEND        # TC_C_17
    assert on_invalid(False, 10000) is OnInvalid.LIMIT      # TC_C_15


def test_energy_cap_counts_the_transaction_energy_and_fires_once():
    caps = EnergyCaps()
    caps.arm(1, "tx1", 500)
    assert not caps.reached(1, "tx1", None)
    assert not caps.reached(1, "tx1", 499.9)
    assert not caps.reached(2, "tx9", 10_000)               # no cap there
    caps.arm(1, "tx1", 9000)                                # a second Invalid answer keeps the first cap
    assert caps.reached(1, "tx1", 500.0)
    assert not caps.reached(1, "tx1", 600.0)                # done with: suspended once
    caps.arm(1, "tx2", 100)                                 # the next transaction has its own
    restored = EnergyCaps()
    restored.load_json(caps.to_json())
    assert restored.caps == {1: ("tx2", 100.0)}
    assert restored.drop(1) and not restored.drop(1)


def test_energy_cap_of_an_ended_transaction_never_applies_to_the_next():
    caps = EnergyCaps()
    caps.arm(1, "tx1", 100)
    assert not caps.reached(1, "tx2", 5000)                 # tx1 ended while the service was down
    assert caps.caps == {}
    assert not caps.reached(1, None, 5000)


def test_cache_keeps_the_group_of_a_token():
    c = AuthCache()
    c.put("MASTER1", "Accepted", 0, 0, group="POLICE")
    c.put("CARD", "Accepted", 0, 0)
    assert c.group("master1") == "POLICE" and c.group("CARD") is None and c.group("nobody") is None
    d = AuthCache()
    d.load_json(c.to_json())
    assert d.group("MASTER1") == "POLICE" and d.lookup("MASTER1", 1) == "Accepted"


def test_master_pass_stop_events_carry_stopped_reason_and_its_id_token():
    """C16 without UI, Part 6 step 3: the stop names MasterPass (and the Master Pass idToken); Ended again."""
    b = TxBuilder({1: (1, 1)})
    flow = TxFlow(b, lambda: {"EVConnected"}, lambda: {"EVConnected"}, lambda *_: [])
    flow.session_started(1, "s1", "t0", offline=False)
    flow.authorized(1, "CARD", "ISO14443", "t1", offline=False)
    (stop,) = flow.stopped(1, "MasterPass", "t2", offline=False, id_token={"idToken": "M1", "type": "ISO14443"})
    assert stop["eventType"] == "Updated" and stop["triggerReason"] == "StopAuthorized"
    assert stop["transactionInfo"]["stoppedReason"] == "MasterPass"
    assert stop["idToken"] == {"idToken": "M1", "type": "ISO14443"}
    (end,) = flow.session_ended(1, "s1", "MasterPass", "t3", offline=False)
    assert end["eventType"] == "Ended" and end["transactionInfo"]["stoppedReason"] == "MasterPass"
    # Other stops keep stoppedReason for Ended only.
    b2 = TxBuilder({1: (1, 1)})
    b2.started(1, "s2", "t0")
    assert "stoppedReason" not in b2.stopped(1, "Local", "t1")["transactionInfo"]


def test_master_pass_stop_ends_the_transaction_with_tx_stop_point_authorized():
    b = TxBuilder({1: (1, 1)})
    flow = TxFlow(b, lambda: {"EVConnected"}, lambda: {"Authorized"}, lambda *_: [])
    flow.session_started(1, "s1", "t0", offline=False)
    flow.authorized(1, "CARD", "ISO14443", "t1", offline=False)
    (end,) = flow.stopped(1, "MasterPass", "t2", offline=False)
    assert end["eventType"] == "Ended" and end["triggerReason"] == "StopAuthorized"
    assert end["transactionInfo"]["stoppedReason"] == "MasterPass"
