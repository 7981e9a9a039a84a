"""OCPP 1.6J Core profile: the real stack (ocpp with `protocol: ocpp1.6`) against the 1.6 test
Central System (evcharge.sim.csms16). Names follow the OCTT 1.6 test-case areas where one fits.
"""

from __future__ import annotations

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all, get_property
from ocpp.exceptions import OCPPError

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


async def test_boot_accepted_status_notifications_and_heartbeat(start_ocpp16, csms16):
    csms16.behaviour.boot_interval = 1
    stack = await start_ocpp16()
    (boot,) = csms16.received("BootNotification")
    assert boot["chargePointVendor"] == "evcharge" and boot["chargePointModel"] == "evcharge-ac"
    assert csms16.paths[0].endswith("/evcharge-001")
    statuses = {p["connectorId"]: p for p in csms16.received("StatusNotification")}
    assert set(statuses) == {0, 1, 2}
    assert all(p["status"] == "Available" and p["errorCode"] == "NoError" for p in statuses.values())
    await csms16.wait_for("Heartbeat", 2, timeout=10)
    props = await ocpp_props(stack)
    assert props["BootStatus"] == "Accepted" and props["Connected"] and props["HeartbeatIntervalS"] == 1
    assert csms16.connections["evcharge-001"].subprotocol == "ocpp1.6"


async def test_boot_pending_then_accepted(start_ocpp16, csms16):
    """Pending: only BootNotification is sent (requests of the Central System are answered),
    retried after the interval; Accepted then StatusNotifications."""
    csms16.behaviour.boot_status = ["Pending", "Accepted"]
    csms16.behaviour.boot_interval = 1
    stack = await start_ocpp16(wait_boot=False)
    await csms16.wait_for("BootNotification")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["BootStatus"] == "Pending", what_name="Pending")
    r = await csms16.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert r["configurationKey"][0]["key"] == "HeartbeatInterval"
    await csms16.wait_for("BootNotification", 2, timeout=10)
    await csms16.wait_for("StatusNotification", 3)
    actions = csms16.actions()
    assert actions[:2] == ["BootNotification", "BootNotification"]


async def test_boot_rejected_answers_security_error(start_ocpp16, csms16):
    csms16.behaviour.boot_status = ["Rejected"]
    csms16.behaviour.boot_interval = 30
    stack = await start_ocpp16(wait_boot=False)
    await csms16.wait_for("BootNotification")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["BootStatus"] == "Rejected", what_name="Rejected")
    with pytest.raises(OCPPError) as e:
        await csms16.call("GetConfiguration", {})
    assert e.value.code == "SecurityError"
    assert csms16.actions() == ["BootNotification"]


async def test_get_and_change_configuration(start_ocpp16, csms16, supervisor):
    """GetConfiguration all / some / unknown keys; ChangeConfiguration Accepted, Rejected
    (read-only, invalid value), RebootRequired, NotSupported; changes persist across a restart."""
    stack = await start_ocpp16()
    r = await csms16.call("GetConfiguration", {})
    keys = {k["key"]: k for k in r["configurationKey"]}
    for required in ("AuthorizeRemoteTxRequests", "ClockAlignedDataInterval", "ConnectionTimeOut",
                     "GetConfigurationMaxKeys", "HeartbeatInterval", "LocalAuthorizeOffline", "LocalPreAuthorize",
                     "MeterValuesAlignedData", "MeterValuesSampledData", "MeterValueSampleInterval",
                     "NumberOfConnectors", "ResetRetries", "ConnectorPhaseRotation",
                     "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
                     "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
                     "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect"):
        assert required in keys, required
    assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
    assert keys["SupportedFeatureProfiles"]["value"].split(",") == ["Core", "FirmwareManagement",
                                                                    "LocalAuthListManagement", "Reservation",
                                                                    "SmartCharging", "RemoteTrigger"]
    r = await csms16.call("GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]})
    assert [k["key"] for k in r["configurationKey"]] == ["HeartbeatInterval"] and r["unknownKey"] == ["NoSuchKey"]

    async def change(key, value):
        return (await csms16.call("ChangeConfiguration", {"key": key, "value": value}))["status"]

    assert await change("HeartbeatInterval", "1") == "Accepted"
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["HeartbeatIntervalS"] == 1)
    await csms16.wait_for("Heartbeat", timeout=10)
    assert await change("NumberOfConnectors", "5") == "Rejected"
    assert await change("MeterValueSampleInterval", "soon") == "Rejected"
    assert await change("MeterValuesSampledData", "Voltage") == "Rejected"
    assert await change("WebSocketPingInterval", "30") == "RebootRequired"
    assert await change("NoSuchKey", "1") == "NotSupported"
    assert await change("StopTransactionOnInvalidId", "false") == "Accepted"

    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await csms16.wait_for("BootNotification", 2, timeout=15)
    # the BootNotification answer's interval (300) replaces the value set before
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["HeartbeatIntervalS"] == 300 and p["BootStatus"] ==
                     "Accepted", timeout=10)
    r = await csms16.call("GetConfiguration", {"key": ["StopTransactionOnInvalidId", "WebSocketPingInterval",
                                                       "HeartbeatInterval"]})
    assert {k["key"]: k["value"] for k in r["configurationKey"]} == {
        "StopTransactionOnInvalidId": "false", "WebSocketPingInterval": "30", "HeartbeatInterval": "300"}


async def test_connection_timeout_is_evse_s_and_outlives_restarts(start_ocpp16, csms16, supervisor):
    """ConnectionTimeOut reads evse's connection timeout (60 s from its configuration here);
    ChangeConfiguration sets it in evse (out of range: Rejected), and after kill -9 of evse and
    ocpp GetConfiguration still reports the value set (evse keeps it)."""
    stack = await start_ocpp16()

    async def value():
        r = await csms16.call("GetConfiguration", {"key": ["ConnectionTimeOut"]})
        return r["configurationKey"][0]["value"]

    async def evse_timeout():
        return await get_property(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ConnectionTimeoutS")

    assert await value() == "60"
    for bad in ("0", "3601", "soon"):
        assert (await csms16.call("ChangeConfiguration", {"key": "ConnectionTimeOut", "value": bad}))["status"] \
            == "Rejected"
    r = await csms16.call("ChangeConfiguration", {"key": "ConnectionTimeOut", "value": "25"})
    assert r["status"] == "Accepted"
    await stack.wait(evse_timeout, lambda t: t == 25.0, what_name="evse's connection timeout")
    for name in ("evse", "ocpp"):
        starts = supervisor.starts(name)
        supervisor.kill(name)
        await supervisor.wait_restarted(name, starts)
    await csms16.wait_for("BootNotification", 2, timeout=30)
    assert await value() == "25"
    assert await evse_timeout() == 25.0


async def test_misc_core_requests(start_ocpp16, csms16):
    """UnlockConnector (evse Unlock; unknown connector NotSupported), ClearCache, DataTransfer
    UnknownVendorId, TriggerMessage, an action not handled -> CALLERROR NotSupported."""
    await start_ocpp16()
    assert (await csms16.call("UnlockConnector", {"connectorId": 1}))["status"] == "Unlocked"
    assert (await csms16.call("UnlockConnector", {"connectorId": 9}))["status"] == "NotSupported"
    assert (await csms16.call("ClearCache", {}))["status"] == "Accepted"
    assert (await csms16.call("DataTransfer", {"vendorId": "com.example", "messageId": "x"}))["status"] == \
        "UnknownVendorId"
    n = len(csms16.received("StatusNotification"))
    assert (await csms16.call("TriggerMessage", {"requestedMessage": "StatusNotification",
                                                 "connectorId": 2}))["status"] == "Accepted"
    (st,) = (await csms16.wait_for("StatusNotification", n + 1))[n:]
    assert st["connectorId"] == 2 and st["status"] == "Available"
    assert (await csms16.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
    await csms16.wait_for("Heartbeat")
    assert (await csms16.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}))["status"] \
        == "Accepted"
    (mv,) = await csms16.wait_for("MeterValues")
    assert mv["connectorId"] == 1 and "transactionId" not in mv
    assert mv["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    assert (await csms16.call("TriggerMessage", {"requestedMessage": "StatusNotification",
                                                 "connectorId": 7}))["status"] == "Rejected"
    assert (await csms16.call("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}))["status"] \
        == "Accepted"
    assert await csms16.wait_for("DiagnosticsStatusNotification") == [{"status": "Idle"}]
    assert (await csms16.call("ExtendedTriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
    await csms16.wait_for("Heartbeat", 2)
    assert (await csms16.call("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"}))[
        "status"] == "Accepted"
    assert await csms16.wait_for("LogStatusNotification") == [{"status": "Idle"}]
    with pytest.raises(OCPPError) as e:
        await csms16.call("Heartbeat", {})   # a 1.6 action, but one the Charge Point sends, not answers
    assert e.value.code == "NotSupported"


@pytest.mark.parametrize(("raw", "code"), [
    ("not json", "FormationViolation"),
    ('[2, "m1", "NoSuchAction", {}]', "NotImplemented"),
    ('[2, "m2", "ChangeConfiguration", {"key": "HeartbeatInterval"}]', "ProtocolError"),
    ('[2, "m3", "ChangeConfiguration", {"key": 5, "value": "1"}]', "TypeConstraintViolation"),
    ('[2, "m4", "Reset", {"type": "Sideways"}]', "PropertyConstraintViolation"),
    ('[2, "m5", "ClearCache", {"extra": 1}]', "FormationViolation"),
    ('[7, "m6", "ClearCache", {}]', "FormationViolation"),
])
async def test_bad_input_gets_the_1_6_callerror(start_ocpp16, csms16, raw, code):
    """OCPP-J 1.6 4.2.3 error codes; the connection stays up."""
    stack = await start_ocpp16()
    await csms16.send_raw(raw)
    reply = await csms16.wait_raw_reply(lambda d: d[0] == 4)
    assert reply[2] == code, reply
    assert (await csms16.call("ClearCache", {}))["status"] == "Accepted"
    assert (await ocpp_props(stack))["Connected"]


async def test_reconnect_without_new_boot_notification(start_ocpp16, csms16):
    """Reconnect (D-Bus) within the same run: the Central System accepted this charge point
    before, so no BootNotification, only fresh StatusNotifications."""
    from evcharge.common.bus import call

    stack = await start_ocpp16()
    n = len(csms16.received("StatusNotification"))
    await call(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP, "Reconnect", "", [])
    await csms16.wait_until(lambda: len(csms16.paths) == 2, what="a second connection")
    await csms16.wait_for("StatusNotification", n + 3)
    assert csms16.actions().count("BootNotification") == 1
    assert (await ocpp_props(stack))["BootStatus"] == "Accepted"


async def test_dbus_properties(start_ocpp16, csms16):
    stack = await start_ocpp16()
    props = await ocpp_props(stack)
    assert props["CsmsUrl"] == f"{csms16.url}/evcharge-001" and props["StationId"] == "evcharge-001"
    assert props["SecurityProfile"] == 0 and props["QueueLength"] == 0 and props["LastError"] == ""
