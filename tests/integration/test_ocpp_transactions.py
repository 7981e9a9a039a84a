"""OCPP 2.0.1 transactions, authorization and availability: the real stack against the test CSMS.

Tests are named after the OCA Part 6 charging-station test cases they follow
(docs/ocpp.md lists them). TxStartPoint and TxStopPoint are EVConnected: a transaction runs
from plug-in to unplug.
"""

from __future__ import annotations

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all
from ocpp.exceptions import OCPPError

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


def tx_events(csms, tx_id: str | None = None) -> list[dict]:
    return [p for p in csms.received("TransactionEvent")
            if tx_id is None or p["transactionInfo"]["transactionId"] == tx_id]


def assert_continuous(events: list[dict]) -> None:
    assert [e["seqNo"] for e in events] == list(range(len(events))), [e["seqNo"] for e in events]
    assert events[0]["eventType"] == "Started"
    assert all(e["eventType"] == "Updated" for e in events[1:-1])


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


async def started(csms, evse_id: int = 1) -> dict:
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started"
                                and p["evse"]["id"] == evse_id)
    return ev


async def test_TC_E_09_CS_start_on_ev_connected_local_authorization(start_ocpp, csms):
    """TC_E_09 (TxStartPoint EVConnected) + TC_E_03 (local start, cable first): plug, card, charge, unplug."""
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied" and p["evseId"] == 1)
    (event,) = await csms.wait_for("NotifyEvent", where=lambda p: p["eventData"][0]["actualValue"] == "Occupied")
    data = event["eventData"][0]
    assert data["trigger"] == "Delta" and data["component"]["name"] == "Connector"
    assert data["variable"]["name"] == "AvailabilityState" and data["component"]["evse"] == {"id": 1, "connectorId": 1}
    ev = await started(csms)
    assert ev["triggerReason"] == "CablePluggedIn"
    assert ev["evse"] == {"id": 1, "connectorId": 1}
    assert ev["transactionInfo"]["chargingState"] == "EVConnected"
    tx_id = ev["transactionInfo"]["transactionId"]
    assert tx_id == (await stack.conn(1))["SessionId"]

    await stack.tap(CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    assert auth["idToken"] == {"idToken": CARD, "type": "ISO14443"}
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["chargingState"] == "Charging")

    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert end["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert end["triggerReason"] == "EVCommunicationLost"
    assert any(sv["measurand"] == "Energy.Active.Import.Register" for sv in end["meterValue"][0]["sampledValue"])
    assert_continuous(tx_events(csms, tx_id))
    await csms.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Available"
                        and p["evseId"] == 1 and p is not csms.received("StatusNotification")[0])


async def test_TC_E_04_CS_authorization_first(start_ocpp, csms):
    stack = await start_ocpp()
    await stack.tap(CARD)
    await stack.sim(1, "PlugIn", "d", 220.0)
    ev = await started(csms)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    assert auth["transactionInfo"]["transactionId"] == ev["transactionInfo"]["transactionId"]
    assert auth["seqNo"] == 1


async def test_TC_E_15_CS_stop_authorized_local(start_ocpp, csms):
    """TC_E_15 / TC_E_06: the same card again stops the transaction (StopAuthorized, reason Local)."""
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    await stack.tap(CARD)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "StopAuthorized")
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert end["transactionInfo"]["stoppedReason"] == "Local"
    assert_continuous(tx_events(csms))


async def test_TC_F_01_CS_remote_start_cable_plugged_first(start_ocpp, csms):
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    tx_id = (await started(csms))["transactionInfo"]["transactionId"]
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE1", "type": "Central"},
                                                    "remoteStartId": 7, "evseId": 1})
    assert r["status"] == "Accepted"
    assert r["transactionId"] == tx_id
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "RemoteStart")
    assert ev["transactionInfo"]["remoteStartId"] == 7
    assert ev["idToken"] == {"idToken": "REMOTE1", "type": "Central"}
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == "REMOTE1", what_name="evse authorized")


async def test_TC_F_03_CS_remote_start_first_authorize_remote_start_false(start_ocpp, csms):
    stack = await start_ocpp()
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE2", "type": "Central"},
                                                    "remoteStartId": 8, "evseId": 2})
    assert r["status"] == "Accepted"
    assert "transactionId" not in r
    await stack.sim(2, "PlugIn", "d", 220.0)
    ev = await started(csms, evse_id=2)
    (rs,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "RemoteStart")
    assert rs["transactionInfo"]["transactionId"] == ev["transactionInfo"]["transactionId"]
    assert rs["transactionInfo"]["remoteStartId"] == 8


async def test_TC_F_08_CS_remote_stop(start_ocpp, csms):
    """TC_F_08 / TC_E_21 (StopAuthorized - Remote); TC_F_09: an unknown transactionId is Rejected."""
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    tx_id = (await started(csms))["transactionInfo"]["transactionId"]
    assert (await csms.call("RequestStopTransaction", {"transactionId": "no-such-tx"}))["status"] == "Rejected"
    assert (await csms.call("RequestStopTransaction", {"transactionId": tx_id}))["status"] == "Accepted"
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "RemoteStop")
    await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] == "Remote", what_name="evse stopped")
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert end["transactionInfo"]["stoppedReason"] == "Remote"
    assert_continuous(tx_events(csms, tx_id))


async def test_TC_G_03_CS_change_availability_evse_inoperative(start_ocpp, csms):
    """TC_G_03 (Inoperative) and TC_G_04 (back to Operative) for one EVSE."""
    stack = await start_ocpp()
    r = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
    assert r["status"] == "Accepted"
    await csms.wait_for("StatusNotification", where=lambda p: p["evseId"] == 2 and p["connectorStatus"] == "Unavailable")
    await stack.wait(lambda: stack.conn(2), lambda c: c["Available"] is False, what_name="connector 2 inoperative")
    assert (await stack.conn(1))["Available"] is True
    r = await csms.call("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: stack.conn(2), lambda c: c["Available"] is True, what_name="connector 2 operative")
    r = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 9}})
    assert r["status"] == "Rejected"


async def test_TC_G_03_CS_inoperative_during_transaction_is_scheduled(start_ocpp, csms):
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await started(csms)
    r = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
    assert r["status"] == "Scheduled"


@pytest.mark.parametrize("status", ["Invalid", "Unknown"])
async def test_TC_C_02_CS_and_TC_C_56_CS_card_refused_by_csms(start_ocpp, csms, status):
    """A card the local list does not know is sent to the CSMS (Authorize); Invalid (TC_C_02) or
    Unknown (TC_C_56): no authorization, no TransactionEvent after the Authorize."""
    csms.behaviour.authorize["CAFE0001"] = status
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await started(csms)
    await stack.tap("CAFE0001")
    (req,) = await csms.wait_for("Authorize")
    assert req["idToken"] == {"idToken": "CAFE0001", "type": "ISO14443"}
    n = len(csms.received())
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == "", timeout=1.0)
    assert not [p for p in csms.received()[n:] if "idToken" in p], "no authorization after Invalid"


async def test_TC_C_37_CS_clear_cache_then_card_accepted_by_csms(start_ocpp, csms):
    """A card in the authorization cache (IdTokenCached: one session authorized by the CSMS); ClearCache;
    the card again: AuthorizeRequest (the cache is empty) -> Accepted -> TransactionEvent Authorized ->
    EnergyTransferStarted (chargingState Charging)."""
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    first = (await started(csms))["transactionInfo"]["transactionId"]
    await stack.tap("CAFE0002")
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended"
                        and p["transactionInfo"]["transactionId"] == first, timeout=30)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "", timeout=30, what_name="session over")
    assert len(csms.received("Authorize")) == 1
    assert (await csms.call("ClearCache", {}))["status"] == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    (second,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started"
                                    and p["transactionInfo"]["transactionId"] != first, timeout=30)
    tx_id = second["transactionInfo"]["transactionId"]
    await stack.tap("CAFE0002")
    (_a, req) = await csms.wait_for("Authorize", 2, timeout=30)
    assert req["idToken"] == {"idToken": "CAFE0002", "type": "ISO14443"}
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=30)
    assert auth["idToken"] == {"idToken": "CAFE0002", "type": "ISO14443"}
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"]["chargingState"] == "Charging", timeout=30)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", timeout=30, what_name="charging")


async def test_TC_E_30_CS_get_transaction_status(start_ocpp, csms):
    """TC_E_29/30 (with id, ongoing), TC_E_32 (ended, empty queue), TC_E_34 (without id, empty queue)."""
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    tx_id = (await started(csms))["transactionInfo"]["transactionId"]
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    r = await csms.call("GetTransactionStatus", {"transactionId": tx_id})
    assert r == {"messagesInQueue": False, "ongoingIndicator": True}
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    r = await csms.call("GetTransactionStatus", {"transactionId": tx_id})
    assert r == {"messagesInQueue": False, "ongoingIndicator": False}
    assert await csms.call("GetTransactionStatus", {}) == {"messagesInQueue": False}


@pytest.mark.parametrize("errors", [2, 3])
async def test_TC_E_50_CS_and_TC_E_51_CS_retry_transaction_event_after_callerror(start_ocpp, csms, errors):
    """A TransactionEvent answered with CALLERROR is resent (same seqNo) up to MessageAttemptsTransactionEvent
    times: 2 errors -> the third attempt succeeds (TC_E_51); 3 errors -> dropped, the queue moves on (TC_E_50)."""
    csms.behaviour.transaction_event_errors = errors
    stack = await start_ocpp(retry={"transaction_event_attempts": 3, "transaction_event_interval_s": 0.01})
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("TransactionEvent", 3)
    started_msgs = [p for p in tx_events(csms) if p["eventType"] == "Started"]
    assert len(started_msgs) == 3 and {p["seqNo"] for p in started_msgs} == {0}
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    await stack.tap(CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    assert auth["seqNo"] == 1


async def test_trigger_message_status_and_heartbeat(start_ocpp, csms):
    """F06: TriggerMessage StatusNotification / Heartbeat; BootNotification once accepted is Rejected."""
    await start_ocpp()
    r = await csms.call("TriggerMessage", {"requestedMessage": "StatusNotification",
                                           "evse": {"id": 1, "connectorId": 1}})
    assert r["status"] == "Accepted"
    await csms.wait_for("StatusNotification", 3)
    assert (await csms.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
    await csms.wait_for("Heartbeat")
    assert (await csms.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Rejected"
    assert (await csms.call("TriggerMessage", {"requestedMessage": "SignCombinedCertificate"}))["status"] == \
        "NotImplemented"


async def test_unsupported_action_is_not_supported(start_ocpp, csms):
    await start_ocpp()
    with pytest.raises(OCPPError) as e:
        await csms.call("SetDisplayMessage", {"message": {"id": 1, "priority": "NormalCycle",
                                                          "message": {"format": "ASCII", "content": "hello"}}})
    assert e.value.code == "NotSupported"


async def test_sampled_meter_values_during_transaction(start_ocpp, csms):
    """SampledDataCtrlr.TxUpdatedInterval: Updated/MeterValuePeriodic with energy and power from the meter."""
    stack = await start_ocpp(meter_sample_interval_s=1)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    (mv,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "MeterValuePeriodic",
                                timeout=5)
    measurands = {sv["measurand"] for sv in mv["meterValue"][0]["sampledValue"]}
    assert measurands == {"Energy.Active.Import.Register", "Power.Active.Import"}
    assert all(sv["context"] == "Sample.Periodic" for sv in mv["meterValue"][0]["sampledValue"])


async def test_TC_E_41_CS_retry_transaction_event_after_timeout(start_ocpp, csms):
    """No answer within MessageTimeout counts as a failed attempt: resent (same seqNo) until
    MessageAttemptsTransactionEvent, then dropped (TC_E_41); the next message follows."""
    csms.behaviour.ignore["TransactionEvent"] = 3
    stack = await start_ocpp(message_timeout_s=0.5,
                             retry={"transaction_event_attempts": 3, "transaction_event_interval_s": 0.01})
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized", timeout=8)
    started_msgs = [p for p in tx_events(csms) if p["eventType"] == "Started"]
    assert len(started_msgs) == 3 and {p["seqNo"] for p in started_msgs} == {0}
    assert auth["seqNo"] == 1
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)


async def test_K01_set_charging_profile_limits_energy(start_ocpp, csms):
    """K01: a TxDefaultProfile (evse 1) and a ChargingStationMaxProfile become energy external limits
    (source "ocpp"); ClearChargingProfile removes them (more in test_ocpp_smartcharging.py)."""
    from datetime import UTC, datetime, timedelta

    stack = await start_ocpp()
    start = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")

    def prof(pid, purpose, limit, unit="A"):
        return {"id": pid, "stackLevel": 0, "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
                "chargingSchedule": [{"id": pid, "chargingRateUnit": unit, "startSchedule": start,
                                      "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}]}

    async def limits():
        return await get_all(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY)

    r = await csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": prof(1, "TxDefaultProfile", 10)})
    assert r["status"] == "Accepted"
    r = await csms.call("SetChargingProfile", {"evseId": 0, "chargingProfile": prof(2, "ChargingStationMaxProfile", 20)})
    assert r["status"] == "Accepted"
    got = await stack.wait(limits, lambda p: sorted(map(tuple, p["ExternalLimits"])) == [(0, "ocpp", 20.0),
                                                                                          (1, "ocpp", 10.0)],
                           timeout=30, what_name="both OCPP limits in energy")
    assert got["EffectiveSiteLimitA"] == 20.0
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(1), lambda c: 0 < c["AllocatedCurrentA"] <= 10.0, timeout=30,
                     what_name="allocation <= 10 A")
    assert (await csms.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Accepted"
    assert (await csms.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Unknown"
    await stack.wait(limits, lambda p: [tuple(x) for x in p["ExternalLimits"]] == [(0, "ocpp", 20.0)], timeout=30,
                     what_name="the evse limit cleared")
