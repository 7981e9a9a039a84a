"""OCPP UpdateFirmware through the real update service (org.evcharge.Update1) on the private bus.

There is no RAUC on this bus, so an install that gets as far as RAUC fails (InstallationFailed):
what is shown here is the OCPP side (answers, FirmwareStatusNotification order, nothing sent
twice) and the update service's gate: no install while a transaction is active. No manufacturer
root is installed, so unsigned requests are accepted (the bundle's RAUC signature is the check).
The signed requests (TC_L_xx) with the RAUC simulator: test_ocpp_secure_firmware.py. The install
itself, the reboot and Installed after mark-good run in QEMU (tests/system/test_ota.py).
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all


@pytest.fixture
def http_file(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "fw.raucb").write_bytes(b"not really a bundle" * 1000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/fw.raucb"
    httpd.shutdown()


class HeldFile:
    """An HTTP server that sends the headers of a bundle at once and holds its body until
    `release` is set: the download stays in Downloading for as long as the test needs."""

    BODY = b"not really a bundle" * 1000

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests = 0
        held = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                held.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(held.BODY)))
                self.end_headers()
                self.wfile.flush()
                held.release.wait(300)
                self.wfile.write(held.BODY)

            def log_message(self, *_args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/fw.raucb"


@pytest.fixture
def held_file():
    server = HeldFile()
    yield server
    server.release.set()
    server.httpd.shutdown()


async def start_update(stack):
    from evcharge.sil.supervisor import ServiceSpec
    # It looks for RAUC for up to 30 s before it gives up and serves (no RAUC on this bus).
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)


def statuses(csms, request_id: int) -> list[str]:
    return [p["status"] for p in csms.received("FirmwareStatusNotification") if p["requestId"] == request_id]


async def test_update_firmware_waits_for_the_transaction_then_reports_each_status_once(start_ocpp, csms, http_file):
    stack = await start_ocpp()
    await start_update(stack)
    await stack.sim(1, "PlugIn", "d", 220.0)   # a transaction from plug-in (TxStartPoint EVConnected)
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=30)
    answer = await csms.call("UpdateFirmware", {"requestId": 41, "firmware": {
        "location": http_file, "retrieveDateTime": "2026-01-01T00:00:00Z"}})
    assert answer["status"] == "Accepted"
    await csms.wait_for("FirmwareStatusNotification", timeout=60,
                        where=lambda p: p["requestId"] == 41 and p["status"] == "InstallScheduled")
    assert statuses(csms, 41) == ["Downloading", "Downloaded", "InstallScheduled"]
    props = await get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE)
    assert props["Status"] == "InstallScheduled"
    # The transaction ends (unplug): the install starts, and fails here (no RAUC on this bus).
    await stack.sim(1, "Unplug")
    await csms.wait_for("FirmwareStatusNotification", timeout=60,
                        where=lambda p: p["requestId"] == 41 and p["status"] == "InstallationFailed")
    assert statuses(csms, 41) == ["Downloading", "Downloaded", "InstallScheduled", "Installing", "InstallationFailed"]
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    await stack.wait(lambda: get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP),
                     lambda p: p["QueueLength"] == 0, timeout=30, what_name="the OCPP queue empty")


async def test_update_firmware_refuses_what_is_not_an_http_or_ftp_url(start_ocpp, csms):
    stack = await start_ocpp()
    await start_update(stack)
    for location in ("/var/lib/evcharge/update/x.raucb", "file:///etc/passwd", "sftp://host/fw.raucb",
                     "ftp://host/fw/"):
        answer = await csms.call("UpdateFirmware", {"requestId": 7, "firmware": {
            "location": location, "retrieveDateTime": "2026-01-01T00:00:00Z"}})
        assert answer["status"] == "Rejected", location
    assert csms.received("FirmwareStatusNotification") == []


async def test_update_firmware_rejected_without_the_update_service(start_ocpp, csms, http_file):
    await start_ocpp()
    answer = await csms.call("UpdateFirmware", {"requestId": 8, "firmware": {
        "location": http_file, "retrieveDateTime": "2026-01-01T00:00:00Z"}})
    assert answer["status"] == "Rejected"


async def test_TC_F_19_CS_trigger_firmware_status_while_downloading(start_ocpp, csms, held_file):
    """TriggerMessage(FirmwareStatusNotification) during a download: Downloading with the
    request's requestId (L01.FR.26); after the download the request goes on as usual."""
    stack = await start_ocpp()
    await start_update(stack)
    answer = await csms.call("UpdateFirmware", {"requestId": 19, "firmware": {
        "location": held_file.url, "retrieveDateTime": "2026-01-01T00:00:00Z"}})
    assert answer["status"] == "Accepted"
    await csms.wait_for("FirmwareStatusNotification", timeout=60,
                        where=lambda p: p["requestId"] == 19 and p["status"] == "Downloading")
    # The server has the request and holds the body: the download cannot have ended.
    await stack.wait(lambda: get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE),
                     lambda p: p["Status"] == "Downloading" and held_file.requests == 1, timeout=60,
                     what_name="the download in progress")
    r = await csms.call("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert r["status"] == "Accepted"
    await csms.wait_for("FirmwareStatusNotification", 2, timeout=60)
    assert csms.received("FirmwareStatusNotification") == [{"status": "Downloading", "requestId": 19}] * 2
    held_file.release.set()
    await csms.wait_for("FirmwareStatusNotification", timeout=60,
                        where=lambda p: p["requestId"] == 19 and p["status"] == "InstallationFailed")
    assert statuses(csms, 19) == ["Downloading", "Downloading", "Downloaded", "Installing", "InstallationFailed"]
    # Nothing runs any more: a trigger now reports Idle (F06.FR.16).
    r = await csms.call("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert r["status"] == "Accepted"
    await csms.wait_for("FirmwareStatusNotification", where=lambda p: p["status"] == "Idle", timeout=60)
