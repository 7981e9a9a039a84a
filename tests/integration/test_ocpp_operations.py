"""OCPP 2.0.1 operations: Reset (B11/B12), SetNetworkProfile (B09), the local authorization list
(D01-D03), UnlockConnector (F05) and GetLog (N01), on the real stack against the test CSMS.

Tests are named after the OCA Part 6 charging-station cases they follow (Part 6 has no D cases
yet: "intentionally blank"; those tests are named after the use cases). A reset is the ocpp
service ending itself with EXIT_RESTART and the supervisor starting it again, as systemd does.
"""

from __future__ import annotations

import asyncio
import http.server
import threading

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.common.service import EXIT_RESTART

CARD = "04A1B2C3"  # in the auth service's configured list (conftest)
LIST_CARD = "0A0B0C0D"  # only in the list the CSMS sends


def boots(csms) -> list[dict]:
    return csms.received("BootNotification")


async def authorized_session(stack, csms, cid: int = 1) -> str:
    await stack.sim(cid, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    await stack.sim(cid, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["chargingState"] == "Charging")
    return auth["transactionInfo"]["transactionId"]


async def rebooted(csms, supervisor, reason: str) -> dict:
    """The service restarted itself (EXIT_RESTART) and booted again with `reason`."""
    (_first, boot) = await csms.wait_for("BootNotification", 2, timeout=60)
    assert boot["reason"] == reason
    assert EXIT_RESTART in supervisor.exits("ocpp")
    return boot


def statuses_after_last_boot(csms) -> list[dict]:
    ins = [f for f in csms.frames if f.direction == "in" and f.action]
    last = max(i for i, f in enumerate(ins) if f.action == "BootNotification")
    return [f.payload for f in ins[last:] if f.action == "StatusNotification"]


async def wait_status_after_boot(csms, evse_id: int, status: str) -> None:
    await csms.wait_until(lambda: any(p["evseId"] == evse_id and p["connectorStatus"] == status
                                      for p in statuses_after_last_boot(csms)),
                          60, f"StatusNotification {status} for evse {evse_id} after the reset")


# --- Reset -------------------------------------------------------------------------------------
async def test_TC_B_20_CS_reset_on_idle_without_transaction(start_ocpp, csms, supervisor):
    await start_ocpp()
    r = await csms.call("Reset", {"type": "OnIdle"})
    assert r["status"] == "Accepted"
    await rebooted(csms, supervisor, "RemoteReset")
    for evse in (1, 2):
        await wait_status_after_boot(csms, evse, "Available")
    await csms.wait_until(lambda: len([p for p in csms.received("NotifyEvent")
                                       if p["eventData"][0]["actualValue"] == "Available"]) >= 4,
                          60, "NotifyEvent AvailabilityState after the reset")


async def test_TC_B_21_CS_reset_on_idle_with_transaction_is_scheduled(start_ocpp, csms, supervisor):
    stack = await start_ocpp()
    tx_id = await authorized_session(stack, csms)
    r = await csms.call("Reset", {"type": "OnIdle"})
    assert r["status"] == "Scheduled"
    assert len(boots(csms)) == 1 and EXIT_RESTART not in supervisor.exits("ocpp")
    await stack.tap(CARD)  # StopAuthorized
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "StopAuthorized")
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert end["transactionInfo"]["transactionId"] == tx_id
    await rebooted(csms, supervisor, "ScheduledReset")
    await wait_status_after_boot(csms, 1, "Available")


async def test_TC_B_24_CS_reset_on_idle_with_multiple_transactions(start_ocpp, csms, supervisor):
    stack = await start_ocpp()
    await authorized_session(stack, csms, 1)
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "REMOTE9", "type": "Central"},
                                                    "remoteStartId": 9, "evseId": 2})
    assert r["status"] == "Accepted"
    await stack.sim(2, "PlugIn", "d", 220.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "RemoteStart")
    assert (await csms.call("Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert len(boots(csms)) == 1  # one transaction is still running
    await stack.sim(2, "Unplug")
    await csms.wait_for("TransactionEvent", 2, where=lambda p: p["eventType"] == "Ended")
    await rebooted(csms, supervisor, "ScheduledReset")
    for evse in (1, 2):
        await wait_status_after_boot(csms, evse, "Available")


async def test_TC_B_22_CS_reset_immediate_with_transaction(start_ocpp, csms, supervisor):
    stack = await start_ocpp()
    tx_id = await authorized_session(stack, csms)
    r = await csms.call("Reset", {"type": "Immediate"})
    assert r["status"] == "Accepted"
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert end["triggerReason"] == "ResetCommand"
    assert end["transactionInfo"] == {"transactionId": tx_id, "chargingState": "EVConnected",
                                      "stoppedReason": "ImmediateReset"}
    assert "idToken" not in end
    await rebooted(csms, supervisor, "RemoteReset")
    actions = csms.actions()
    assert actions.index("BootNotification", 1) > max(i for i, a in enumerate(actions) if a == "TransactionEvent")
    # The EV is still plugged in: Occupied, power off, and the ended transaction is not reopened.
    await wait_status_after_boot(csms, 1, "Occupied")
    await wait_status_after_boot(csms, 2, "Available")
    conn = await stack.conn(1)
    assert conn["StopReason"] == "ImmediateReset" and conn["State"] == "Finishing"
    await stack.sim(1, "Unplug")
    await csms.wait_until(lambda: any(p["evseId"] == 1 and p["connectorStatus"] == "Available"
                                      for p in statuses_after_last_boot(csms)), 30, "Available after unplug")
    assert len([p for p in csms.received("TransactionEvent") if p["eventType"] == "Started"]) == 1
    assert len([p for p in csms.received("TransactionEvent") if p["eventType"] == "Ended"]) == 1


async def test_TC_B_23_CS_unavailable_persists_reset(start_ocpp, csms, supervisor):
    await start_ocpp()
    r = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
    assert r["status"] == "Accepted"
    await csms.wait_for("StatusNotification", where=lambda p: p["evseId"] == 1 and p["connectorStatus"] == "Unavailable")
    r = await csms.call("Reset", {"type": "OnIdle"})
    assert r["status"] == "Accepted"
    await rebooted(csms, supervisor, "RemoteReset")
    await wait_status_after_boot(csms, 1, "Unavailable")
    await wait_status_after_boot(csms, 2, "Available")


async def test_TC_B_28_CS_and_TC_B_29_CS_reset_evse_not_supported(start_ocpp, csms, supervisor):
    """Resetting one EVSE is not supported: Rejected, with and without a transaction (TC_B_25..27 N/A)."""
    stack = await start_ocpp()
    assert (await csms.call("Reset", {"type": "OnIdle", "evseId": 1}))["status"] == "Rejected"
    await authorized_session(stack, csms)
    assert (await csms.call("Reset", {"type": "OnIdle", "evseId": 1}))["status"] == "Rejected"
    assert (await csms.call("Reset", {"type": "Immediate", "evseId": 1}))["status"] == "Rejected"
    assert (await stack.conn(1))["State"] == "Charging"
    assert EXIT_RESTART not in supervisor.exits("ocpp")


# --- SetNetworkProfile -----------------------------------------------------------------------------
def connection(url: str, profile: int = 1, **extra) -> dict:
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
            "securityProfile": profile, "ocppInterface": "Wired0", **extra}


async def test_TC_B_43_CS_set_network_profile_rejected(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("SetNetworkProfile", {"configurationSlot": 999, "connectionData": connection(csms.url)})
    assert r["status"] == "Rejected"
    for bad in (connection("wss://csms.example/ocpp", 1), connection("ws://csms.example/ocpp", 2),
                connection(csms.url, 1, apn={"apn": "internet", "apnAuthentication": "NONE"}),
                {**connection(csms.url), "ocppTransport": "SOAP"}):
        assert (await csms.call("SetNetworkProfile", {"configurationSlot": 1, "connectionData": bad}))["status"] \
            == "Rejected", bad


async def test_B09_set_network_profile_stored_and_prioritised(start_ocpp, csms, supervisor):
    await start_ocpp()
    prio = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NetworkConfigurationPriority"}}
    r = await csms.call("SetVariables", {"setVariableData": [{**prio, "attributeValue": "1,0"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Rejected"  # slot 1 holds no profile yet
    r = await csms.call("SetNetworkProfile", {"configurationSlot": 1, "connectionData": connection(csms.url)})
    assert r["status"] == "Accepted"
    r = await csms.call("SetVariables", {"setVariableData": [{**prio, "attributeValue": "1,0"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await csms.wait_for("BootNotification", 2, timeout=60)
    r = await csms.call("GetVariables", {"getVariableData": [prio]})
    assert r["getVariableResult"][0]["attributeValue"] == "1,0"


# --- local authorization list ----------------------------------------------------------------------
def entry(token: str, status: str | None = "Accepted") -> dict:
    e: dict = {"idToken": {"idToken": token, "type": "ISO14443"}}
    if status:
        e["idTokenInfo"] = {"status": status}
    return e


async def auth_props(stack) -> dict:
    return await get_all(stack.bus, names.AUTH, names.AUTH_PATH, names.AUTH)


async def test_D01_D02_D03_send_local_list_versions(start_ocpp, csms, supervisor):
    stack = await start_ocpp()
    assert (await csms.call("GetLocalListVersion", {}))["versionNumber"] == 0
    r = await csms.call("SendLocalList", {"versionNumber": 3, "updateType": "Full",
                                          "localAuthorizationList": [entry(LIST_CARD), entry("0E0E0E0E", "Blocked")]})
    assert r["status"] == "Accepted"
    assert (await csms.call("GetLocalListVersion", {}))["versionNumber"] == 3
    r = await csms.call("SendLocalList", {"versionNumber": 3, "updateType": "Differential",
                                          "localAuthorizationList": [entry("0F0F0F0F")]})
    assert r["status"] == "VersionMismatch"
    r = await csms.call("SendLocalList", {"versionNumber": 5, "updateType": "Full",
                                          "localAuthorizationList": [entry(LIST_CARD), entry(LIST_CARD, "Blocked")]})
    assert r["status"] == "Failed"  # listed twice: nothing changes
    r = await csms.call("SendLocalList", {"versionNumber": 4, "updateType": "Differential",
                                          "localAuthorizationList": [entry("0E0E0E0E", None), entry("0F0F0F0F")]})
    assert r["status"] == "Accepted"
    props = await auth_props(stack)
    assert props["LocalListVersion"] == 4 and props["CsmsListSize"] == 2
    r = await csms.call("GetVariables", {"getVariableData": [{"component": {"name": "LocalAuthListCtrlr"},
                                                              "variable": {"name": "Entries"}}]})
    assert r["getVariableResult"][0]["attributeValue"] == "2"
    # Persisted by the auth service: a restart keeps version and tokens.
    starts = supervisor.starts("auth")
    supervisor.kill("auth")
    await supervisor.wait_restarted("auth", starts)
    props = await stack.wait(lambda: auth_props(stack), lambda p: p["LocalListVersion"] == 4, 30,
                             "auth back with its list")
    assert props["CsmsListSize"] == 2
    r = await csms.call("SendLocalList", {"versionNumber": 6, "updateType": "Full"})
    assert r["status"] == "Accepted"
    assert (await auth_props(stack))["CsmsListSize"] == 0


async def test_D01_listed_card_charges_without_the_csms_and_offline(start_ocpp, csms):
    stack = await start_ocpp()
    r = await csms.call("SendLocalList", {"versionNumber": 1, "updateType": "Full",
                                          "localAuthorizationList": [entry(LIST_CARD), entry(CARD, "Blocked")]})
    assert r["status"] == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(LIST_CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    assert auth["idToken"] == {"idToken": LIST_CARD, "type": "ISO14443"}
    assert "Authorize" not in csms.actions()
    # The CSMS list overrides the configured one: CARD is Blocked now.
    await stack.sim(2, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.wait(lambda: asyncio.sleep(0, stack.signals_named("SessionEvent")),
                     lambda sigs: any(s[2][1] == "TokenRejected" and '"Blocked"' in s[2][2] for s in sigs), 30,
                     "CARD rejected as Blocked")
    # Offline: the list still authorizes.
    await stack.sim(1, "Unplug")
    await stack.sim(2, "Unplug")
    await csms.stop()
    await stack.wait(lambda: get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP),
                     lambda p: not p["Connected"], 30, "ocpp offline")
    await stack.wait(lambda: stack.conn(2), lambda c: not c["SessionId"], 30, "connector 2 free")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] and c["State"] == "Preparing", 30,
                     "a new session on connector 1")
    await stack.tap(LIST_CARD)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == LIST_CARD, 30, "offline authorization")


async def test_D01_local_auth_list_disabled_is_not_used(start_ocpp, csms):
    stack = await start_ocpp()
    await csms.call("SendLocalList", {"versionNumber": 1, "updateType": "Full",
                                      "localAuthorizationList": [entry(LIST_CARD, "Blocked")]})
    r = await csms.call("SetVariables", {"setVariableData": [{"component": {"name": "LocalAuthListCtrlr"},
                                                              "variable": {"name": "Enabled"},
                                                              "attributeValue": "false"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    await stack.wait(lambda: auth_props(stack), lambda p: p["LocalListEnabled"] is False, 30, "list disabled")
    # Not in any list now: the CSMS is asked (and accepts).
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(LIST_CARD)
    (req,) = await csms.wait_for("Authorize")
    assert req["idToken"]["idToken"] == LIST_CARD
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == LIST_CARD, 30, "authorized by the CSMS")


# --- UnlockConnector -------------------------------------------------------------------------------
async def test_TC_F_05_CS_unlock_with_ongoing_transaction(start_ocpp, csms):
    stack = await start_ocpp()
    await authorized_session(stack, csms)
    r = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert r["status"] == "OngoingAuthorizedTransaction"
    assert (await stack.board(1))["Locked"] is True


async def test_TC_F_06_CS_unlock_without_transaction(start_ocpp, csms):
    stack = await start_ocpp()
    await authorized_session(stack, csms)
    await csms.call("RequestStopTransaction", {"transactionId": (await stack.conn(1))["SessionId"]})
    await stack.wait(lambda: stack.board(1), lambda b: not b["ContactorClosed"], 30, "contactor open")
    r = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert r["status"] == "Unlocked"
    assert (await stack.board(1))["Locked"] is False


async def test_F05_unlock_failed_while_the_contactor_is_welded(start_ocpp, csms):
    """F05.FR.05: the lock could not be released -> UnlockFailed (a welded contactor keeps live pins locked)."""
    stack = await start_ocpp()
    await authorized_session(stack, csms)
    await stack.sim(1, "SetContactorWelded", "b", True)
    await csms.call("RequestStopTransaction", {"transactionId": (await stack.conn(1))["SessionId"]})
    await stack.wait(lambda: stack.board(1), lambda b: "ContactorWelded" in b["Faults"], 30, "welded contactor fault")
    r = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert r["status"] == "UnlockFailed"
    assert (await stack.board(1))["Locked"] is True


async def test_TC_F_07_CS_unlock_no_cable_and_unknown_connector(start_ocpp, csms):
    stack = await start_ocpp()
    assert (await csms.call("UnlockConnector", {"evseId": 2, "connectorId": 1}))["status"] == "Unlocked"
    assert (await stack.board(2))["Locked"] is False
    assert (await csms.call("UnlockConnector", {"evseId": 9, "connectorId": 1}))["status"] == "UnknownConnector"
    assert (await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 2}))["status"] == "UnknownConnector"


# --- GetLog ----------------------------------------------------------------------------------------
class LogServer:
    """A real HTTP server on 127.0.0.1 (free port) taking PUT uploads; `fail` answers 500."""

    def __init__(self, fail: bool = False, hold_first: bool = False) -> None:
        self.uploads: list[tuple[str, bytes]] = []
        self.attempts = 0
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.attempts += 1
                if server.attempts == 1:
                    server.release.wait(60)
                if fail:
                    self.send_response(500)
                else:
                    server.uploads.append((self.path, body))
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/logs/"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def log_server(request):
    servers: list[LogServer] = []

    def make(**kw) -> LogServer:
        servers.append(LogServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def log_statuses(csms, request_id: int) -> list[str]:
    return [p["status"] for p in csms.received("LogStatusNotification") if p["requestId"] == request_id]


async def test_TC_N_25_CS_get_diagnostics_log_uploaded(start_ocpp, csms, log_server):
    server = log_server()
    await start_ocpp()
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url}, "logType": "DiagnosticsLog",
                                   "requestId": 11})
    assert r["status"] == "Accepted" and r["filename"]
    await csms.wait_until(lambda: "Uploaded" in log_statuses(csms, 11), 60, "Uploaded")
    assert log_statuses(csms, 11) == ["Uploading", "Uploaded"]
    ((path, body),) = server.uploads
    assert path == "/logs/" + r["filename"]
    assert b"DiagnosticsLog" in body and b"BootNotification" in body


async def test_TC_N_26_CS_get_log_upload_failed_with_retries(start_ocpp, csms, log_server):
    server = log_server(fail=True)
    await start_ocpp()
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url}, "logType": "DiagnosticsLog",
                                   "requestId": 12, "retries": 2, "retryInterval": 0})
    assert r["status"] == "Accepted"
    await csms.wait_until(lambda: log_statuses(csms, 12).count("UploadFailure") == 3, 60, "3 x UploadFailure")
    assert server.attempts == 3
    assert log_statuses(csms, 12)[0] == "Uploading"
    r = await csms.call("GetLog", {"log": {"remoteLocation": "sftp://127.0.0.1/x"}, "logType": "DiagnosticsLog",
                                   "requestId": 13})
    assert r["status"] == "Rejected"


async def test_TC_N_35_CS_get_security_log_uploaded(start_ocpp, csms, log_server):
    server = log_server()
    await start_ocpp()
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url + "security.log",
                                           "oldestTimestamp": "2020-01-01T00:00:00Z"},
                                   "logType": "SecurityLog", "requestId": 15})
    assert r["status"] == "Accepted" and r["filename"]
    await csms.wait_until(lambda: "Uploaded" in log_statuses(csms, 15), 60, "Uploaded")
    assert log_statuses(csms, 15) == ["Uploading", "Uploaded"]
    ((path, body),) = server.uploads
    assert path == "/logs/security.log" and body.startswith(b"# evcharge ocpp SecurityLog")


async def test_TC_N_36_CS_get_log_second_request_cancels_the_first(start_ocpp, csms, log_server):
    server = log_server(hold_first=True)
    stack = await start_ocpp()
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url}, "logType": "DiagnosticsLog",
                                   "requestId": 21})
    assert r["status"] == "Accepted"
    # server.attempts changes in the server's thread: poll it (csms.wait_until wakes on frames only).
    await stack.wait(lambda: asyncio.sleep(0, server.attempts), lambda n: n == 1, 60, "first upload in progress")
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url}, "logType": "SecurityLog",
                                   "requestId": 22})
    assert r["status"] == "AcceptedCanceled"
    await csms.wait_until(lambda: "Uploaded" in log_statuses(csms, 22), 60, "second upload")
    server.release.set()
    assert log_statuses(csms, 21) == ["Uploading", "AcceptedCanceled"]
    assert log_statuses(csms, 22) == ["Uploading", "Uploaded"]
    statuses = [(p["requestId"], p["status"]) for p in csms.received("LogStatusNotification")]
    assert statuses.index((21, "AcceptedCanceled")) < statuses.index((22, "Uploading"))
    assert any(b"SecurityLog" in body for _p, body in server.uploads)


# --- B10: connecting with the network profiles -----------------------------------------------------
@pytest.fixture
async def csms2():
    from evcharge.sim.csms import Csms

    server = Csms()
    await server.start()
    yield server
    await server.stop()


async def test_TC_B_45_CS_migrate_to_new_connection_profile(start_ocpp, csms, csms2, supervisor):
    await start_ocpp()
    r = await csms.call("SetNetworkProfile", {"configurationSlot": 1, "connectionData": connection(csms2.url)})
    assert r["status"] == "Accepted"
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NetworkConfigurationPriority"},
        "attributeValue": "1,0"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert (await csms.call("Reset", {"type": "OnIdle"}))["status"] == "Accepted"
    (boot,) = await csms2.wait_for("BootNotification", timeout=60)
    assert boot["reason"] == "RemoteReset"
    assert csms2.paths[-1].endswith("/evcharge-001")
    await csms2.wait_for("StatusNotification", 2, timeout=60)
    r = await csms2.call("GetVariables", {"getVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "ActiveNetworkProfile"}}]})
    assert r["getVariableResult"][0]["attributeValue"] == "1"


async def test_TC_B_46_CS_fallback_after_connection_attempts(start_ocpp, csms, supervisor):
    await start_ocpp()
    dead = refused_url()
    r = await csms.call("SetNetworkProfile", {"configurationSlot": 1, "connectionData": connection(dead)})
    assert r["status"] == "Accepted"
    r = await csms.call("SetVariables", {"setVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NetworkConfigurationPriority"},
         "attributeValue": "1,0"},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NetworkProfileConnectionAttempts"},
         "attributeValue": "2"}]})
    assert [x["attributeStatus"] for x in r["setVariableResult"]] == ["Accepted", "Accepted"]
    assert (await csms.call("Reset", {"type": "OnIdle"}))["status"] == "Accepted"
    # Slot 1 refuses the connection twice; then the station falls back to slot 0 (this CSMS).
    await rebooted(csms, supervisor, "RemoteReset")
    log = (supervisor.log_path("ocpp")).read_text()
    assert "falling back to slot 0" in log


def refused_url() -> str:
    import socket

    with socket.socket() as s:  # a free port, closed again: connections are refused
        s.bind(("127.0.0.1", 0))
        return f"ws://127.0.0.1:{s.getsockname()[1]}/ocpp"
