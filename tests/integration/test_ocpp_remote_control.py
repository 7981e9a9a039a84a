"""OCPP 2.0.1 remote control on the real stack against the test CSMS: remote start timeout (F02),
UnlockConnector with an unknown connector (F05), TriggerMessage (F06), and the B cases on
SetVariables errors, Reset OnIdle with two transactions and the mandatory device model report.

Tests are named after the OCA Part 6 charging-station cases they follow.
"""

from __future__ import annotations

import asyncio
import json

from evcharge.common.service import EXIT_RESTART

from .test_ocpp_operations import LogServer, authorized_session, rebooted, wait_status_after_boot

WAIT = 60  # generous: the final CI runs everything on 2 loaded cores


async def start_with(stack, csms, *, evse_extra: dict | None = None, **ocpp_extra):
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"),
                      ocpp_extra={"csms_url": csms.url, **ocpp_extra}, evse_extra=evse_extra)
    await csms.wait_for("StatusNotification", 2, timeout=WAIT)
    return stack


def triggered(csms, action: str) -> list[dict]:
    """`action` requests the station sent after the last TriggerMessage call."""
    frames = [f for f in csms.frames if f.action]
    last = max(i for i, f in enumerate(frames) if f.direction == "out" and f.action == "TriggerMessage")
    return [f.payload for f in frames[last:] if f.direction == "in" and f.action == action]


async def trigger(csms, message: str, evse: dict | None = None) -> str:
    payload: dict = {"requestedMessage": message}
    if evse is not None:
        payload["evse"] = evse
    return (await csms.call("TriggerMessage", payload))["status"]


async def wait_triggered(csms, action: str, count: int = 1, where=lambda p: True) -> list[dict]:
    return await csms.wait_until(lambda: (lambda got: got if len(got) >= count else None)(
        [p for p in triggered(csms, action) if where(p)]), WAIT, f"{count} triggered {action}")


# --- F02 remote start, EV not connected in time ------------------------------------------------------
async def test_TC_F_04_CS_remote_start_cable_plugin_timeout(stack, csms):
    """TxStartPoint Authorized (errata 2023-12: the case applies with it): the remote start opens the
    transaction at once (Started, RemoteStart, chargingState Idle); no EV within the connection
    timeout: Ended, EVConnectTimeout, stoppedReason Timeout. Step 3: a new remote start works."""
    await start_with(stack, csms, evse_extra={"connection_timeout_s": 2.0})
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": "Authorized"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE4", "type": "Central"},
                                                    "remoteStartId": 41, "evseId": 1})
    assert r["status"] == "Accepted"
    (started,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=WAIT)
    assert started["triggerReason"] == "RemoteStart" and started["transactionInfo"]["remoteStartId"] == 41
    assert started["transactionInfo"]["chargingState"] == "Idle"
    assert started["idToken"] == {"idToken": "REMOTE4", "type": "Central"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    tx_id = started["transactionInfo"]["transactionId"]
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=WAIT)
    assert end["triggerReason"] == "EVConnectTimeout" and end["transactionInfo"]["stoppedReason"] == "Timeout"
    assert end["transactionInfo"]["transactionId"] == tx_id
    mine = [p["seqNo"] for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id]
    assert mine == list(range(len(mine)))
    # Step 3: Authorized (remote) again: a new transaction.
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE5", "type": "Central"},
                                                    "remoteStartId": 42, "evseId": 1})
    assert r["status"] == "Accepted"
    (_s, again) = await csms.wait_for("TransactionEvent", 2, where=lambda p: p["eventType"] == "Started",
                                      timeout=WAIT)
    assert again["transactionInfo"]["remoteStartId"] == 42 and again["transactionInfo"]["transactionId"] != tx_id


async def test_remote_start_before_the_cable_continues_at_plug_in(stack, csms):
    """TxStartPoint Authorized, remote start first, the EV plugged in within the timeout: the same
    transaction goes on (Updated CablePluggedIn, no second Authorized), charges and ends at unplug."""
    await start_with(stack, csms)
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": "Authorized"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE6", "type": "Central"},
                                                    "remoteStartId": 43, "evseId": 1})
    assert r["status"] == "Accepted"
    (started,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=WAIT)
    tx_id = started["transactionInfo"]["transactionId"]
    assert started["transactionInfo"]["chargingState"] == "Idle"
    await stack.sim(1, "PlugIn", "d", 220.0)
    (plugged,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "CablePluggedIn",
                                     timeout=WAIT)
    assert plugged["eventType"] == "Updated" and plugged["transactionInfo"]["transactionId"] == tx_id
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == "REMOTE6", WAIT, "evse authorized")
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=WAIT)
    r = await csms.call("GetTransactionStatus", {"transactionId": tx_id})
    assert r["ongoingIndicator"] is True
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=WAIT)
    events = csms.received("TransactionEvent")
    assert {p["transactionInfo"]["transactionId"] for p in events} == {tx_id}
    assert [p["seqNo"] for p in events] == list(range(len(events)))
    assert [p["triggerReason"] for p in events].count("RemoteStart") == 1
    assert "Authorized" not in [p["triggerReason"] for p in events]
    assert end["transactionInfo"]["stoppedReason"] == "EVDisconnected"


async def test_remote_start_expires_without_cable_tx_start_ev_connected(stack, csms):
    """TxStartPoint is EVConnected (no transaction before the cable): after the connection timeout
    the remote start is void; plugging in later is not remote-started, a new remote start works."""
    await start_with(stack, csms, evse_extra={"connection_timeout_s": 2.0})
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE4", "type": "Central"},
                                                    "remoteStartId": 41, "evseId": 1})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: _async(stack.signals_named("SessionEvent")),
                     lambda sigs: any(s[2][1] == "TokenExpired" for s in sigs), WAIT, "the remote start expired")
    assert not [p for p in csms.received("TransactionEvent")]
    await stack.sim(1, "PlugIn", "d", 220.0)
    (started,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=WAIT)
    assert started["triggerReason"] == "CablePluggedIn" and "idToken" not in started
    assert "remoteStartId" not in started["transactionInfo"]
    assert (await stack.conn(1))["SessionToken"] == ""
    # Step 3: the EVSE takes a new remote start (Authorized (remote)).
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE5", "type": "Central"},
                                                    "remoteStartId": 42, "evseId": 1})
    assert r["status"] == "Accepted"
    (rs,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "RemoteStart",
                                timeout=WAIT)
    assert rs["transactionInfo"]["remoteStartId"] == 42
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == "REMOTE5", WAIT, "evse authorized")


async def _async(value):
    return value


# --- F05 UnlockConnector -----------------------------------------------------------------------------
async def test_TC_F_10_CS_unlock_unknown_connector(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 999})
    assert r["status"] == "UnknownConnector"


# --- F06 TriggerMessage ------------------------------------------------------------------------------
async def test_TC_F_11_CS_trigger_meter_values_specific_evse(start_ocpp, csms):
    await start_ocpp()
    assert await trigger(csms, "MeterValues", {"id": 2}) == "Accepted"
    (mv,) = await wait_triggered(csms, "MeterValues")
    assert mv["evseId"] == 2
    assert mv["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


async def test_TC_F_12_CS_trigger_meter_values_all_evse(start_ocpp, csms):
    await start_ocpp()
    assert await trigger(csms, "MeterValues") == "Accepted"
    got = await wait_triggered(csms, "MeterValues", 2)
    assert sorted(p["evseId"] for p in got) == [1, 2]
    assert all(p["meterValue"][0]["sampledValue"][0]["context"] == "Trigger" for p in got)


async def two_charging(stack, csms) -> None:
    """EnergyTransferStarted on both EVSEs: a card on 1, a remote start on 2."""
    await authorized_session(stack, csms, 1)
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE2", "type": "Central"},
                                                    "remoteStartId": 2, "evseId": 2})
    assert r["status"] == "Accepted"
    await stack.sim(2, "PlugIn", "d", 220.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "RemoteStart", timeout=WAIT)
    await stack.sim(2, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Charging", WAIT, "evse 2 charging")
    await csms.wait_for("TransactionEvent", 2, timeout=WAIT,
                        where=lambda p: p["transactionInfo"].get("chargingState") == "Charging")


def check_trigger_event(ev: dict, evse_id: int) -> None:
    assert ev["eventType"] == "Updated" and ev["triggerReason"] == "Trigger"
    assert ev.get("evse", {"id": evse_id})["id"] == evse_id
    assert ev["transactionInfo"]["chargingState"] == "Charging"
    assert ev["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


async def test_TC_F_13_CS_trigger_transaction_event_specific_evse(start_ocpp, csms):
    stack = await start_ocpp()
    tx_id = await authorized_session(stack, csms, 1)
    assert await trigger(csms, "TransactionEvent", {"id": 1}) == "Accepted"
    (ev,) = await wait_triggered(csms, "TransactionEvent", where=lambda p: p["triggerReason"] == "Trigger")
    check_trigger_event(ev, 1)
    assert ev["transactionInfo"]["transactionId"] == tx_id


async def test_TC_F_14_CS_trigger_transaction_event_all_evse(start_ocpp, csms):
    stack = await start_ocpp()
    await two_charging(stack, csms)
    assert await trigger(csms, "TransactionEvent") == "Accepted"
    got = await wait_triggered(csms, "TransactionEvent", 2, where=lambda p: p["triggerReason"] == "Trigger")
    ids = {}
    for ev in got:
        tx = ev["transactionInfo"]["transactionId"]
        ids[tx] = ev
    assert len(ids) == 2
    for cid in (1, 2):
        sid = (await stack.conn(cid))["SessionId"]
        check_trigger_event(ids[sid], cid)


async def test_TC_F_15_CS_trigger_log_status_idle(start_ocpp, csms):
    await start_ocpp()
    assert await trigger(csms, "LogStatusNotification") == "Accepted"
    (st,) = await wait_triggered(csms, "LogStatusNotification")
    assert st["status"] == "Idle"


async def test_TC_F_16_CS_trigger_log_status_uploading(start_ocpp, csms):
    stack = await start_ocpp()
    server = LogServer(hold_first=True)  # the upload stays in progress until released
    try:
        r = await csms.call("GetLog", {"logType": "DiagnosticsLog", "requestId": 16,
                                       "log": {"remoteLocation": server.url}})
        assert r["status"] == "Accepted"
        await csms.wait_for("LogStatusNotification", where=lambda p: p["status"] == "Uploading", timeout=WAIT)
        # server.attempts changes in the server's thread: poll it (csms.wait_until wakes on frames only).
        await stack.wait(lambda: asyncio.sleep(0, server.attempts), lambda n: n >= 1, WAIT, "the upload reached the server")
        assert await trigger(csms, "LogStatusNotification") == "Accepted"
        (st,) = await wait_triggered(csms, "LogStatusNotification")
        assert st == {"status": "Uploading", "requestId": 16}
    finally:
        server.release.set()
        server.close()


async def test_TC_F_17_CS_and_TC_F_18_CS_trigger_firmware_status_idle(start_ocpp, csms):
    """TC_F_18: no firmware update running is Idle; TC_F_17: an evse given is not relevant, same answer.
    (The Downloading case is not tested here.)"""
    await start_ocpp()
    assert await trigger(csms, "FirmwareStatusNotification") == "Accepted"
    (st,) = await wait_triggered(csms, "FirmwareStatusNotification")
    assert st["status"] == "Idle"
    assert await trigger(csms, "FirmwareStatusNotification", {"id": 1}) == "Accepted"
    (st,) = await wait_triggered(csms, "FirmwareStatusNotification")
    assert st["status"] == "Idle"


async def test_TC_F_20_CS_trigger_heartbeat(start_ocpp, csms):
    await start_ocpp()
    before = len(csms.received("Heartbeat"))
    assert await trigger(csms, "Heartbeat") == "Accepted"
    await wait_triggered(csms, "Heartbeat")
    assert len(csms.received("Heartbeat")) == before + 1


def check_status(csms, status: str, evse_id: int = 1) -> None:
    (sn,) = triggered(csms, "StatusNotification")
    assert (sn["evseId"], sn["connectorId"], sn["connectorStatus"]) == (evse_id, 1, status)
    (ne,) = [p for p in triggered(csms, "NotifyEvent")
             if p["eventData"][0]["variable"]["name"] == "AvailabilityState"]
    data = ne["eventData"][0]
    assert data["trigger"] == "Delta" and data["actualValue"] == status
    assert data["component"] == {"name": "Connector", "evse": {"id": evse_id, "connectorId": 1}}


async def boot_reported(start_ocpp, csms):
    """Started, and the boot's StatusNotification + NotifyEvent for both EVSEs are in."""
    stack = await start_ocpp()
    await csms.wait_for("NotifyEvent", 2, timeout=WAIT,
                        where=lambda p: p["eventData"][0]["variable"]["name"] == "AvailabilityState")
    return stack


async def test_TC_F_23_CS_trigger_status_notification_available(start_ocpp, csms):
    await boot_reported(start_ocpp, csms)
    assert await trigger(csms, "StatusNotification", {"id": 1, "connectorId": 1}) == "Accepted"
    await wait_triggered(csms, "NotifyEvent")
    check_status(csms, "Available")


async def test_TC_F_24_CS_trigger_status_notification_occupied(start_ocpp, csms):
    stack = await boot_reported(start_ocpp, csms)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied", timeout=WAIT)
    await csms.wait_for("NotifyEvent", where=lambda p: p["eventData"][0]["actualValue"] == "Occupied", timeout=WAIT)
    assert await trigger(csms, "StatusNotification", {"id": 1, "connectorId": 1}) == "Accepted"
    await wait_triggered(csms, "NotifyEvent")
    check_status(csms, "Occupied")


async def test_TC_F_26_CS_trigger_boot_notification_rejected(start_ocpp, csms):
    await start_ocpp()
    assert await trigger(csms, "BootNotification") == "Rejected"
    await trigger(csms, "Heartbeat")  # a later message proves no BootNotification was queued before it
    await wait_triggered(csms, "Heartbeat")
    assert len(csms.received("BootNotification")) == 1


async def test_TC_F_27_CS_trigger_not_implemented(start_ocpp, csms):
    await start_ocpp()
    assert await trigger(csms, "SignCombinedCertificate") == "NotImplemented"


# --- B05 SetVariables errors ---------------------------------------------------------------------
async def test_TC_B_36_CS_set_variables_unknown_variable(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "UnknownVariable"}, "attributeValue": "1"}]})
    (res,) = r["setVariableResult"]
    assert res["attributeStatus"] == "UnknownVariable"
    assert res["component"]["name"] == "OCPPCommCtrlr" and res["variable"]["name"] == "UnknownVariable"


async def test_TC_B_37_CS_set_variables_not_supported_attribute_type(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"},
        "attributeType": "Target", "attributeValue": "120"}]})
    (res,) = r["setVariableResult"]
    assert res["attributeStatus"] == "NotSupportedAttributeType"
    assert res["component"]["name"] == "OCPPCommCtrlr" and res["variable"]["name"] == "OfflineThreshold"
    assert res["attributeType"] == "Target"


# --- B12 Reset OnIdle with two transactions ------------------------------------------------------
async def test_TC_B_41_CS_reset_on_idle_with_multiple_transactions(start_ocpp, csms, supervisor):
    """Both EVSEs charging; each is StopAuthorized and unplugged in turn; the reset waits for the last."""
    stack = await start_ocpp()
    await two_charging(stack, csms)
    assert (await csms.call("Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
    for n, cid in enumerate((1, 2), start=1):
        sid = (await stack.conn(cid))["SessionId"]
        assert (await csms.call("RequestStopTransaction", {"transactionId": sid}))["status"] == "Accepted"
        await csms.wait_for("TransactionEvent", n, where=lambda p: p["triggerReason"] == "RemoteStop", timeout=WAIT)
        await stack.sim(cid, "Unplug")
        await csms.wait_for("TransactionEvent", n, where=lambda p: p["eventType"] == "Ended", timeout=WAIT)
        ended = [p for p in csms.received("TransactionEvent") if p["eventType"] == "Ended"]
        assert ended[-1]["transactionInfo"]["transactionId"] == sid
        if cid == 1:
            assert len(csms.received("BootNotification")) == 1  # the second transaction still runs
            assert EXIT_RESTART not in supervisor.exits("ocpp")
    await rebooted(csms, supervisor, "ScheduledReset")
    for evse in (1, 2):
        await wait_status_after_boot(csms, evse, "Available")


# --- B07 mandatory device model variables ----------------------------------------------------------
# (component, variable, instance) the OCTT checks in a FullInventory (Part 6 TC_B_53, "Required Core
# components/variables", plus the rows of the optional components this station implements).
MANDATORY = [
    ("AlignedDataCtrlr", "Interval", None), ("AlignedDataCtrlr", "Measurands", None),
    ("AlignedDataCtrlr", "TxEndedInterval", None), ("AlignedDataCtrlr", "TxEndedMeasurands", None),
    ("AuthCtrlr", "AuthorizeRemoteStart", None), ("AuthCtrlr", "LocalAuthorizeOffline", None),
    ("AuthCtrlr", "LocalPreAuthorize", None),
    ("ChargingStation", "AvailabilityState", None), ("ChargingStation", "Available", None),
    ("ChargingStation", "SupplyPhases", None),
    ("ClockCtrlr", "DateTime", None), ("ClockCtrlr", "TimeSource", None),
    ("Connector", "AvailabilityState", None), ("Connector", "Available", None),
    ("Connector", "ConnectorType", None), ("Connector", "SupplyPhases", None),
    ("DeviceDataCtrlr", "BytesPerMessage", "GetReport"), ("DeviceDataCtrlr", "BytesPerMessage", "GetVariables"),
    ("DeviceDataCtrlr", "BytesPerMessage", "SetVariables"), ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"), ("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables"),
    ("EVSE", "AvailabilityState", None), ("EVSE", "Available", None), ("EVSE", "Power", None),
    ("EVSE", "SupplyPhases", None),
    ("OCPPCommCtrlr", "FileTransferProtocols", None), ("OCPPCommCtrlr", "MessageTimeout", "Default"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
    ("OCPPCommCtrlr", "NetworkConfigurationPriority", None),
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", None), ("OCPPCommCtrlr", "OfflineThreshold", None),
    ("OCPPCommCtrlr", "ResetRetries", None), ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", None),
    ("SampledDataCtrlr", "TxEndedInterval", None), ("SampledDataCtrlr", "TxEndedMeasurands", None),
    ("SampledDataCtrlr", "TxStartedMeasurands", None), ("SampledDataCtrlr", "TxUpdatedInterval", None),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", None),
    ("SecurityCtrlr", "CertificateEntries", None), ("SecurityCtrlr", "OrganizationName", None),
    ("SecurityCtrlr", "SecurityProfile", None),
    ("TxCtrlr", "EVConnectionTimeOut", None), ("TxCtrlr", "StopTxOnEVSideDisconnect", None),
    ("TxCtrlr", "StopTxOnInvalidId", None), ("TxCtrlr", "TxStartPoint", None), ("TxCtrlr", "TxStopPoint", None),
    ("LocalAuthListCtrlr", "BytesPerMessage", None), ("LocalAuthListCtrlr", "Entries", None),
    ("LocalAuthListCtrlr", "ItemsPerMessage", None),
    ("SmartChargingCtrlr", "Entries", "ChargingProfiles"), ("SmartChargingCtrlr", "LimitChangeSignificance", None),
    ("SmartChargingCtrlr", "PeriodsPerSchedule", None), ("SmartChargingCtrlr", "ProfileStackLevel", None),
    ("SmartChargingCtrlr", "RateUnit", None),
]


async def test_TC_B_53_CS_base_report_mandatory_variables(start_ocpp, csms):
    """All mandatory variables are in the FullInventory, the Connector components with their EVSE."""
    await start_ocpp()
    r = await csms.call("GetBaseReport", {"requestId": 53, "reportBase": "FullInventory"})
    assert r["status"] == "Accepted" and r.get("statusInfo", {}).get("reasonCode", "NoError") == "NoError"
    (last,) = await csms.wait_for("NotifyReport", where=lambda p: p["requestId"] == 53 and not p.get("tbc"),
                                  timeout=WAIT)
    reports = [p for p in csms.received("NotifyReport") if p["requestId"] == 53]
    assert [p["seqNo"] for p in reports] == list(range(len(reports)))
    assert all(p["tbc"] for p in reports[:-1])
    reported = {(d["component"]["name"], d["variable"]["name"], d["variable"].get("instance"))
                for p in reports for d in p.get("reportData", [])}
    missing = [m for m in MANDATORY if m not in reported]
    assert not missing, f"not reported: {missing}"
    data = {(d["component"]["name"], json.dumps(d["component"].get("evse"), sort_keys=True), d["variable"]["name"]):
            d for p in reports for d in p.get("reportData", [])}
    for evse in (1, 2):   # conftest: two EVSEs with one connector each
        conn = json.dumps({"connectorId": 1, "id": evse}, sort_keys=True)
        assert data[("Connector", conn, "ConnectorType")]["variableAttribute"][0]["value"] == "sType2"
        assert data[("Connector", conn, "SupplyPhases")]["variableAttribute"][0]["value"] == "3"
        power = data[("EVSE", json.dumps({"id": evse}), "Power")]
        assert power["variableCharacteristics"]["unit"] == "W" and power["variableCharacteristics"]["maxLimit"] > 0
    r = await csms.call("GetVariables", {"getVariableData": [
        {"component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
         "variable": {"name": "AvailabilityState"}},
        {"component": {"name": "Connector", "evse": {"id": 2, "connectorId": 9}},
         "variable": {"name": "AvailabilityState"}},
        {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "Entries", "instance": "ChargingProfiles"}}]})
    assert [(x["attributeStatus"], x.get("attributeValue")) for x in r["getVariableResult"]] == \
        [("Accepted", "Available"), ("UnknownComponent", None), ("Accepted", "0")]
