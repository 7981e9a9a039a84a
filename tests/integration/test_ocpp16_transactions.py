"""OCPP 1.6J transactions against the 1.6 test Central System: StartTransaction when the plugged
EV is authorized, StopTransaction with the reason and the transactionId the Central System
assigned, MeterValues, remote start/stop, authorization at the Central System, availability."""

from __future__ import annotations

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


def statuses(csms16, connector_id: int) -> list[str]:
    return [p["status"] for p in csms16.received("StatusNotification") if p["connectorId"] == connector_id]


async def test_local_start_stop_with_card(start_ocpp16, csms16):
    """Plug, card (local list): StartTransaction (idTag, meterStart); charge; card again:
    StopTransaction reason Local with the assigned transactionId; unplug: Finishing -> Available."""
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms16.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1 and p["status"] == "Preparing")
    await stack.tap(CARD)
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["connectorId"] == 1 and start["idTag"] == CARD and isinstance(start["meterStart"], int)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms16.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1 and p["status"] == "Charging")
    await stack.tap(CARD)
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["transactionId"] == await csms16.transaction_id()
    assert stop["reason"] == "Local" and stop["idTag"] == CARD
    assert stop["meterStop"] >= start["meterStart"]
    await csms16.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1 and p["status"] == "Finishing")
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "")
    await csms16.wait_for("StatusNotification", 2, where=lambda p: p["connectorId"] == 1 and p["status"] ==
                          "Available")
    assert len(csms16.received("StopTransaction")) == 1, "unplug after the stop sends nothing more"
    s = statuses(csms16, 1)
    assert s.index("Preparing") < s.index("Charging") < s.index("Finishing") < len(s) - 1


async def test_unplug_stops_with_ev_disconnected_and_sampled_meter_values(start_ocpp16, csms16):
    """MeterValueSampleInterval: Sample.Periodic MeterValues with the transactionId; unplug ->
    StopTransaction reason EVDisconnected, StopTxnSampledData in transactionData."""
    stack = await start_ocpp16(meter_sample_interval_s=1)
    assert (await csms16.call("ChangeConfiguration", {"key": "StopTxnSampledData",
                                                      "value": "Energy.Active.Import.Register"}))["status"] == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms16.wait_for("StartTransaction")
    tid = await csms16.transaction_id()
    (mv,) = await csms16.wait_for("MeterValues", where=lambda p: p.get("transactionId") == tid, timeout=10)
    assert mv["connectorId"] == 1
    sv = mv["meterValue"][0]["sampledValue"]
    assert {v["measurand"] for v in sv} == {"Energy.Active.Import.Register", "Power.Active.Import"}
    assert all(v["context"] == "Sample.Periodic" for v in sv)
    await stack.sim(1, "Unplug")
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["transactionId"] == tid and stop["reason"] == "EVDisconnected" and "idTag" not in stop
    (end,) = stop["transactionData"][0]["sampledValue"]
    assert end["context"] == "Transaction.End" and end["measurand"] == "Energy.Active.Import.Register"


async def test_clock_aligned_meter_values(start_ocpp16, csms16):
    """ClockAlignedDataInterval: Sample.Clock values per connector at multiples of the interval."""
    await start_ocpp16()
    assert (await csms16.call("ChangeConfiguration", {"key": "ClockAlignedDataInterval", "value": "1"}))["status"] \
        == "Accepted"
    got = [(await csms16.wait_for("MeterValues", timeout=10, where=lambda p, n=n: p["connectorId"] == n))[0]
           for n in (1, 2)]
    for p in got:
        (sv,) = p["meterValue"][0]["sampledValue"]
        assert sv["context"] == "Sample.Clock" and sv["measurand"] == "Energy.Active.Import.Register"
        assert p["meterValue"][0]["timestamp"].endswith("Z") and "." not in p["meterValue"][0]["timestamp"]
        assert "transactionId" not in p


async def test_remote_start_cable_first_and_remote_stop(start_ocpp16, csms16):
    stack = await start_ocpp16()
    await stack.sim(2, "PlugIn", "d", 220.0)
    await csms16.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 2 and p["status"] == "Preparing")
    r = await csms16.call("RemoteStartTransaction", {"idTag": "REMOTE1", "connectorId": 2})
    assert r["status"] == "Accepted"
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["connectorId"] == 2 and start["idTag"] == "REMOTE1"
    await stack.wait(lambda: stack.conn(2), lambda c: c["SessionToken"] == "REMOTE1")
    tid = await csms16.transaction_id()
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    assert (await csms16.call("RemoteStopTransaction", {"transactionId": tid + 1}))["status"] == "Rejected"
    assert (await csms16.call("RemoteStopTransaction", {"transactionId": tid}))["status"] == "Accepted"
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["transactionId"] == tid and stop["reason"] == "Remote"
    await stack.wait(lambda: stack.conn(2), lambda c: c["StopReason"] == "Remote")


async def test_remote_start_before_plug_in(start_ocpp16, csms16):
    """RemoteStartTransaction without connectorId takes the first free connector; the EV plugs later."""
    stack = await start_ocpp16()
    assert (await csms16.call("RemoteStartTransaction", {"idTag": "REMOTE2"}))["status"] == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["connectorId"] == 1 and start["idTag"] == "REMOTE2"
    r = await csms16.call("RemoteStartTransaction", {"idTag": "REMOTE3", "connectorId": 1})
    assert r["status"] == "Rejected", "connector 1 is busy"


@pytest.mark.parametrize("status", ["Invalid", "Blocked"])
async def test_card_unknown_locally_refused_by_central_system(start_ocpp16, csms16, status):
    csms16.behaviour.authorize["CAFE0001"] = status
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap("CAFE0001")
    (req,) = await csms16.wait_for("Authorize")
    assert req == {"idTag": "CAFE0001"}
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == "", timeout=1.0)
    assert not csms16.received("StartTransaction")


async def test_card_accepted_by_central_system_then_invalid_at_start_stops(start_ocpp16, csms16):
    """Authorize Accepted -> StartTransaction; the Central System answers it with Invalid
    (StopTransactionOnInvalidId true): the session stops, StopTransaction reason DeAuthorized."""
    csms16.start_status["CAFE0002"] = "Invalid"   # Authorize: Accepted, StartTransaction.conf: Invalid
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap("CAFE0002")
    await csms16.wait_for("Authorize")
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["idTag"] == "CAFE0002"
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["reason"] == "DeAuthorized" and stop["transactionId"] == await csms16.transaction_id()
    await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] == "DeAuthorized")


async def test_change_availability(start_ocpp16, csms16):
    stack = await start_ocpp16()
    r = await csms16.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert r["status"] == "Accepted"
    await csms16.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 2 and p["status"] == "Unavailable")
    await stack.wait(lambda: stack.conn(2), lambda c: c["Available"] is False)
    assert (await stack.conn(1))["Available"] is True
    assert (await csms16.call("ChangeAvailability", {"connectorId": 2, "type": "Operative"}))["status"] == "Accepted"
    await stack.wait(lambda: stack.conn(2), lambda c: c["Available"] is True)
    assert (await csms16.call("ChangeAvailability", {"connectorId": 9, "type": "Operative"}))["status"] == "Rejected"
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms16.wait_for("StartTransaction")
    r = await csms16.call("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert r["status"] == "Scheduled"
    await stack.wait(lambda: stack.conn(2), lambda c: c["Available"] is False)


@pytest.mark.parametrize(("kind", "reason"), [("Soft", "SoftReset"), ("Hard", "HardReset")])
async def test_reset_stops_transactions_and_boots_again(start_ocpp16, csms16, kind, reason):
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms16.wait_for("StartTransaction")
    assert (await csms16.call("Reset", {"type": kind}))["status"] == "Accepted"
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["reason"] == reason
    await csms16.wait_for("BootNotification", 2, timeout=15)
    (ev,) = await csms16.wait_for("SecurityEventNotification", where=lambda p: p["type"] == "ResetOrReboot")
    assert kind in ev["techInfo"]
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["BootStatus"] == "Accepted")


async def test_fault_is_reported_with_error_code_and_vendor_error_code(start_ocpp16, csms16):
    """A board fault: StatusNotification Faulted with the 1.6 errorCode and the fault's name as
    vendorErrorCode (where ChargeX codes go); the running transaction stops (reason Other)."""
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms16.wait_for("StartTransaction")
    await stack.sim(1, "SetRcdTripped", "b", True)
    (st,) = await csms16.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1
                                  and p["errorCode"] != "NoError")
    assert st["errorCode"] == "GroundFailure" and st["vendorErrorCode"] == "RcdTrip"
    assert st["vendorId"] == "org.evcharge"
    await csms16.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1 and p["status"] == "Faulted")
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["reason"] == "Other"


async def test_offline_card_from_the_authorization_cache(start_ocpp16, csms16):
    """A card the Central System accepted before is in the authorization cache; offline it starts
    charging (LocalAuthorizeOffline), an unknown one does not (AllowOfflineTxForUnknownId false)."""
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap("CAFE0003")
    await csms16.wait_for("StartTransaction")
    await stack.evse(1, "Stop", "s", "Remote")
    await stack.sim(1, "Unplug")
    await csms16.wait_for("StopTransaction")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)

    await csms16.stop()
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], what_name="offline")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap("CAFE0004")       # never seen: refused offline
    await stack.tap("CAFE0003")       # cached Accepted
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == "CAFE0003", timeout=10)
    await csms16.start()
    (_first, second) = await csms16.wait_for("StartTransaction", 2, timeout=20)
    assert second["idTag"] == "CAFE0003"


async def test_unlock_connector_stops_the_transaction_first(start_ocpp16, csms16):
    """5.17: UnlockConnector during a transaction stops it (StopTransaction reason UnlockCommand)."""
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms16.wait_for("StartTransaction")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", what_name="charging")
    r = await csms16.call("UnlockConnector", {"connectorId": 1})
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["reason"] == "UnlockCommand"
    assert r["status"] == "Unlocked"
    await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] == "Remote")
