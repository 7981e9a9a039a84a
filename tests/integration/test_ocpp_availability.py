"""OCPP 2.0.1 availability on the real stack against the test CSMS: connector status notifications
(G01, B04 offline threshold) and ChangeAvailability for the station, an EVSE and a connector (G03,
G04), with a transaction running and across a restart of the ocpp and evse services.

Tests are named after the OCA Part 6 charging-station cases they follow. The sim station has two
EVSEs with one connector each.
"""

from __future__ import annotations

from evcharge.common import names
from evcharge.common.bus import get_all

from .test_ocpp_operations import authorized_session, statuses_after_last_boot

WAIT = 60  # generous: the final CI runs everything on 2 loaded cores


def statuses(csms, since: int = 0) -> list[dict]:
    return csms.received("StatusNotification")[since:]


def events(csms, since: int = 0) -> list[dict]:
    """AvailabilityState NotifyEvent data, in order."""
    return [p["eventData"][0] for p in csms.received("NotifyEvent")
            if p["eventData"][0]["variable"]["name"] == "AvailabilityState"][since:]


def marks(csms) -> tuple[int, int]:
    return len(statuses(csms)), len(events(csms))


async def reported(csms, evse_id: int, status: str, mark: tuple[int, int] = (0, 0)) -> None:
    """StatusNotification and NotifyEvent (Delta, Connector.AvailabilityState) for the connector, after `mark`."""
    await csms.wait_until(lambda: any((p["evseId"], p["connectorId"], p["connectorStatus"]) == (evse_id, 1, status)
                                      for p in statuses(csms, mark[0])), WAIT, f"evse {evse_id} {status}")
    await csms.wait_until(lambda: any(e["trigger"] == "Delta" and e["actualValue"] == status
                                      and e["component"] == {"name": "Connector",
                                                             "evse": {"id": evse_id, "connectorId": 1}}
                                      for e in events(csms, mark[1])), WAIT, f"NotifyEvent evse {evse_id} {status}")


async def booted(start_ocpp, csms):
    stack = await start_ocpp()
    for evse in (1, 2):
        await reported(csms, evse, "Available")
    return stack


async def change(csms, status: str, evse: dict | None = None) -> str:
    payload: dict = {"operationalStatus": status}
    if evse is not None:
        payload["evse"] = evse
    return (await csms.call("ChangeAvailability", payload))["status"]


def last_status(csms, evse_id: int) -> str:
    return [p["connectorStatus"] for p in statuses(csms) if p["evseId"] == evse_id][-1]


# --- G01 ---------------------------------------------------------------------------------------
async def test_TC_G_01_CS_and_TC_G_02_CS_connector_status_occupied_and_available(start_ocpp, csms):
    """TC_G_01: plugging in reports Occupied; TC_G_02: unplugging (no session started) Available."""
    stack = await booted(start_ocpp, csms)
    m = marks(csms)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await reported(csms, 1, "Occupied", m)
    m = marks(csms)
    await stack.sim(1, "Unplug")
    await reported(csms, 1, "Available", m)
    assert all(p["evseId"] == 1 for p in statuses(csms, m[0]))


# --- B04 offline threshold ------------------------------------------------------------------------
async def offline_plug_reconnect(stack, csms, threshold_s: int) -> tuple[int, int]:
    assert (await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"},
        "attributeValue": str(threshold_s)}]}))["setVariableResult"][0]["attributeStatus"] == "Accepted"
    await csms.stop()  # closes the connection and refuses reconnects
    await stack.wait(lambda: get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP),
                     lambda p: not p["Connected"], WAIT, "ocpp offline")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] != "Available", WAIT, "EV connected")
    m = marks(csms)
    await csms.start()
    return m


async def test_TC_B_51_CS_offline_longer_than_threshold_reports_all(start_ocpp, csms):
    stack = await booted(start_ocpp, csms)
    m = await offline_plug_reconnect(stack, csms, 0)  # any time offline is longer than 0 s
    await reported(csms, 1, "Occupied", m)
    await reported(csms, 2, "Available", m)
    assert len(csms.received("BootNotification")) == 1


async def test_TC_B_52_CS_offline_shorter_than_threshold_reports_changes(start_ocpp, csms):
    stack = await booted(start_ocpp, csms)
    m = await offline_plug_reconnect(stack, csms, 3600)
    await reported(csms, 1, "Occupied", m)
    # Something sent after the Occupied report proves the reconnect's reports are all in.
    beats = len(csms.received("Heartbeat"))
    await csms.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
    await csms.wait_for("Heartbeat", beats + 1, timeout=WAIT)
    assert [p["evseId"] for p in statuses(csms, m[0])] == [1], "only the connector that changed"


# --- G03 / G04 ChangeAvailability ---------------------------------------------------------------
async def test_TC_G_05_CS_and_TC_G_06_CS_station_inoperative_and_operative(start_ocpp, csms):
    stack = await booted(start_ocpp, csms)
    m = marks(csms)
    assert await change(csms, "Inoperative") == "Accepted"
    for evse in (1, 2):
        await reported(csms, evse, "Unavailable", m)
    for cid in (1, 2):
        assert (await stack.conn(cid))["Available"] is False
    m = marks(csms)
    assert await change(csms, "Operative") == "Accepted"
    for evse in (1, 2):
        await reported(csms, evse, "Available", m)


async def test_TC_G_12_CS_station_operative_to_operative(start_ocpp, csms):
    await booted(start_ocpp, csms)
    m = marks(csms)
    assert await change(csms, "Operative") == "Accepted"
    for evse in (1, 2):
        await reported(csms, evse, "Available", m)


async def test_TC_G_13_CS_station_inoperative_to_inoperative(start_ocpp, csms):
    await booted(start_ocpp, csms)
    assert await change(csms, "Inoperative") == "Accepted"
    for evse in (1, 2):
        await reported(csms, evse, "Unavailable")
    m = marks(csms)
    assert await change(csms, "Inoperative") == "Accepted"
    for evse in (1, 2):
        await reported(csms, evse, "Unavailable", m)


async def test_TC_G_09_CS_and_TC_G_10_CS_evse_operative_and_inoperative_again(start_ocpp, csms):
    """TC_G_09: Operative while Operative is Accepted; TC_G_10: Inoperative while Inoperative too,
    with every connector's state reported."""
    await booted(start_ocpp, csms)
    assert await change(csms, "Operative", {"id": 1}) == "Accepted"
    assert await change(csms, "Inoperative", {"id": 1}) == "Accepted"
    await reported(csms, 1, "Unavailable")
    m = marks(csms)
    assert await change(csms, "Inoperative", {"id": 1}) == "Accepted"
    await reported(csms, 1, "Unavailable", m)
    await reported(csms, 2, "Available", m)


async def test_TC_G_07_CS_and_TC_G_08_CS_connector_inoperative_and_operative(start_ocpp, csms):
    stack = await booted(start_ocpp, csms)
    m = marks(csms)
    assert await change(csms, "Inoperative", {"id": 2, "connectorId": 1}) == "Accepted"
    await reported(csms, 2, "Unavailable", m)
    assert last_status(csms, 1) == "Available"
    assert (await stack.conn(2))["Available"] is False
    m = marks(csms)
    assert await change(csms, "Operative", {"id": 2, "connectorId": 1}) == "Accepted"
    await reported(csms, 2, "Available", m)


async def test_TC_G_15_CS_and_TC_G_16_CS_connector_same_state_again(start_ocpp, csms):
    await booted(start_ocpp, csms)
    assert await change(csms, "Operative", {"id": 1, "connectorId": 1}) == "Accepted"  # TC_G_15
    assert await change(csms, "Inoperative", {"id": 1, "connectorId": 1}) == "Accepted"
    await reported(csms, 1, "Unavailable")
    m = marks(csms)
    assert await change(csms, "Inoperative", {"id": 1, "connectorId": 1}) == "Accepted"  # TC_G_16
    await reported(csms, 1, "Unavailable", m)


async def still_running(stack, csms) -> None:
    """The transaction on EVSE 1 goes on after the Scheduled answer."""
    conn = await stack.conn(1)
    assert conn["SessionId"] and conn["State"] == "Charging", conn
    assert not [p for p in csms.received("TransactionEvent") if p["eventType"] == "Ended"]
    assert last_status(csms, 1) == "Occupied"


def charged_on(csms, since: int) -> None:
    """No TransactionEvent since `since` says the EVSE suspended the energy transfer."""
    suspended = [p for p in csms.received("TransactionEvent")[since:]
                 if p["transactionInfo"].get("chargingState") == "SuspendedEVSE"]
    assert not suspended, suspended


async def stop_and_unplug(stack, csms, cid: int, tx_mark: int) -> tuple[int, int]:
    """StopAuthorized (remote), then EVDisconnected; the mark before the unplug. Until the stop the
    transaction charged on (no SuspendedEVSE in the TransactionEvents since `tx_mark`)."""
    sid = (await stack.conn(cid))["SessionId"]
    charged_on(csms, tx_mark)
    assert (await csms.call("RequestStopTransaction", {"transactionId": sid}))["status"] == "Accepted"
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "RemoteStop", timeout=WAIT)
    m = marks(csms)
    await stack.sim(cid, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=WAIT)
    return m


async def test_TC_G_11_CS_evse_inoperative_with_transaction(start_ocpp, csms):
    stack = await booted(start_ocpp, csms)
    await authorized_session(stack, csms, 1)
    tx_mark = len(csms.received("TransactionEvent"))
    m0 = marks(csms)
    assert await change(csms, "Inoperative", {"id": 1}) == "Scheduled"
    await still_running(stack, csms)
    m = await stop_and_unplug(stack, csms, 1, tx_mark)
    await reported(csms, 1, "Unavailable", m)
    assert "Unavailable" not in [p["connectorStatus"] for p in statuses(csms, m0[0])[:m[0] - m0[0]]
                                 if p["evseId"] == 1]


async def test_TC_G_14_CS_station_inoperative_with_transaction(start_ocpp, csms):
    stack = await booted(start_ocpp, csms)
    await authorized_session(stack, csms, 1)
    tx_mark = len(csms.received("TransactionEvent"))
    m0 = marks(csms)
    assert await change(csms, "Inoperative") == "Scheduled"
    await reported(csms, 2, "Unavailable", m0)  # the EVSE without a transaction at once
    await still_running(stack, csms)
    m = await stop_and_unplug(stack, csms, 1, tx_mark)
    await reported(csms, 1, "Unavailable", m)


async def test_TC_G_17_CS_connector_inoperative_with_transaction(start_ocpp, csms):
    stack = await booted(start_ocpp, csms)
    await authorized_session(stack, csms, 1)
    tx_mark = len(csms.received("TransactionEvent"))
    assert await change(csms, "Inoperative", {"id": 1, "connectorId": 1}) == "Scheduled"
    await still_running(stack, csms)
    m = await stop_and_unplug(stack, csms, 1, tx_mark)
    await reported(csms, 1, "Unavailable", m)


async def restart_services(supervisor, csms) -> None:
    """A reboot: the evse and ocpp services are killed and started again (systemd Restart=)."""
    boots = len(csms.received("BootNotification"))
    for name in ("evse", "ocpp"):
        starts = supervisor.starts(name)
        supervisor.kill(name)
        await supervisor.wait_restarted(name, starts, WAIT)
    await csms.wait_for("BootNotification", boots + 1, timeout=WAIT)


async def wait_after_boot(csms, evse_id: int, status: str) -> None:
    await csms.wait_until(lambda: any(p["evseId"] == evse_id and p["connectorStatus"] == status
                                      for p in statuses_after_last_boot(csms)), WAIT,
                          f"evse {evse_id} {status} after the reboot")


async def test_TC_G_18_CS_evse_unavailable_persists_reboot(start_ocpp, csms, supervisor):
    await booted(start_ocpp, csms)
    m = marks(csms)
    assert await change(csms, "Inoperative", {"id": 1}) == "Accepted"
    await reported(csms, 1, "Unavailable", m)
    await reported(csms, 2, "Available", m)
    await restart_services(supervisor, csms)
    await wait_after_boot(csms, 1, "Unavailable")
    await wait_after_boot(csms, 2, "Available")


async def test_TC_G_19_CS_connector_unavailable_persists_reboot(start_ocpp, csms, supervisor):
    await booted(start_ocpp, csms)
    assert await change(csms, "Inoperative", {"id": 2, "connectorId": 1}) == "Accepted"
    await reported(csms, 2, "Unavailable")
    await restart_services(supervisor, csms)
    await wait_after_boot(csms, 2, "Unavailable")
    await wait_after_boot(csms, 1, "Available")


async def test_TC_G_21_CS_station_unavailable_persists_reboot(start_ocpp, csms, supervisor):
    await booted(start_ocpp, csms)
    assert await change(csms, "Inoperative") == "Accepted"
    for evse in (1, 2):
        await reported(csms, evse, "Unavailable")
    await restart_services(supervisor, csms)
    for evse in (1, 2):
        await wait_after_boot(csms, evse, "Unavailable")
