from evcharge.ocpp.transactions import TxBuilder
from evcharge.ocpp.txpoints import TxFlow, parse_points


def flow(start="EVConnected", stop="EVConnected"):
    b = TxBuilder({1: (1, 1)})
    points = {"start": parse_points(start), "stop": parse_points(stop)}
    return TxFlow(b, lambda: points["start"], lambda: points["stop"], lambda cid, ctx, var: []), points


def kinds(msgs):
    return [(m["eventType"], m["triggerReason"]) for m in msgs]


def test_default_ev_connected_is_the_whole_session():
    f, _ = flow()
    assert kinds(f.session_started(1, "s1", "t", offline=False)) == [("Started", "CablePluggedIn")]
    assert kinds(f.state(1, "Preparing", "t", offline=False)) == []
    assert kinds(f.authorized(1, "CARD", "ISO14443", "t", offline=False)) == [("Updated", "Authorized")]
    assert kinds(f.state(1, "Charging", "t", offline=False)) == [("Updated", "ChargingStateChanged")]
    assert kinds(f.stopped(1, "Local", "t", offline=False)) == [("Updated", "StopAuthorized")]
    assert kinds(f.state(1, "Finishing", "t", offline=False)) == []   # StopAuthorized already said EVConnected
    (end,) = f.session_ended(1, "s1", "Local", "t", offline=False)
    assert (end["eventType"], end["transactionInfo"]["stoppedReason"]) == ("Ended", "Local")


def test_start_authorized_carries_the_token():
    f, _ = flow(start="Authorized")
    assert f.session_started(1, "s1", "t", offline=False) == []
    (m,) = f.authorized(1, "CARD", "ISO14443", "t", offline=False)
    assert m["eventType"] == "Started" and m["triggerReason"] == "Authorized" and m["seqNo"] == 0
    assert m["idToken"] == {"idToken": "CARD", "type": "ISO14443"} and m["evse"] == {"id": 1, "connectorId": 1}


def test_start_authorized_remote_start():
    f, _ = flow(start="Authorized")
    f.tx.remote_starts[1] = (5, {"idToken": "R", "type": "Central"})
    f.session_started(1, "s1", "t", offline=False)
    (m,) = f.authorized(1, "R", "Central", "t", offline=False)
    assert m["triggerReason"] == "RemoteStart" and m["transactionInfo"]["remoteStartId"] == 5


def test_start_power_path_closed_and_energy_transfer():
    for point in ("PowerPathClosed", "EnergyTransfer"):
        f, _ = flow(start=point)
        f.session_started(1, "s1", "t", offline=False)
        assert f.authorized(1, "CARD", "ISO14443", "t", offline=False) == []
        assert f.state(1, "Preparing", "t", offline=False) == []
        (m,) = f.state(1, "Charging", "t", offline=False)
        assert (m["eventType"], m["triggerReason"], m["transactionInfo"]["chargingState"]) == \
            ("Started", "ChargingStateChanged", "Charging")
        assert m["idToken"]["idToken"] == "CARD"


def test_stop_power_path_closed_local_and_remote():
    for reason, trigger in (("Local", "StopAuthorized"), ("Remote", "RemoteStop")):
        f, _ = flow(stop="PowerPathClosed")
        f.session_started(1, "s1", "t", offline=False)
        f.authorized(1, "CARD", "ISO14443", "t", offline=False)
        f.state(1, "Charging", "t", offline=False)
        (m,) = f.stopped(1, reason, "t", offline=False)
        assert (m["eventType"], m["triggerReason"], m["transactionInfo"]["stoppedReason"]) == \
            ("Ended", trigger, reason)
        assert f.state(1, "Finishing", "t", offline=False) == []
        assert f.session_ended(1, "s1", reason, "t", offline=False) == []   # already ended


def test_stop_power_path_closed_unplug_is_ev_disconnected_idle():
    f, _ = flow(stop="PowerPathClosed")
    f.session_started(1, "s1", "t", offline=False)
    f.authorized(1, "CARD", "ISO14443", "t", offline=False)
    # authorized, EV not ready yet: no power path, nothing to end
    assert kinds(f.state(1, "SuspendedEV", "t", offline=False)) == [("Updated", "ChargingStateChanged")]
    f.state(1, "Charging", "t", offline=False)
    # the EV pauses: the transaction's power path stays
    assert kinds(f.state(1, "SuspendedEV", "t", offline=False)) == [("Updated", "ChargingStateChanged")]
    (m,) = f.session_ended(1, "s1", "EVDisconnected", "t", offline=False)
    assert (m["triggerReason"], m["transactionInfo"]["chargingState"], m["transactionInfo"]["stoppedReason"]) == \
        ("EVCommunicationLost", "Idle", "EVDisconnected")


def test_stop_energy_transfer_suspended_ev_and_no_second_transaction():
    f, _ = flow(stop="EnergyTransfer")
    f.session_started(1, "s1", "t", offline=False)
    f.authorized(1, "CARD", "ISO14443", "t", offline=False)
    f.state(1, "Charging", "t", offline=False)
    (m,) = f.state(1, "SuspendedEV", "t", offline=False)
    assert (m["eventType"], m["triggerReason"], m["transactionInfo"]["chargingState"],
            m["transactionInfo"]["stoppedReason"]) == ("Ended", "ChargingStateChanged", "EVConnected", "StoppedByEV")
    assert f.state(1, "Charging", "t", offline=False) == []   # same session: no new transaction
    assert f.session_ended(1, "s1", "EVDisconnected", "t", offline=False) == []
    assert kinds(f.session_started(1, "s2", "t", offline=False)) == [("Started", "CablePluggedIn")]


def test_stop_authorized_deauthorized():
    f, _ = flow(stop="Authorized")
    f.session_started(1, "s1", "t", offline=False)
    f.authorized(1, "CARD", "ISO14443", "t", offline=False)
    (m,) = f.stopped(1, "DeAuthorized", "t", offline=False)
    assert (m["eventType"], m["triggerReason"], m["transactionInfo"]["stoppedReason"]) == \
        ("Ended", "Deauthorized", "DeAuthorized")


def test_unsupported_or_empty_points_fall_back():
    assert parse_points("ParkingBayOccupancy") == {"EVConnected"}
    assert parse_points("Authorized, EnergyTransfer") == {"Authorized", "EnergyTransfer"}


def test_remote_start_before_the_cable_takes_the_plug_in_session():
    f, _ = flow(start="Authorized")
    f.tx.remote_starts[1] = (7, {"idToken": "R", "type": "Central"})
    (st,) = [f.tx.remote_started(1, "tx-a", "t")]
    assert (st["eventType"], st["triggerReason"], st["transactionInfo"]["chargingState"]) == \
        ("Started", "RemoteStart", "Idle")
    assert st["transactionInfo"]["remoteStartId"] == 7 and f.tx.before_cable(1) and 1 not in f.tx.remote_starts
    assert f.state(1, "Available", "t", offline=False) == []          # no session yet: nothing to say
    (plug,) = f.session_started(1, "s1", "t", offline=False)
    assert (plug["triggerReason"], plug["transactionInfo"]["transactionId"]) == ("CablePluggedIn", "tx-a")
    assert f.authorized(1, "r", "Central", "t", offline=False) == []  # its own token: already in Started
    assert kinds(f.state(1, "Charging", "t", offline=False)) == [("Updated", "ChargingStateChanged")]
    assert f.session_ended(1, "other", "Local", "t", offline=False) == []
    (end,) = f.session_ended(1, "s1", "EVDisconnected", "t", offline=False)
    assert end["transactionInfo"]["transactionId"] == "tx-a" and end["seqNo"] == 3


def test_saved_transactions_without_session_run_in_the_session_of_their_id():
    b = TxBuilder({1: (1, 1)})
    b.load_json({"active": {"1": {"transaction_id": "s9", "evse_id": 1, "connector_id": 1, "seq": 2}}})
    assert b.session_of(1) == "s9" and not b.before_cable(1)
    b2 = TxBuilder({1: (1, 1)})
    b2.remote_starts[1] = (1, {"idToken": "R", "type": "Central"})
    b2.remote_started(1, "tx-b", "t")
    again = TxBuilder({1: (1, 1)})
    again.load_json(b2.to_json())
    assert again.before_cable(1) and again.transaction_id(1) == "tx-b"
