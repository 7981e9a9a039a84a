"""OCPP 2.0.1 Part 6 cases of blocks N (customer information) and P (DataTransfer, CustomData)
for the charging station, against the real stack and the test CSMS.

A token only the CSMS knows (not in the auth service's local list) goes through Authorize and
lands in the authorization cache: that cache entry is the customer data the station holds.
"""

from __future__ import annotations

from evcharge.common import names
from evcharge.common.bus import get_all, get_property

CSMS_CARD = "CAFE0002"       # unknown to the local list: the CSMS authorizes it, the cache keeps it
TOKEN = {"idToken": CSMS_CARD, "type": "ISO14443"}
NO_DATA = "No customer information found"


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


async def authorized_locally(stack, csms) -> None:
    """Charging state 'Authorized': the card tapped, the CSMS accepted it, the cache has it.

    Plugged first: the evse takes the token (and the transaction says Authorized) only after the
    Authorize answer went into the cache, so this is the synchronisation point.
    """
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=20)
    await stack.tap(CSMS_CARD)
    await csms.wait_for("Authorize", where=lambda p: p["idToken"]["idToken"] == CSMS_CARD, timeout=20)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized", timeout=20)
    # its answer (idTokenInfo) refreshes the cache too: wait until the station has handled it
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=20)


async def report(csms, request_id: int, **request) -> list[dict]:
    """CustomerInformation with report true; the NotifyCustomerInformation parts of `request_id`."""
    r = await csms.call("CustomerInformation", {"requestId": request_id, "report": True, **request})
    assert r["status"] == "Accepted", r
    parts = await csms.wait_for("NotifyCustomerInformation", where=lambda p: p["requestId"] == request_id
                                and not p["tbc"], timeout=20)
    assert len(parts) == 1
    got = [p for p in csms.received("NotifyCustomerInformation") if p["requestId"] == request_id]
    assert [p["seqNo"] for p in got] == list(range(len(got))), "all report parts, in order"
    return got


def text(parts: list[dict]) -> str:
    return "".join(p["data"] for p in parts)


async def test_TC_N_27_CS_get_customer_information_with_data(start_ocpp, csms):
    stack = await start_ocpp()
    await authorized_locally(stack, csms)
    parts = await report(csms, 27, clear=False, idToken=TOKEN)
    data = text(parts)
    assert data and data != NO_DATA
    assert CSMS_CARD in data and "AuthorizationCache" in data
    assert "Transaction " in data, "the ongoing transaction it authorized"


async def test_TC_N_28_CS_get_customer_information_no_data(start_ocpp, csms):
    stack = await start_ocpp()
    r = await csms.call("CustomerInformation", {"requestId": 1, "report": False, "clear": True, "idToken": TOKEN})
    assert r["status"] == "Accepted"
    parts = await report(csms, 28, clear=False, idToken=TOKEN)
    assert text(parts) == NO_DATA
    assert parts[-1]["tbc"] is False
    assert not [p for p in csms.received("NotifyCustomerInformation") if p["requestId"] == 1], \
        "report false: nothing is sent"
    assert (await ocpp_props(stack))["Connected"]


async def test_TC_N_30_CS_clear_and_report_with_data(start_ocpp, csms):
    """The report holds the data found before the clear; after it the cache entry is gone.

    The transaction in progress stays (it is needed to bill the session), so it is still reported.
    """
    stack = await start_ocpp()
    await authorized_locally(stack, csms)
    parts = await report(csms, 30, clear=True, idToken=TOKEN)
    assert "AuthorizationCache" in text(parts)
    again = await report(csms, 31, clear=False, idToken=TOKEN)
    assert "AuthorizationCache" not in text(again)
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=20)
    last = await report(csms, 32, clear=False, idToken=TOKEN)
    assert text(last) == NO_DATA


async def test_TC_N_31_CS_clear_and_report_no_data(start_ocpp, csms):
    await start_ocpp()
    parts = await report(csms, 310, clear=True, idToken={"idToken": "NOBODY01", "type": "ISO14443"})
    assert text(parts) == NO_DATA


async def test_TC_N_32_CS_clear_without_report(start_ocpp, csms):
    """report false: Accepted, no NotifyCustomerInformation; the cache entry is gone."""
    stack = await start_ocpp()
    await authorized_locally(stack, csms)
    r = await csms.call("CustomerInformation", {"requestId": 32, "report": False, "clear": True, "idToken": TOKEN})
    assert r["status"] == "Accepted"
    parts = await report(csms, 33, clear=False, idToken=TOKEN)
    assert "AuthorizationCache" not in text(parts)
    assert not [p for p in csms.received("NotifyCustomerInformation") if p["requestId"] == 32]


async def test_TC_N_62_CS_clear_and_report_customer_identifier(start_ocpp, csms):
    """No customer identifiers are stored here: Accepted, a report saying there is no data."""
    await start_ocpp()
    parts = await report(csms, 62, clear=True, customerIdentifier="OpenChargeAlliance")
    assert text(parts) == NO_DATA


async def test_customer_information_needs_exactly_one_identification(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("CustomerInformation", {"requestId": 5, "report": True, "clear": False})
    assert r["status"] == "Rejected"
    r = await csms.call("CustomerInformation", {"requestId": 6, "report": True, "clear": False, "idToken": TOKEN,
                                                "customerIdentifier": "x"})
    assert r["status"] == "Rejected"


async def test_TC_P_01_CS_data_transfer_unknown_vendor(start_ocpp, csms):
    stack = await start_ocpp()
    r = await csms.call("DataTransfer", {"vendorId": "org.openchargealliance.octt", "messageId": "TestMessage",
                                         "data": "anything"})
    assert r["status"] in ("UnknownVendorId", "UnknownMessageId", "Rejected")
    assert r["status"] == "UnknownVendorId"
    assert (await ocpp_props(stack))["Connected"]


async def test_TC_P_03_CS_receive_custom_data(start_ocpp, csms):
    """customData on SetVariables/GetVariables (and inside their items) is accepted and ignored."""
    await start_ocpp()
    custom = {"vendorId": "org.openchargealliance.octt", "extra": {"nested": [1, 2]}}
    cv = {"component": {"name": "OCPPCommCtrlr", "customData": custom},
          "variable": {"name": "OfflineThreshold", "customData": custom}}
    r = await csms.call("SetVariables", {"customData": custom, "setVariableData": [
        {**cv, "attributeValue": "200", "attributeType": "Actual", "customData": custom}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    r = await csms.call("GetVariables", {"customData": custom, "getVariableData": [
        {**cv, "attributeType": "Actual", "customData": custom}]})
    res = r["getVariableResult"][0]
    assert res["attributeStatus"] == "Accepted"
    assert res.get("attributeType", "Actual") == "Actual"
    assert res["attributeValue"] == "200"


# --- block J ---------------------------------------------------------------------------------
CARD = "04A1B2C3"  # in the auth service's local list (conftest)


async def test_TC_J_06_CS_no_clock_aligned_values_during_transaction(start_ocpp, csms):
    """AlignedDataCtrlr.SendDuringIdle true: clock-aligned values while idle, none during a transaction.

    EVSE 2 stays idle: its messages are the clock the test waits on (no sleeps).
    """
    stack = await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [
        {"component": {"name": "AlignedDataCtrlr"}, "variable": {"name": n}, "attributeValue": v}
        for n, v in (("SendDuringIdle", "true"), ("Interval", "1"))]})
    assert all(x["attributeStatus"] == "Accepted" for x in r["setVariableResult"]), r
    await csms.wait_for("MeterValues", 2, where=lambda p: p["evseId"] == 1, timeout=30)

    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=30)
    started_at = len(csms.frames)
    idle_before = len([p for p in csms.received("MeterValues") if p["evseId"] == 2])
    await csms.wait_for("MeterValues", idle_before + 3, where=lambda p: p["evseId"] == 2, timeout=30)
    later = [f.payload for f in csms.frames[started_at:] if f.action in ("MeterValues", "TransactionEvent")]
    assert not [p for p in later if p.get("evseId") == 1], "no MeterValues for the EVSE in a transaction"
    assert not [p for p in later if p.get("triggerReason") == "MeterValueClock"]

    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    ended_at = len(csms.frames)
    await csms.wait_until(lambda: any(f.action == "MeterValues" and f.payload.get("evseId") == 1
                                      for f in csms.frames[ended_at:]), timeout=30, what="idle values again")


# --- block E ---------------------------------------------------------------------------------
async def set_vars(csms, *items: tuple[str, str, str]) -> None:
    r = await csms.call("SetVariables", {"setVariableData": [
        {"component": {"name": c}, "variable": {"name": v}, "attributeValue": val} for c, v, val in items]})
    assert all(x["attributeStatus"] == "Accepted" for x in r["setVariableResult"]), r


async def test_TC_E_05_CS_authorization_first_cable_plugin_timeout(stack, csms):
    """Authorized, no cable within the connection timeout: the authorization lapses without a
    transaction (TxStartPoint EVConnected, so step 1's TransactionEvent is not expected); then a
    new authorization and plug-in charge normally (steps 3-4)."""
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra={"csms_url": csms.url},
                      evse_extra={"connection_timeout_s": 2.0})
    await csms.wait_for("StatusNotification", 2, timeout=20)
    await set_vars(csms, ("AuthCacheCtrlr", "Enabled", "false"))
    await stack.tap(CARD)
    await stack.wait(lambda: _now(stack.signals_named("SessionEvent")),
                     lambda sigs: any(s[2][1] == "TokenExpired" for s in sigs), timeout=30,
                     what_name="the authorization to lapse")
    assert csms.received("TransactionEvent") == []
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=30)
    assert ev["triggerReason"] == "CablePluggedIn" and "idToken" not in ev, "the lapsed card does not count"
    assert (await stack.conn(1))["SessionToken"] == ""

    await stack.tap(CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized", timeout=30)
    assert auth["idToken"] == {"idToken": CARD, "type": "ISO14443"}
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=30)


async def _now(value):
    return value


async def test_TC_E_52_CS_disable_remote_authorization(start_ocpp, csms):
    """DisableRemoteAuthorization true: a token neither in the local list nor in the cache is refused
    without an AuthorizeRequest. A listed card tapped afterwards is the sync point."""
    stack = await start_ocpp()
    await set_vars(csms, ("AuthCtrlr", "DisableRemoteAuthorization", "true"))
    assert (await csms.call("ClearCache", {}))["status"] == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=30)
    await stack.tap(CSMS_CARD)
    # the evse's refusal is the signal the ocpp service would act on (ask the CSMS)
    await stack.wait(lambda: _now(stack.signals_named("SessionEvent")),
                     lambda sigs: any(s[2][1] == "TokenRejected" for s in sigs),
                     timeout=30, what_name="TokenRejected")
    await stack.tap(CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized", timeout=30)
    assert auth["idToken"]["idToken"] == CARD, "the unknown token was refused"
    assert csms.received("Authorize") == []
    assert not [p for p in csms.received("TransactionEvent") if p.get("idToken", {}).get("idToken") == CSMS_CARD]


async def test_TC_E_17_CS_stop_deauthorized_ev_side_disconnect(start_ocpp, csms):
    """TxStopPoint Authorized (StopTxOnEVSideDisconnect is ReadOnly true): from EnergyTransferSuspended
    the EV side is disconnected: Ended, EVCommunicationLost, Idle, EVDisconnected; then the connector
    is reported Available (the socket has no fixed cable, so the station-side steps are the unplug)."""
    stack = await start_ocpp()
    await set_vars(csms, ("TxCtrlr", "TxStopPoint", "Authorized"))
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=30)
    await stack.sim(1, "SetEvReady", "b", False)       # EnergyTransferSuspended
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState")
                        == "SuspendedEV", timeout=30)
    n_status = len(csms.received("StatusNotification"))
    n_events = len(csms.received("NotifyEvent"))
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    info = end["transactionInfo"]
    assert end["triggerReason"] == "EVCommunicationLost"
    assert info["chargingState"] == "Idle" and info["stoppedReason"] == "EVDisconnected"
    await csms.wait_until(lambda: any(p["connectorStatus"] == "Available" and p["evseId"] == 1
                                      for p in csms.received("StatusNotification")[n_status:]), timeout=30,
                          what="StatusNotification Available")
    await csms.wait_until(lambda: any(
        (d := p["eventData"][0])["actualValue"] == "Available" and d["trigger"] == "Delta"
        and d["component"]["name"] == "Connector" and d["variable"]["name"] == "AvailabilityState"
        for p in csms.received("NotifyEvent")[n_events:]), timeout=30, what="NotifyEvent Available")


async def test_TC_E_39_CS_stop_deauthorized_timeout(stack, csms):
    """TxStartPoint/TxStopPoint Authorized, a local card first, no cable within EVConnectionTimeOut:
    the transaction starts at authorization (Started, Authorized, the card's idToken) and ends when the
    authorization lapses (Ended, EVConnectTimeout, stoppedReason Timeout). Plugging in afterwards
    starts nothing until the card is presented again, and then a new transaction. EVConnectionTimeOut
    is set by the CSMS, as the test tool does, and reaches evse."""
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra={"csms_url": csms.url})
    await csms.wait_for("StatusNotification", 2, timeout=20)
    await set_vars(csms, ("TxCtrlr", "TxStartPoint", "Authorized"), ("TxCtrlr", "TxStopPoint", "Authorized"),
                   ("TxCtrlr", "EVConnectionTimeOut", "2"))
    await stack.wait(lambda: get_property(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ConnectionTimeoutS"),
                     lambda t: t == 2.0, what_name="evse's connection timeout")
    await stack.tap(CARD)
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    started, *_ = csms.received("TransactionEvent")
    tid = started["transactionInfo"]["transactionId"]
    assert started["eventType"] == "Started" and started["triggerReason"] == "Authorized"
    assert started["idToken"] == {"idToken": CARD, "type": "ISO14443"} and started["evse"]["id"] == 1
    assert started["transactionInfo"]["chargingState"] == "Idle"
    assert end["transactionInfo"]["transactionId"] == tid
    assert end["triggerReason"] == "EVConnectTimeout" and end["transactionInfo"]["stoppedReason"] == "Timeout"
    assert [p["seqNo"] for p in csms.received("TransactionEvent")] == [0, 1]
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied", timeout=30)
    assert (await stack.conn(1))["SessionToken"] == ""
    assert not (await stack.board(1))["ContactorClosed"]
    await stack.tap(CARD)
    (again,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started"
                                   and p["transactionInfo"]["transactionId"] != tid, timeout=30)
    assert again["triggerReason"] == "Authorized"


async def test_ev_connection_timeout_is_evse_s_and_outlives_restarts(stack, csms):
    """TxCtrlr.EVConnectionTimeOut reads evse's connection timeout (its configuration at first), a
    SetVariables changes it in evse, out-of-range values are Rejected, and the value set survives a
    kill -9 of both evse and ocpp (evse keeps it; ocpp reads it back)."""
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra={"csms_url": csms.url},
                      evse_extra={"connection_timeout_s": 45.0})
    await csms.wait_for("StatusNotification", 2, timeout=20)
    var = {"component": {"name": "TxCtrlr"}, "variable": {"name": "EVConnectionTimeOut"}}

    async def get():
        r = await csms.call("GetVariables", {"getVariableData": [var]})
        return r["getVariableResult"][0]["attributeValue"]

    assert await get() == "45"
    r = await csms.call("SetVariables", {"setVariableData": [{**var, "attributeValue": v} for v in ("0", "3601", "x")]})
    assert [x["attributeStatus"] for x in r["setVariableResult"]] == ["Rejected"] * 3
    await set_vars(csms, ("TxCtrlr", "EVConnectionTimeOut", "90"))
    await stack.wait(lambda: get_property(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ConnectionTimeoutS"),
                     lambda t: t == 90.0, what_name="evse's connection timeout")
    for name in ("evse", "ocpp"):
        starts = stack.sup.starts(name)
        stack.sup.kill(name)
        await stack.sup.wait_restarted(name, starts)
    await csms.wait_for("BootNotification", 2, timeout=30)
    assert await get() == "90"
    assert await get_property(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ConnectionTimeoutS") == 90.0


async def test_TC_E_39_CS_local_card_then_cable_in_time_continues_the_transaction(stack, csms):
    """The same start with the cable in time: the transaction begun at authorization goes on with the
    plug-in (Updated, CablePluggedIn) and charges, one transaction, seqNo continuous."""
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra={"csms_url": csms.url},
                      evse_extra={"connection_timeout_s": 60.0})
    await csms.wait_for("StatusNotification", 2, timeout=20)
    await set_vars(csms, ("TxCtrlr", "TxStartPoint", "Authorized"), ("TxCtrlr", "TxStopPoint", "Authorized"))
    await stack.tap(CARD)
    (started,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=30)
    assert started["triggerReason"] == "Authorized" and started["idToken"]["idToken"] == CARD
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=30)
    events = csms.received("TransactionEvent")
    assert {p["transactionInfo"]["transactionId"] for p in events} == {started["transactionInfo"]["transactionId"]}
    assert [p["seqNo"] for p in events] == list(range(len(events)))
    assert "CablePluggedIn" in [p["triggerReason"] for p in events]
    assert [p["triggerReason"] for p in events].count("Authorized") == 1


async def test_TC_E_39_CS_authorization_timeout_then_cable_does_not_charge(stack, csms):
    """Errata 2023-12 form with TxStartPoint EVConnected, TxStopPoint Authorized: no transaction
    before the cable, so steps 1-2 are not expected; the authorization lapses; the EV (ready to
    charge) is plugged in: a CablePluggedIn transaction may start but must not charge. Charging
    starts only after the card is presented again (events are in order: Authorized before Charging)."""
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra={"csms_url": csms.url},
                      evse_extra={"connection_timeout_s": 2.0})
    await csms.wait_for("StatusNotification", 2, timeout=20)
    await set_vars(csms, ("TxCtrlr", "TxStartPoint", "EVConnected"), ("TxCtrlr", "TxStopPoint", "Authorized"))
    await stack.tap(CARD)
    await stack.wait(lambda: _now(stack.signals_named("SessionEvent")),
                     lambda sigs: any(s[2][1] == "TokenExpired" for s in sigs), timeout=30,
                     what_name="the authorization to lapse")
    assert csms.received("TransactionEvent") == []
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=30)
    assert ev["triggerReason"] == "CablePluggedIn" and "idToken" not in ev
    assert (await stack.conn(1))["SessionToken"] == ""
    await stack.tap(CARD)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=30)
    reasons = [(p["triggerReason"], p["transactionInfo"].get("chargingState")) for p in csms.received("TransactionEvent")]
    first_charging = next(i for i, (_t, st) in enumerate(reasons) if st == "Charging")
    assert ("Authorized" in [t for t, _s in reasons[:first_charging + 1]]), reasons


async def test_TC_E_39_CS_remote_authorization_timeout_ends_the_transaction(stack, csms):
    """TxStartPoint and TxStopPoint Authorized, Authorized by a remote start (errata 2023-12 allows it):
    the transaction opened before the cable ends after the connection timeout (Ended, EVConnectTimeout,
    Timeout); the EV plugged in afterwards is not authorized and nothing charges until a card is presented."""
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra={"csms_url": csms.url},
                      evse_extra={"connection_timeout_s": 2.0})
    await csms.wait_for("StatusNotification", 2, timeout=20)
    await set_vars(csms, ("TxCtrlr", "TxStartPoint", "Authorized"), ("TxCtrlr", "TxStopPoint", "Authorized"))
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE39", "type": "Central"},
                                                    "remoteStartId": 39, "evseId": 1})
    assert r["status"] == "Accepted"
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    assert end["triggerReason"] == "EVConnectTimeout" and end["transactionInfo"]["stoppedReason"] == "Timeout"
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("StatusNotification", where=lambda p: p["evseId"] == 1 and p["connectorStatus"] == "Occupied",
                        timeout=30)
    assert (await stack.conn(1))["SessionToken"] == ""
    await stack.tap(CARD)
    (started,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started"
                                     and p["transactionInfo"]["transactionId"] != end["transactionInfo"]
                                     ["transactionId"], timeout=30)
    assert started["triggerReason"] == "Authorized"
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=30)


async def test_TC_E_54_CS_ev_side_disconnect_hlc_ev(stack, csms, tmp_path):
    """An ISO 15118-2 EV (the 'not able to charge IEC 61851-1' kind) charging through the V2G service;
    the EV suspends the energy transfer (EnergyTransferSuspended: it opens S2, CP state B, while its
    ChargingStatus loop goes on) and the EV side is then disconnected: Ended, EVCommunicationLost, Idle,
    EVDisconnected or StoppedByEV."""
    import yaml
    from evcharge.sil.supervisor import ServiceSpec

    from .test_iso15118 import free_udp_port
    from .test_iso15118_stack import EVSE_HLC, spawn_ev

    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), evse_extra=EVSE_HLC,
                      ocpp_extra={"csms_url": csms.url})
    await csms.wait_for("StatusNotification", 2, timeout=20)
    port = free_udp_port()
    cfg = tmp_path / "v2g.yaml"
    cfg.write_text(yaml.safe_dump({"controller": "evse", "interface": "lo", "address": "::1", "sdp_port": port,
                                   "connector_id": 1}))
    await stack.sup.start(ServiceSpec("iso15118", ["--config", str(cfg)]))
    proc = await spawn_ev(stack, "--sdp-address", "::1", "--sdp-port", str(port), "--connector", "1",
                          "--loops", "100000", "--cycle-s", "0.1", "--timeout-scale", "5")
    try:
        await stack.wait(lambda: stack.conn(1), lambda c: c["HlcProtocol"] == "iso2", timeout=30,
                         what_name="HLC started")
        await stack.tap(CARD)
        await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState")
                            == "Charging", timeout=30)
        await stack.sim(1, "SetEvReady", "b", False)
        await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState")
                            == "SuspendedEV", timeout=30)
        assert (await stack.conn(1))["HlcProtocol"] == "iso2", "the HLC session goes on while suspended"
        await stack.sim(1, "Unplug")
        (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
        info = end["transactionInfo"]
        assert end["triggerReason"] == "EVCommunicationLost"
        assert info["chargingState"] == "Idle" and info["stoppedReason"] in ("EVDisconnected", "StoppedByEV")
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()
