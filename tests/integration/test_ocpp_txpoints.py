"""TxStartPoint / TxStopPoint variants (OCA Part 6 TC_E_01/02/07/08/10/13/16/22/35/37) on the real stack.

The CSMS sets TxCtrlr.TxStartPoint / TxStopPoint with SetVariables; the simulated EV and card
reader drive the session.
"""

from __future__ import annotations

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


async def set_points(csms, start: str = "EVConnected", stop: str = "EVConnected") -> None:
    r = await csms.call("SetVariables", {"setVariableData": [
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": start},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStopPoint"}, "attributeValue": stop}]})
    assert [x["attributeStatus"] for x in r["setVariableResult"]] == ["Accepted", "Accepted"], r


def tx_events(csms) -> list[dict]:
    return csms.received("TransactionEvent")


async def one(csms, pred, what="TransactionEvent") -> dict:
    (ev,) = await csms.wait_for("TransactionEvent", where=pred, timeout=20)
    return ev


def is_started(p):
    return p["eventType"] == "Started"


def is_ended(p):
    return p["eventType"] == "Ended"


async def charging(stack, csms, cid: int = 1):
    await stack.sim(cid, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(cid, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(cid), lambda c: c["State"] == "Charging", timeout=20, what_name="Charging")


async def test_TC_E_01_CS_start_on_power_path_closed(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, start="PowerPathClosed")
    await stack.sim(1, "SetEvReady", "b", False)   # the simulated EV is ready by default: it would close S2 at once
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == CARD and c["State"] == "SuspendedEV",
                     what_name="authorized, EV not ready", timeout=20)
    assert tx_events(csms) == []           # plugged in and authorized, power path still open
    await stack.sim(1, "SetEvReady", "b", True)
    ev = await one(csms, is_started)
    assert ev["triggerReason"] == "ChargingStateChanged" and ev["transactionInfo"]["chargingState"] == "Charging"
    assert ev["idToken"] == {"idToken": CARD, "type": "ISO14443"} and ev["evse"] == {"id": 1, "connectorId": 1}
    assert ev["seqNo"] == 0


async def test_TC_E_02_CS_start_on_energy_transfer(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, start="EnergyTransfer")
    await charging(stack, csms)
    ev = await one(csms, is_started)
    assert ev["triggerReason"] in ("ChargingStateChanged", "Authorized")
    assert ev["transactionInfo"]["chargingState"] == "Charging" and ev["idToken"]["idToken"] == CARD
    assert ev["evse"]["connectorId"] == 1


async def test_TC_E_10_CS_start_on_authorized_local(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, start="Authorized")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied")
    assert tx_events(csms) == []
    await stack.tap(CARD)
    ev = await one(csms, is_started)
    assert ev["triggerReason"] == "Authorized" and ev["idToken"] == {"idToken": CARD, "type": "ISO14443"}
    assert ev["transactionInfo"]["chargingState"] == "EVConnected"
    assert ev["transactionInfo"]["transactionId"] == (await stack.conn(1))["SessionId"]


async def test_TC_E_13_CS_start_on_authorized_remote(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, start="Authorized")
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE9", "type": "Central"},
                                                    "remoteStartId": 77, "evseId": 1})
    assert r["status"] == "Accepted" and "transactionId" not in r
    await stack.sim(1, "PlugIn", "d", 220.0)
    ev = await one(csms, is_started)
    assert ev["triggerReason"] == "RemoteStart" and ev["transactionInfo"]["remoteStartId"] == 77
    assert ev["idToken"] == {"idToken": "REMOTE9", "type": "Central"}


async def test_TC_E_07_CS_stop_power_path_closed_local_stop(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, stop="PowerPathClosed")
    await charging(stack, csms)
    await stack.tap(CARD)
    end = await one(csms, is_ended)
    assert end["triggerReason"] == "StopAuthorized" and end["transactionInfo"]["stoppedReason"] == "Local"
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available", what_name="unplugged", timeout=20)
    assert [e["eventType"] for e in tx_events(csms)].count("Ended") == 1


async def test_TC_E_35_CS_stop_power_path_closed_remote_stop(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, stop="PowerPathClosed")
    await charging(stack, csms)
    tx_id = (await one(csms, is_started))["transactionInfo"]["transactionId"]
    assert (await csms.call("RequestStopTransaction", {"transactionId": tx_id}))["status"] == "Accepted"
    end = await one(csms, is_ended)
    assert end["triggerReason"] == "RemoteStop" and end["transactionInfo"]["stoppedReason"] == "Remote"
    assert end["transactionInfo"]["transactionId"] == tx_id


async def test_TC_E_37_CS_stop_power_path_closed_ev_side_disconnect(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, stop="PowerPathClosed")
    await charging(stack, csms)
    await stack.sim(1, "Unplug")
    end = await one(csms, is_ended)
    info = end["transactionInfo"]
    assert end["triggerReason"] == "EVCommunicationLost"
    assert info["chargingState"] == "Idle" and info["stoppedReason"] == "EVDisconnected"


async def test_TC_E_08_CS_stop_energy_transfer_stop_authorized(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, stop="EnergyTransfer")
    await charging(stack, csms)
    await stack.tap(CARD)
    end = await one(csms, is_ended)
    assert end["triggerReason"] == "StopAuthorized" and end["transactionInfo"]["stoppedReason"] == "Local"


async def test_TC_E_22_CS_stop_energy_transfer_suspended_ev(start_ocpp, csms):
    stack = await start_ocpp()
    await set_points(csms, stop="EnergyTransfer")
    await charging(stack, csms)
    await stack.sim(1, "SetEvReady", "b", False)   # the EV suspends
    end = await one(csms, is_ended)
    info = end["transactionInfo"]
    assert end["triggerReason"] == "ChargingStateChanged"
    assert info["chargingState"] == "EVConnected" and info["stoppedReason"] == "StoppedByEV"
    # The EV resumes in the same session: no second transaction.
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", timeout=20)
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available", timeout=20)
    assert [e["eventType"] for e in tx_events(csms)].count("Started") == 1


async def test_TC_E_16_CS_stop_deauthorized_invalid_id_token(start_ocpp, csms):
    """Online variant: the CSMS answers the TransactionEvent carrying the card with Invalid."""
    csms.behaviour.authorize[CARD] = "Invalid"
    stack = await start_ocpp()
    await set_points(csms, stop="Authorized")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    end = await one(csms, is_ended)
    assert end["triggerReason"] == "Deauthorized" and end["transactionInfo"]["stoppedReason"] == "DeAuthorized"


async def test_TC_E_16_CS_stop_deauthorized_invalid_id_token_offline_start(start_ocpp, csms):
    """StartOfflineTransaction: the CSMS is gone, an unknown card is presented (OfflineTxForUnknownIdEnabled)
    and the EV plugged in; back online the queued events go out (offline), the CSMS answers the one with the
    idToken Invalid, and the station deauthorizes: Ended, Deauthorized, DeAuthorized (StopTxOnInvalidId)."""
    from evcharge.common import names
    from evcharge.common.bus import get_all

    def props():
        return get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)

    token = "CAFE0E16"
    stack = await start_ocpp()
    await set_points(csms, stop="Authorized")
    r = await csms.call("SetVariables", {"setVariableData": [
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "OfflineTxForUnknownIdEnabled"},
         "attributeValue": "true"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    await stack.wait(props, lambda p: p["QueueLength"] == 0, timeout=30, what_name="queue empty")
    await csms.stop()
    await stack.wait(props, lambda p: not p["Connected"], timeout=30, what_name="ocpp offline")
    await stack.tap(token)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == token, timeout=30,
                     what_name="authorized offline")
    await stack.wait(props, lambda p: p["QueueLength"] >= 1, timeout=30, what_name="the offline start queued")
    csms.behaviour.authorize[token] = "Invalid"
    await csms.start()
    end = await one(csms, is_ended)
    assert end["triggerReason"] == "Deauthorized" and end["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    events = tx_events(csms)
    before = events[:events.index(end)]
    assert before and all(p.get("offline") is True for p in before)
    assert any(p.get("idToken") == {"idToken": token, "type": "ISO14443"} for p in before)
    assert "offline" not in end


async def test_unsupported_tx_points_are_refused(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"},
         "attributeValue": "ParkingBayOccupancy"}]})
    res = r["setVariableResult"][0]
    assert res["attributeStatus"] == "Rejected" and res["attributeStatusInfo"]["reasonCode"] == "InvalidValue"


async def test_TC_E_20_CS_stop_ev_connected_ev_side_disconnect_from_suspended(start_ocpp, csms):
    stack = await start_ocpp()
    await charging(stack, csms)
    await stack.sim(1, "SetEvReady", "b", False)     # EnergyTransferSuspended
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["chargingState"] == "SuspendedEV",
                        timeout=20)
    await stack.sim(1, "Unplug")
    end = await one(csms, is_ended)
    info = end["transactionInfo"]
    assert end["triggerReason"] == "EVCommunicationLost"
    assert info["chargingState"] == "Idle" and info["stoppedReason"] == "EVDisconnected"


async def test_TC_E_38_CS_ev_not_ready(start_ocpp, csms):
    """Authorized, the EV connected but not ready: ChargingStateChanged to SuspendedEV."""
    stack = await start_ocpp()
    await stack.tap(CARD)
    await stack.sim(1, "PlugIn", "d", 220.0)       # the EV stays in state B
    ev = await one(csms, lambda p: p["triggerReason"] == "ChargingStateChanged"
                   and p["transactionInfo"]["chargingState"] == "SuspendedEV")
    assert ev["eventType"] == "Updated"
