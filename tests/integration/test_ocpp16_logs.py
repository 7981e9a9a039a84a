"""OCPP 1.6J diagnostics against csms16: the core GetDiagnostics -> DiagnosticsStatusNotification
and the security extension's GetLog (DiagnosticsLog / SecurityLog) -> LogStatusNotification,
uploaded by HTTP PUT to a real server on a free port (the one the 2.0.1 GetLog tests use)."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.exceptions import OCPPError

from .test_ocpp_operations import log_server  # noqa: F401 - the fixture

DIAG = "DiagnosticsStatusNotification"


def diag(csms16) -> list[str]:
    return [p["status"] for p in csms16.received(DIAG)]


def log_statuses(csms16, request_id: int) -> list[str]:
    return [p["status"] for p in csms16.received("LogStatusNotification") if p.get("requestId") == request_id]


async def test_get_diagnostics_uploaded_into_the_location_directory(start_ocpp16, csms16, log_server):  # noqa: F811
    server = log_server()
    await start_ocpp16()
    r = await csms16.call("GetDiagnostics", {"location": server.url.rstrip("/"),
                                             "startTime": "2020-01-01T00:00:00Z"})
    name = r["fileName"]
    assert name.endswith(".log")
    await csms16.wait_for(DIAG, timeout=60, where=lambda p: p["status"] == "Uploaded")
    assert diag(csms16) == ["Uploading", "Uploaded"]
    assert csms16.received(DIAG)[0] == {"status": "Uploading"}   # no requestId in 1.6 core
    ((path, body),) = server.uploads
    assert path == "/logs/" + name
    assert b"DiagnosticsLog" in body and b"BootNotification" in body
    assert (await csms16.call("TriggerMessage", {"requestedMessage": DIAG}))["status"] == "Accepted"
    await csms16.wait_for(DIAG, 3, timeout=30)
    assert diag(csms16)[-1] == "Idle"


async def test_get_diagnostics_upload_failed_after_its_retries(start_ocpp16, csms16, log_server):  # noqa: F811
    server = log_server(fail=True)
    await start_ocpp16()
    r = await csms16.call("GetDiagnostics", {"location": server.url, "retries": 2, "retryInterval": 0})
    assert r["fileName"]
    await csms16.wait_until(lambda: diag(csms16).count("UploadFailed") == 3, 60, "3 x UploadFailed")
    assert server.attempts == 3
    assert diag(csms16) == ["Uploading", "UploadFailed"] * 3


async def test_get_diagnostics_bad_input(start_ocpp16, csms16, log_server):  # noqa: F811
    """A location that is not http(s) or ftp(s): no fileName (nothing will be uploaded); a startTime that
    is not a date-time: PropertyConstraintViolation; no location: ProtocolError."""
    server = log_server()
    await start_ocpp16()
    assert await csms16.call("GetDiagnostics", {"location": "sftp://127.0.0.1/diag/"}) == {}
    with pytest.raises(OCPPError) as e:
        await csms16.call("GetDiagnostics", {"location": server.url, "startTime": "last week"})
    assert e.value.code == "PropertyConstraintViolation"
    await csms16.send_raw('[2, "d1", "GetDiagnostics", {"retries": 1}]')
    reply = await csms16.wait_raw_reply(lambda d: d[0] == 4 and d[1] == "d1")
    assert reply[2] == "ProtocolError", reply
    assert (await csms16.call("TriggerMessage", {"requestedMessage": DIAG}))["status"] == "Accepted"
    await csms16.wait_for(DIAG, timeout=30)
    assert diag(csms16) == ["Idle"] and server.attempts == 0


async def test_get_log_diagnostics_and_security_log(start_ocpp16, csms16, log_server):  # noqa: F811
    server = log_server()
    await start_ocpp16()
    r = await csms16.call("GetLog", {"log": {"remoteLocation": server.url}, "logType": "DiagnosticsLog",
                                     "requestId": 31})
    assert r["status"] == "Accepted" and r["filename"]
    await csms16.wait_until(lambda: "Uploaded" in log_statuses(csms16, 31), 60, "Uploaded")
    assert log_statuses(csms16, 31) == ["Uploading", "Uploaded"]
    # v16/security.py logs a refused profile change as evcharge.ocpp.security: in the SecurityLog.
    r = await csms16.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "5"})
    assert r["status"] == "Rejected"
    r = await csms16.call("GetLog", {"log": {"remoteLocation": server.url + "security.log",
                                             "oldestTimestamp": "2020-01-01T00:00:00Z"},
                                     "logType": "SecurityLog", "requestId": 32})
    assert r["status"] == "Accepted"
    await csms16.wait_until(lambda: "Uploaded" in log_statuses(csms16, 32), 60, "Uploaded")
    (_, first), (path, body) = server.uploads
    assert b"DiagnosticsLog" in first and b"BootNotification" in first
    assert path == "/logs/security.log" and body.startswith(b"# evcharge ocpp SecurityLog")
    assert b"SecurityProfile 5 rejected" in body and b"BootNotification" not in body
    assert (await csms16.call("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"}))[
        "status"] == "Accepted"
    await csms16.wait_for("LogStatusNotification", timeout=30, where=lambda p: p["status"] == "Idle")
    assert csms16.received("LogStatusNotification")[-1] == {"status": "Idle"}


async def test_get_log_second_request_cancels_the_first_and_bad_input(start_ocpp16, csms16, log_server):  # noqa: F811
    """While an upload runs, GetLog answers AcceptedCanceled and the new one is uploaded (1.6 has
    no AcceptedCanceled LogStatusNotification: the first one just ends); ExtendedTriggerMessage
    meanwhile says Uploading with its requestId. sftp:// is Rejected, a bad timestamp a CALLERROR."""
    server = log_server(hold_first=True)
    stack = await start_ocpp16()
    r = await csms16.call("GetLog", {"log": {"remoteLocation": server.url}, "logType": "DiagnosticsLog",
                                     "requestId": 41})
    assert r["status"] == "Accepted"
    await csms16.wait_until(lambda: "Uploading" in log_statuses(csms16, 41), 60, "Uploading")
    # server.attempts changes in the server's thread: poll it (csms16.wait_until wakes on frames only).
    await stack.wait(lambda: asyncio.sleep(0, server.attempts), lambda n: n == 1, 60, "first upload in progress")
    assert (await csms16.call("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"}))[
        "status"] == "Accepted"
    await csms16.wait_until(lambda: log_statuses(csms16, 41) == ["Uploading", "Uploading"], 60, "triggered")
    r = await csms16.call("GetLog", {"log": {"remoteLocation": server.url}, "logType": "DiagnosticsLog",
                                     "requestId": 42})
    assert r["status"] == "AcceptedCanceled"
    server.release.set()
    await csms16.wait_until(lambda: "Uploaded" in log_statuses(csms16, 42), 60, "Uploaded")
    assert log_statuses(csms16, 42) == ["Uploading", "Uploaded"]
    assert log_statuses(csms16, 41) == ["Uploading", "Uploading"]
    r = await csms16.call("GetLog", {"log": {"remoteLocation": "sftp://127.0.0.1/x"}, "logType": "SecurityLog",
                                     "requestId": 43})
    assert r == {"status": "Rejected"}
    with pytest.raises(OCPPError) as e:
        await csms16.call("GetLog", {"log": {"remoteLocation": server.url, "latestTimestamp": "soon"},
                                     "logType": "SecurityLog", "requestId": 44})
    assert e.value.code == "PropertyConstraintViolation"
    assert log_statuses(csms16, 43) == [] and log_statuses(csms16, 44) == []
