"""OCPP 1.6J Smart Charging (SetChargingProfile / ClearChargingProfile -> energy limits) and the
security extension (basic auth = security profile 1, SecurityEventNotification)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evcharge.common import names
from evcharge.common.bus import get_all

CARD = "04A1B2C3"
PASSWORD = "0123456789abcdef0123"


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


def profile(pid: int, purpose: str, limit: float, unit: str = "A", **extra) -> dict:
    start = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    return {"chargingProfileId": pid, "stackLevel": 0, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", **extra,
            "chargingSchedule": {"chargingRateUnit": unit, "startSchedule": start,
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}


async def test_set_and_clear_charging_profiles_limit_energy(start_ocpp16, csms16):
    """TxDefaultProfile (connector 1), ChargePointMaxProfile (connector 0) and a TxProfile for the
    running transaction become energy external limits; W schedules and a TxProfile without a
    transaction are Rejected; ClearChargingProfile removes them (Unknown when none matches)."""
    stack = await start_ocpp16()

    async def limits():
        return sorted(map(tuple, (await get_all(stack.bus, names.ENERGY, names.ENERGY_PATH,
                                                names.ENERGY))["ExternalLimits"]))

    async def set_profile(connector_id, prof):
        return (await csms16.call("SetChargingProfile", {"connectorId": connector_id,
                                                         "csChargingProfiles": prof}))["status"]

    assert await set_profile(1, profile(1, "TxDefaultProfile", 16.5)) == "Accepted"
    assert await set_profile(0, profile(2, "ChargePointMaxProfile", 20)) == "Accepted"
    await stack.wait(limits, lambda v: v == [(0, "ocpp", 20.0), (1, "ocpp", 16.5)])
    assert await set_profile(2, profile(3, "TxDefaultProfile", 10000, "W")) == "Rejected"
    assert await set_profile(1, profile(4, "TxProfile", 8)) == "Rejected"  # no transaction yet
    assert await set_profile(5, profile(5, "TxDefaultProfile", 8)) == "Rejected"  # no such connector

    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    tid = await csms16.transaction_id()
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)  # the station has the id
    assert await set_profile(1, profile(6, "TxProfile", 8, transactionId=tid)) == "Accepted"
    await stack.wait(limits, lambda v: (1, "ocpp", 8.0) in v)
    await stack.wait(lambda: stack.conn(1), lambda c: 0 < c["AllocatedCurrentA"] <= 8.0, what_name="<= 8 A")

    r = await csms16.call("GetCompositeSchedule", {"connectorId": 1, "duration": 600})
    assert r["status"] == "Accepted" and r["connectorId"] == 1
    assert r["chargingSchedule"]["chargingRateUnit"] == "A" and r["chargingSchedule"]["duration"] == 600
    assert r["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 8.0}]
    r = await csms16.call("GetCompositeSchedule", {"connectorId": 0, "duration": 600})
    assert r["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 20.0}]
    r = await csms16.call("GetCompositeSchedule", {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"})
    assert r["status"] == "Rejected"
    r = await csms16.call("ClearChargingProfile", {"chargingProfilePurpose": "TxProfile"})
    assert r["status"] == "Accepted"
    await stack.wait(limits, lambda v: (1, "ocpp", 16.5) in v)
    assert (await csms16.call("ClearChargingProfile", {"id": 1}))["status"] == "Accepted"
    assert (await csms16.call("ClearChargingProfile", {"id": 1}))["status"] == "Unknown"
    await stack.wait(limits, lambda v: v == [(0, "ocpp", 20.0)])


async def test_remote_start_with_tx_profile_limits_the_transaction(start_ocpp16, csms16):
    """RemoteStartTransaction with a chargingProfile (TxProfile): it applies to the transaction
    the remote start begins; another purpose is Rejected (errata 3.41)."""
    stack = await start_ocpp16()
    bad = {"idTag": "REMOTE9", "connectorId": 1, "chargingProfile": profile(8, "TxDefaultProfile", 7)}
    assert (await csms16.call("RemoteStartTransaction", bad))["status"] == "Rejected"
    prof = profile(9, "TxProfile", 7)
    prof["chargingProfileKind"] = "Relative"
    del prof["chargingSchedule"]["startSchedule"]
    r = await csms16.call("RemoteStartTransaction", {"idTag": "REMOTE9", "connectorId": 1, "chargingProfile": prof})
    assert r["status"] == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms16.wait_for("StartTransaction")
    await stack.wait(lambda: get_all(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY),
                     lambda p: [tuple(x) for x in p["ExternalLimits"]] == [(1, "ocpp", 7.0)], timeout=10)
    await stack.wait(lambda: stack.conn(1), lambda c: 0 < c["AllocatedCurrentA"] <= 7.0, what_name="<= 7 A")
    await stack.sim(1, "Unplug")
    await csms16.wait_for("StopTransaction")
    await stack.wait(lambda: get_all(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY),
                     lambda p: p["ExternalLimits"] == [], timeout=10, what_name="TxProfile gone with its transaction")


async def test_basic_auth_security_profile_1(start_ocpp16, csms16, tmp_path):
    """Profile 1: HTTP basic auth with user = charge point id; a wrong password is refused by the
    Central System (HTTP 401) and reported as FailedToAuthenticateAtCentralSystem once connected."""
    pw = tmp_path / "ocpp-password"
    pw.write_text("wrong-password-0000\n")
    csms16.behaviour.password = PASSWORD
    stack = await start_ocpp16(wait_boot=False, security_profile=1, basic_auth_password_file=str(pw))
    await stack.wait(lambda: ocpp_props(stack), lambda p: "401" in p["LastError"], timeout=10)
    assert not csms16.received("BootNotification")
    csms16.behaviour.password = "wrong-password-0000"   # the operator fixes the Central System side
    await csms16.wait_for("StatusNotification", 3, timeout=20)
    assert csms16.auth_headers[-1].startswith("Basic ")
    (ev,) = await csms16.wait_for("SecurityEventNotification",
                                  where=lambda p: p["type"] == "FailedToAuthenticateAtCentralSystem")
    assert "401" in ev["techInfo"]
    await csms16.wait_for("SecurityEventNotification", where=lambda p: p["type"] == "StartupOfTheDevice")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    assert len(csms16.received("SecurityEventNotification")) == 2, "one event for the failed attempts"


async def test_A01_change_authorization_key_reconnects_with_the_new_password(start_ocpp16, csms16, tmp_path,
                                                                             supervisor):
    """Security whitepaper A01: ChangeConfiguration(AuthorizationKey) -> Accepted, reconnect with the
    new password (no new BootNotification), a security event, the key never read back; it is
    kept across a restart. Too short a key is Rejected."""
    import base64

    pw = tmp_path / "ocpp-password"
    pw.write_text(PASSWORD + "\n")
    csms16.behaviour.password = PASSWORD
    stack = await start_ocpp16(security_profile=1, basic_auth_password_file=str(pw))
    new_key = "fedcba9876543210fedcba98"

    async def change(value):
        return (await csms16.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": value}))["status"]

    assert await change("short") == "Rejected"
    r = await csms16.call("GetConfiguration", {"key": ["AuthorizationKey"]})
    assert r["configurationKey"] == [{"key": "AuthorizationKey", "readonly": False}], "write-only: no value"
    csms16.behaviour.password = new_key   # A01.FR.03: the Central System accepts only the new one from now on
    assert await change(new_key) == "Accepted"
    await csms16.wait_until(lambda: len(csms16.paths) >= 2, timeout=15, what="a reconnect")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["Connected"] and p["BootStatus"] == "Accepted")
    expected = "Basic " + base64.b64encode(f"evcharge-001:{new_key}".encode()).decode()
    assert csms16.auth_headers[-1] == expected
    assert csms16.actions().count("BootNotification") == 1
    await csms16.wait_for("SecurityEventNotification", where=lambda p: p["type"] == "ReconfigurationOfSecurityParameters")
    r = await csms16.call("GetConfiguration", {})
    assert new_key not in str(r)

    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await csms16.wait_for("BootNotification", 2, timeout=15)
    assert csms16.auth_headers[-1] == expected
