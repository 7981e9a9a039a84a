"""OCPP 2.0.1 provisioning (Part 6 block B): boot, heartbeat, device model, reports, reconnect."""

from __future__ import annotations

import asyncio
import time

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all
from ocpp.exceptions import OCPPError


def cv(component: str, variable: str, instance: str | None = None, **extra) -> dict:
    var = {"name": variable} | ({"instance": instance} if instance else {})
    return {"component": {"name": component}, "variable": var, **extra}


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


async def test_TC_B_01_CS_cold_boot_accepted(start_ocpp, csms):
    stack = await start_ocpp()
    (boot,) = csms.received("BootNotification")
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"]["vendorName"] and boot["chargingStation"]["model"]
    assert csms.paths == ["/ocpp/evcharge-001"]
    assert csms.connections["evcharge-001"].subprotocol == "ocpp2.0.1"
    status = {(p["evseId"], p["connectorId"]): p["connectorStatus"] for p in csms.received("StatusNotification")}
    assert status == {(1, 1): "Available", (2, 1): "Available"}
    # The queue empties once the StartupOfTheDevice security event is delivered.
    props = await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    assert props["Connected"] is True and props["BootStatus"] == "Accepted"
    assert props["CsmsUrl"] == csms.url + "/evcharge-001"


async def test_TC_B_01_CS_heartbeat_at_boot_interval(start_ocpp, csms):
    """B01.FR.?/B05: the interval from BootNotificationResponse drives the Heartbeat."""
    csms.behaviour.boot_interval = 1
    stack = await start_ocpp()
    await csms.wait_for("Heartbeat", 2, timeout=5)
    r = await csms.call("GetVariables", {"getVariableData": [cv("OCPPCommCtrlr", "HeartbeatInterval")]})
    assert r["getVariableResult"][0]["attributeValue"] == "1"
    assert (await ocpp_props(stack))["HeartbeatIntervalS"] == 1


async def test_TC_B_02_CS_cold_boot_pending(start_ocpp, csms):
    csms.behaviour.boot_status = ["Pending", "Accepted"]
    csms.behaviour.boot_interval = 1
    stack = await start_ocpp(wait_boot=False)
    await csms.wait_for("BootNotification")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["BootStatus"] == "Pending")
    r = await csms.call("SetVariables", {"setVariableData": [cv("OCPPCommCtrlr", "OfflineThreshold",
                                                                attributeValue="123")]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    r = await csms.call("GetVariables", {"getVariableData": [cv("OCPPCommCtrlr", "OfflineThreshold")]})
    assert r["getVariableResult"][0]["attributeValue"] == "123"
    assert (await ocpp_props(stack))["BootStatus"] == "Pending"
    assert csms.actions() == ["BootNotification"], "only BootNotification while Pending"
    await csms.wait_for("BootNotification", 2, timeout=5)
    await csms.wait_for("StatusNotification", 2)
    actions = csms.actions()
    assert actions.index("StatusNotification") > [i for i, a in enumerate(actions) if a == "BootNotification"][1]


async def test_TC_B_03_CS_cold_boot_rejected(start_ocpp, csms):
    """TC_B_03, and TC_B_30: a CSMS request while Rejected gets CALLERROR SecurityError."""
    csms.behaviour.boot_status = ["Rejected", "Accepted"]
    csms.behaviour.boot_interval = 2
    stack = await start_ocpp(wait_boot=False)
    await csms.wait_for("BootNotification")
    t0 = time.monotonic()
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["BootStatus"] == "Rejected")
    with pytest.raises(OCPPError) as e:
        await csms.call("GetVariables", {"getVariableData": [cv("OCPPCommCtrlr", "OfflineThreshold")]})
    assert e.value.code == "SecurityError"
    await csms.wait_for("BootNotification", 2, timeout=6)
    assert time.monotonic() - t0 >= 1.5, "the second BootNotification waits for the interval"
    await csms.wait_for("StatusNotification", 2)
    assert csms.actions()[:2] == ["BootNotification", "BootNotification"]


async def test_TC_B_06_CS_get_variables(start_ocpp, csms):
    """TC_B_06 (single), TC_B_07 (multiple), TC_B_32 (unknown component), TC_B_33 (unknown variable),
    TC_B_34 (not supported attribute type)."""
    await start_ocpp()
    r = await csms.call("GetVariables", {"getVariableData": [
        cv("OCPPCommCtrlr", "OfflineThreshold", attributeType="Actual"),
        cv("AuthCtrlr", "LocalAuthorizeOffline"),
        cv("NoSuchCtrlr", "OfflineThreshold"),
        cv("OCPPCommCtrlr", "NoSuchVariable"),
        cv("OCPPCommCtrlr", "OfflineThreshold", attributeType="Target"),
    ]})
    res = r["getVariableResult"]
    assert res[0]["attributeStatus"] == "Accepted" and res[0]["attributeValue"] == "300"
    assert res[0]["component"]["name"] == "OCPPCommCtrlr" and res[0]["attributeType"] == "Actual"
    assert res[1]["attributeStatus"] == "Accepted" and res[1]["attributeValue"] == "true"
    assert [x["attributeStatus"] for x in res[2:]] == ["UnknownComponent", "UnknownVariable",
                                                       "NotSupportedAttributeType"]


async def test_TC_B_08_CS_get_variables_limit(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("GetVariables", {"getVariableData": [cv("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables")]})
    limit = int(r["getVariableResult"][0]["attributeValue"])
    r = await csms.call("GetVariables", {"getVariableData": [cv("OCPPCommCtrlr", "OfflineThreshold")] * (limit + 1)})
    res = r["getVariableResult"]
    assert [x["attributeStatus"] for x in res] == ["Accepted"] * limit + ["Rejected"]
    assert res[-1]["attributeStatusInfo"]["reasonCode"] == "TooManyElements"


async def test_TC_B_09_CS_set_variables(start_ocpp, csms, supervisor):
    """TC_B_09 (single), TC_B_10 (multiple), TC_B_35/36/37 (unknown component/variable, attribute type),
    TC_B_39 (read-only); the value persists across a restart of the service."""
    stack = await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [
        cv("OCPPCommCtrlr", "OfflineThreshold", attributeValue="120"),
        cv("AuthCtrlr", "LocalAuthorizeOffline", attributeValue="false"),
        cv("NoSuchCtrlr", "X", attributeValue="1"),
        cv("OCPPCommCtrlr", "NoSuchVariable", attributeValue="1"),
        cv("OCPPCommCtrlr", "OfflineThreshold", attributeType="MaxSet", attributeValue="1"),
        cv("OCPPCommCtrlr", "MessageTimeout", "Default", attributeValue="10"),
    ]})
    assert [x["attributeStatus"] for x in r["setVariableResult"]] == [
        "Accepted", "Accepted", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType", "Rejected"]
    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await csms.wait_for("BootNotification", 2)
    r = await csms.call("GetVariables", {"getVariableData": [cv("OCPPCommCtrlr", "OfflineThreshold"),
                                                             cv("AuthCtrlr", "LocalAuthorizeOffline")]})
    assert [x["attributeValue"] for x in r["getVariableResult"]] == ["120", "false"]
    assert stack  # the rest of the stack kept running


async def test_TC_B_11_CS_set_variables_invalid_values(start_ocpp, csms):
    """Steps 1-4 for both integer variables (OfflineThreshold, LimitChangeSignificance); steps 5-6 do
    not apply (AuthorizeRemoteStart is ReadOnly), nor 7-8 (no ClockCtrlr.NextTimeOffsetTransitionDateTime)."""
    await start_ocpp()
    for component, variable in (("OCPPCommCtrlr", "OfflineThreshold"), ("SmartChargingCtrlr", "LimitChangeSignificance")):
        for value in ("1.1", "true", "2026-01-01T00:00:00Z", "abc", "-5"):
            r = await csms.call("SetVariables", {"setVariableData": [cv(component, variable, attributeValue=value)]})
            res = r["setVariableResult"][0]
            assert res["attributeStatus"] == "Rejected", (variable, value)
            assert res["attributeStatusInfo"]["reasonCode"] == "InvalidValue"
            assert res["attributeType"] == "Actual" and res["variable"]["name"] == variable
        r = await csms.call("SetVariables", {"setVariableData": [cv(component, variable, attributeValue="1")]})
        assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
        r = await csms.call("GetVariables", {"getVariableData": [cv(component, variable)]})
        assert r["getVariableResult"][0]["attributeValue"] == "1"
    r = await csms.call("GetVariables", {"getVariableData": [cv("ClockCtrlr", "NextTimeOffsetTransitionDateTime")]})
    assert r["getVariableResult"][0]["attributeStatus"] == "UnknownVariable"


async def test_TC_B_12_CS_get_base_report(start_ocpp, csms):
    """TC_B_12 (ConfigurationInventory), TC_B_13 (FullInventory, paged), TC_B_15 (SummaryInventory NotSupported)."""
    await start_ocpp()
    r = await csms.call("GetBaseReport", {"requestId": 11, "reportBase": "ConfigurationInventory"})
    assert r["status"] == "Accepted"
    await csms.wait_for("NotifyReport", where=lambda p: p["requestId"] == 11 and not p.get("tbc"))
    conf = [d for p in csms.received("NotifyReport") if p["requestId"] == 11 for d in p["reportData"]]
    assert conf and all(d["variableAttribute"][0]["mutability"] != "ReadOnly" for d in conf)

    r = await csms.call("GetBaseReport", {"requestId": 12, "reportBase": "FullInventory"})
    assert r["status"] == "Accepted"
    await csms.wait_for("NotifyReport", where=lambda p: p["requestId"] == 12 and not p.get("tbc"))
    parts = [p for p in csms.received("NotifyReport") if p["requestId"] == 12]
    assert [p["seqNo"] for p in parts] == list(range(len(parts))) and len(parts) > 1
    assert all(p["tbc"] for p in parts[:-1])
    full = {(d["component"]["name"], d["variable"]["name"]) for p in parts for d in p["reportData"]}
    for required in [("OCPPCommCtrlr", "HeartbeatInterval"), ("OCPPCommCtrlr", "OfflineThreshold"),
                     ("AuthCtrlr", "AuthorizeRemoteStart"), ("TxCtrlr", "TxStartPoint"),
                     ("TxCtrlr", "EVConnectionTimeOut"), ("SampledDataCtrlr", "TxUpdatedMeasurands"),
                     ("DeviceDataCtrlr", "ItemsPerMessage"), ("SecurityCtrlr", "SecurityProfile")]:
        assert required in full

    n = len(csms.received("NotifyReport"))
    r = await csms.call("GetBaseReport", {"requestId": 13, "reportBase": "SummaryInventory"})
    assert r["status"] == "NotSupported"
    await asyncio.sleep(0.3)
    assert len(csms.received("NotifyReport")) == n


async def test_TC_B_57_CS_reconnect_with_backoff_and_no_new_boot(start_ocpp, csms):
    """The CSMS drops the connection: the station waits RetryBackOffWaitMinimum (doubling while it fails)
    and reconnects without a new BootNotification (same content, same run)."""
    stack = await start_ocpp(retry={"backoff_wait_minimum_s": 0.5, "backoff_random_range_s": 0.0})
    await csms.stop()
    t0 = time.monotonic()
    await csms.start()
    await csms.wait_connected()
    first = time.monotonic() - t0
    assert first >= 0.45, first
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["Connected"] and p["BootStatus"] == "Accepted")
    # Fail once: the next attempt waits twice as long.
    await csms.stop()
    t0 = time.monotonic()
    await asyncio.sleep(0.7)   # the attempt after 0.5 s is refused
    await csms.start()
    await csms.wait_connected()
    second = time.monotonic() - t0
    assert second >= 1.4, second   # 0.5 + 1.0
    assert len(csms.received("BootNotification")) == 1
    await asyncio.sleep(0.2)
    assert len(csms.paths) == 3


async def test_basic_auth_security_profile_1(start_ocpp, csms, tmp_path):
    password = "correct-horse-battery"
    (tmp_path / "pw").write_text(password + "\n")
    csms.behaviour.password = password
    stack = await start_ocpp(security_profile=1, basic_auth_password_file=str(tmp_path / "pw"))
    assert csms.auth_headers[-1].startswith("Basic ")
    assert (await ocpp_props(stack))["SecurityProfile"] == 1


async def test_reconnect_method_reconnects_without_new_boot(start_ocpp, csms):
    """org.evcharge.Ocpp1.Reconnect: a new connection at once, no BootNotification (same run)."""
    from evcharge.common.bus import call

    stack = await start_ocpp(retry={"backoff_wait_minimum_s": 30.0, "backoff_random_range_s": 0.0})
    await call(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP, "Reconnect")
    await csms.wait_until(lambda: len(csms.paths) == 2, timeout=5, what="a second connection")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["Connected"] and p["BootStatus"] == "Accepted")
    assert len(csms.received("BootNotification")) == 1
