"""FTP and explicit-FTPS locations, against a real FTP server (pyftpdlib, ftp_helpers.py) on a free
port of the loopback, through the real OCPP (and update) services on the private bus:

- 2.0.1 GetLog and 1.6 GetDiagnostics / GetLog upload into an ftp:// directory (the station names
  the file) or to an ftp:// file; a wrong password is PermissionDenied (UploadFailed in 1.6 core);
- ftps:// with the server certificate checked against the CA the station trusts for https
  (SSL_CERT_FILE here: the services inherit the test's environment), and refused when the server's
  certificate is not from that CA;
- UpdateFirmware from ftp:// (2.0.1 signed, 1.6 core also from ftps://) through the update service and the RAUC
  simulator, to Installed after the simulated reboot, as over http.
"""

from __future__ import annotations

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sil.supervisor import ServiceSpec

from .firmware_helpers import FIRMWARE, ago, reboot_into_new_slot
from .ftp_helpers import PASSWORD, USER

DIAG = "DiagnosticsStatusNotification"


def log_statuses(csms, request_id: int) -> list[str]:
    return [p["status"] for p in csms.received("LogStatusNotification") if p.get("requestId") == request_id]


def trust(monkeypatch, tmp_path, *, server_name: str = "127.0.0.1"):
    """A test CA the services trust (SSL_CERT_FILE, read by ssl.create_default_context as for
    https) and a server certificate for 127.0.0.1 issued by it: (cert, key) paths."""
    from evcharge.sim.pki import Authority
    ca = Authority.create("evcharge test FTP CA")
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    return ca.issue(server_name, server=True).write(tmp_path, "ftp-server")


def stranger(tmp_path):
    """A server certificate for 127.0.0.1 from a CA nobody trusts."""
    from evcharge.sim.pki import Authority
    return Authority.create("not trusted").issue("127.0.0.1", server=True).write(tmp_path, "stranger")


# --- OCPP 2.0.1 GetLog -------------------------------------------------------------------------
async def test_get_log_to_an_ftp_directory_and_a_wrong_password(start_ocpp, csms, ftp_server):
    server = ftp_server()
    (server.home / "logs").mkdir()
    await start_ocpp()
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url("logs/")}, "logType": "DiagnosticsLog",
                                   "requestId": 51})
    assert r["status"] == "Accepted" and r["filename"].endswith("-51.log")
    await csms.wait_until(lambda: "Uploaded" in log_statuses(csms, 51), 60, "Uploaded")
    assert log_statuses(csms, 51) == ["Uploading", "Uploaded"]
    ((name, body),) = server.files("logs").items()
    assert name == r["filename"]
    assert body.startswith(b"# evcharge ocpp DiagnosticsLog") and b"BootNotification" in body

    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url("logs/", password="wrong")},
                                   "logType": "DiagnosticsLog", "requestId": 52, "retries": 1,
                                   "retryInterval": 0})
    assert r["status"] == "Accepted"
    await csms.wait_until(lambda: log_statuses(csms, 52).count("PermissionDenied") == 2, 60, "2 x PermissionDenied")
    assert log_statuses(csms, 52) == ["Uploading", "PermissionDenied"] * 2
    assert list(server.files("logs")) == [name]   # nothing more arrived


async def test_get_log_to_an_ftp_file_in_a_missing_directory_fails(start_ocpp, csms, ftp_server):
    server = ftp_server()
    await start_ocpp()
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url("no/such/dir/security.log")},
                                   "logType": "SecurityLog", "requestId": 53})
    assert r == {"status": "Accepted", "filename": "security.log"}
    await csms.wait_until(lambda: "UploadFailure" in log_statuses(csms, 53), 60, "UploadFailure")
    assert log_statuses(csms, 53) == ["Uploading", "UploadFailure"]
    r = await csms.call("GetLog", {"log": {"remoteLocation": server.url("security.log")},
                                   "logType": "SecurityLog", "requestId": 54})
    assert r == {"status": "Accepted", "filename": "security.log"}
    await csms.wait_until(lambda: "Uploaded" in log_statuses(csms, 54), 60, "Uploaded")
    assert server.files()["security.log"].startswith(b"# evcharge ocpp SecurityLog")


async def test_get_log_over_ftps_checks_the_server_certificate(start_ocpp, csms, ftp_server, tmp_path,
                                                               monkeypatch):
    trusted = ftp_server(tls=trust(monkeypatch, tmp_path), name="trusted")
    untrusted = ftp_server(tls=stranger(tmp_path), name="untrusted")
    assert trusted.url().startswith("ftps://")
    await start_ocpp()
    r = await csms.call("GetLog", {"log": {"remoteLocation": trusted.url()}, "logType": "DiagnosticsLog",
                                   "requestId": 61})
    assert r["status"] == "Accepted"
    await csms.wait_until(lambda: "Uploaded" in log_statuses(csms, 61), 60, "Uploaded")
    assert log_statuses(csms, 61) == ["Uploading", "Uploaded"]
    assert b"DiagnosticsLog" in trusted.files()[r["filename"]]
    r = await csms.call("GetLog", {"log": {"remoteLocation": untrusted.url()}, "logType": "DiagnosticsLog",
                                   "requestId": 62})
    assert r["status"] == "Accepted"
    await csms.wait_until(lambda: "UploadFailure" in log_statuses(csms, 62), 60, "UploadFailure")
    assert log_statuses(csms, 62) == ["Uploading", "UploadFailure"]
    assert untrusted.files() == {}


# --- OCPP 1.6J GetDiagnostics and GetLog -------------------------------------------------------
def diag(csms16) -> list[str]:
    return [p["status"] for p in csms16.received(DIAG)]


async def test_get_diagnostics_into_an_ftp_directory(start_ocpp16, csms16, ftp_server):
    server = ftp_server()
    (server.home / "diag").mkdir()
    await start_ocpp16()
    r = await csms16.call("GetConfiguration", {"key": ["SupportedFileTransferProtocols"]})
    assert r["configurationKey"][0]["value"].split(",") == ["FTP", "FTPS", "HTTP", "HTTPS"]
    # 6.21: the location is the directory, with or without its final "/"
    r = await csms16.call("GetDiagnostics", {"location": server.url("diag"), "startTime": "2020-01-01T00:00:00Z"})
    name = r["fileName"]
    assert name.endswith(".log")
    await csms16.wait_for(DIAG, timeout=60, where=lambda p: p["status"] == "Uploaded")
    assert csms16.received(DIAG) == [{"status": "Uploading"}, {"status": "Uploaded"}]
    ((stored, body),) = server.files("diag").items()
    assert stored == name and b"DiagnosticsLog" in body and b"BootNotification" in body

    r = await csms16.call("GetDiagnostics", {"location": server.url("diag/", password="wrong"),
                                             "retries": 1, "retryInterval": 0})
    assert r["fileName"]
    await csms16.wait_until(lambda: diag(csms16).count("UploadFailed") == 2, 60, "2 x UploadFailed")
    assert diag(csms16) == ["Uploading", "Uploaded"] + ["Uploading", "UploadFailed"] * 2
    assert list(server.files("diag")) == [name]


async def test_get_log_16_to_ftps_and_a_wrong_password(start_ocpp16, csms16, ftp_server, tmp_path, monkeypatch):
    server = ftp_server(tls=trust(monkeypatch, tmp_path))
    await start_ocpp16()
    r = await csms16.call("GetLog", {"log": {"remoteLocation": server.url("station-security.log")},
                                     "logType": "SecurityLog", "requestId": 71})
    assert r == {"status": "Accepted", "filename": "station-security.log"}
    await csms16.wait_until(lambda: "Uploaded" in log_statuses(csms16, 71), 60, "Uploaded")
    assert log_statuses(csms16, 71) == ["Uploading", "Uploaded"]
    assert server.files()["station-security.log"].startswith(b"# evcharge ocpp SecurityLog")
    r = await csms16.call("GetLog", {"log": {"remoteLocation": server.url(password="wrong")},
                                     "logType": "DiagnosticsLog", "requestId": 72})
    assert r["status"] == "Accepted"
    await csms16.wait_until(lambda: "PermissionDenied" in log_statuses(csms16, 72), 60, "PermissionDenied")
    assert log_statuses(csms16, 72) == ["Uploading", "PermissionDenied"]
    assert list(server.files()) == ["station-security.log"]


# --- UpdateFirmware from ftp:// ----------------------------------------------------------------
def firmware_on(server) -> str:
    (server.home / "fw").mkdir()
    (server.home / "fw" / "v2.raucb").write_bytes(FIRMWARE)
    return server.url("fw/v2.raucb")


def fw_statuses(csms, request_id: int) -> list[str]:
    return [p["status"] for p in csms.received("FirmwareStatusNotification") if p.get("requestId") == request_id]


async def test_update_firmware_201_signed_from_ftp(start_ocpp, csms, ftp_server, signer, rauc):
    """L01 as TC_L_01 over http: the signature over the downloaded file is verified, so the bytes
    arrived whole."""
    server = ftp_server()
    location = firmware_on(server)
    assert f"{USER}:" in location and PASSWORD not in location   # the password is percent-encoded
    stack = await start_ocpp()
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    answer = await csms.call("InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                    "certificate": signer.root.cert_pem})
    assert answer["status"] == "Accepted"
    answer = await csms.call("UpdateFirmware", {"requestId": 81, "firmware": {
        "location": location, "retrieveDateTime": ago(), "signingCertificate": signer.leaf.cert_pem,
        "signature": signer.signature()}})
    assert answer["status"] == "Accepted"
    await csms.wait_for("FirmwareStatusNotification", timeout=60,
                        where=lambda p: p["requestId"] == 81 and p["status"] == "InstallRebooting")
    assert fw_statuses(csms, 81) == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                     "InstallRebooting"]
    assert len(rauc.installs) == 1
    await reboot_into_new_slot(stack, rauc)
    await csms.wait_for("FirmwareStatusNotification", timeout=60,
                        where=lambda p: p["requestId"] == 81 and p["status"] == "Installed")
    assert fw_statuses(csms, 81) == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                     "InstallRebooting", "Installed"]


@pytest.mark.parametrize("secure", [False, True], ids=["ftp", "ftps"])
async def test_update_firmware_16_core_from_ftp(start_ocpp16, csms16, ftp_server, rauc, secure, tmp_path,
                                                monkeypatch):
    server = ftp_server(tls=trust(monkeypatch, tmp_path) if secure else None)
    assert server.url().startswith("ftps://" if secure else "ftp://")
    location = firmware_on(server)
    stack = await start_ocpp16()
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    assert await csms16.call("UpdateFirmware", {"location": location, "retrieveDate": ago()}) == {}
    await stack.wait(lambda: get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE),
                     lambda p: p["Status"] == "InstallRebooting", timeout=60, what_name="the install written")
    (bundle,) = rauc.installs
    with open(bundle, "rb") as f:
        assert f.read() == FIRMWARE
    await reboot_into_new_slot(stack, rauc)
    await csms16.wait_for("FirmwareStatusNotification", timeout=60, where=lambda p: p["status"] == "Installed")
    assert csms16.received("FirmwareStatusNotification") == [
        {"status": s} for s in ("Downloading", "Downloaded", "Installing", "Installed")]


async def test_update_firmware_ftp_wrong_password_is_download_failed(start_ocpp16, csms16, ftp_server, rauc):
    server = ftp_server()
    firmware_on(server)
    stack = await start_ocpp16()
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    location = server.url("fw/v2.raucb", password="wrong")
    assert await csms16.call("UpdateFirmware", {"location": location, "retrieveDate": ago(), "retries": 1,
                                                "retryInterval": 0}) == {}
    await csms16.wait_for("FirmwareStatusNotification", timeout=60, where=lambda p: p["status"] == "DownloadFailed")
    assert csms16.received("FirmwareStatusNotification") == [{"status": "Downloading"}, {"status": "DownloadFailed"}]
    props = await get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE)
    assert "530" in props["LastError"] and "wrong" not in props["LastError"] and rauc.installs == []
