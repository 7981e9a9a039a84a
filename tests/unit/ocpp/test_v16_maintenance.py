"""OCPP 1.6J Firmware Management / diagnostics mapping onto the shared 2.0.1 building blocks:
request conversion (v16/maintenance.py), how the relay reports 1.6 requests (firmware.py) and
the uploader's 1.6 notifications (logupload.py)."""

import pytest
from evcharge.ocpp.firmware import CORE16, SIGNED16, FirmwareRelay, triggered
from evcharge.ocpp.logupload import DIAGNOSTICS16, LOG16, V201, notification
from evcharge.ocpp.v16.adapter import make_call16
from evcharge.ocpp.v16.maintenance import core_firmware, diagnostics_log, log_parameters, retry_options, signed_firmware, utc_time

URL = "http://10.0.2.2:8080/v2.raucb"
HISTORY = ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "InstallScheduled", "Installing",
           "InstallRebooting", "Installed"]


def test_utc_time_normalises_and_refuses_what_does_not_parse():
    assert utc_time("2026-01-01T10:00:00Z", "f") == "2026-01-01T10:00:00Z"
    assert utc_time("2026-01-01T12:00:00+02:00", "f") == "2026-01-01T10:00:00Z"
    assert utc_time("2026-01-01T10:00:00.5", "f") == "2026-01-01T10:00:00.500000Z"   # no offset: UTC
    assert utc_time(None, "f") is None and utc_time("", "f") is None
    for bad in ("yesterday", "31/12/2026", "2026-13-01T00:00:00Z"):
        with pytest.raises(ValueError, match="retrieveDate"):
            utc_time(bad, "retrieveDate")


def test_requests_as_the_shared_blocks_take_them():
    assert core_firmware(URL, "2026-01-01T00:00:00+01:00") == {"location": URL,
                                                               "retrieveDateTime": "2025-12-31T23:00:00Z"}
    fw = signed_firmware({"location": URL, "retrieveDateTime": "2026-01-01T00:00:00Z", "installDateTime": "",
                          "signature": "c2ln", "signingCertificate": "PEM"})
    assert fw == {"location": URL, "retrieveDateTime": "2026-01-01T00:00:00Z", "signature": "c2ln",
                  "signingCertificate": "PEM"}
    with pytest.raises(ValueError, match="installDateTime"):
        signed_firmware({"location": URL, "retrieveDateTime": "2026-01-01T00:00:00Z", "installDateTime": "x"})
    assert retry_options(None, None) == (None, None)
    assert retry_options(-3, -1) == (0, 0) and retry_options(2, 30) == (2, 30)
    assert diagnostics_log("http://h/d/", "2026-01-01T00:00:00Z", None) == {
        "remoteLocation": "http://h/d/", "oldestTimestamp": "2026-01-01T00:00:00Z"}
    assert log_parameters({"remoteLocation": "http://h/", "latestTimestamp": "2026-01-01T00:00:00"}) == {
        "remoteLocation": "http://h/", "latestTimestamp": "2026-01-01T00:00:00Z"}
    with pytest.raises(ValueError, match="stopTime"):
        diagnostics_log("http://h/d/", None, "soon")


def test_core_update_firmware_reports_only_core_statuses_without_request_id():
    r = FirmwareRelay()
    r.accept(0, URL, report=CORE16)
    r.install_started("u1")
    assert r.action == "FirmwareStatusNotification"
    msgs = r.update_state("u1", HISTORY)
    assert [p for p, _s in msgs] == [{"status": s} for s in ("Downloading", "Downloaded", "Installing", "Installed")]
    assert r.current.done


@pytest.mark.parametrize("final", ["InvalidSignature", "InstallVerificationFailed", "InstallationFailed"])
def test_core_update_firmware_failures_are_installation_failed(final):
    r = FirmwareRelay()
    r.accept(0, URL, report=CORE16)
    r.install_started("u1")
    msgs = r.update_state("u1", ["Downloading", "Downloaded", "Installing", final])
    assert [p["status"] for p, _s in msgs] == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    # the raw status stays in the state queued with the message (the security event is chosen by it)
    assert msgs[-1][1]["current"]["last"] == final


def test_signed_update_firmware_reports_every_status_with_request_id():
    r = FirmwareRelay()
    r.accept(17, URL, report=SIGNED16)
    r.install_started("u1")
    assert r.action == "SignedFirmwareStatusNotification"
    msgs = r.update_state("u1", HISTORY)
    assert [p for p, _s in msgs] == [{"status": s, "requestId": 17} for s in HISTORY]


def test_the_report_kind_survives_a_restart():
    r = FirmwareRelay()
    r.accept(0, URL, report=CORE16)
    again = FirmwareRelay()
    again.load_json(r.to_json())
    assert again.current.report == CORE16 and again.action == "FirmwareStatusNotification"
    old = FirmwareRelay()
    old.load_json({"current": {"request_id": 3, "location": URL}})   # stored before 1.6 support
    assert old.current.report == "2.0.1"


def test_install_refused_for_a_core_request():
    r = FirmwareRelay()
    r.accept(0, URL, report=CORE16)
    ((payload, _state),) = r.install_refused("retrieve_datetime: not an RFC 3339 date-time")
    assert payload == {"status": "InstallationFailed"}


def test_upload_notifications_per_protocol():
    assert notification(V201, "AcceptedCanceled", 4) == ("LogStatusNotification",
                                                         {"status": "AcceptedCanceled", "requestId": 4})
    assert notification(LOG16, "AcceptedCanceled", 4) is None      # not a 1.6 UploadLogStatus
    assert notification(LOG16, "Uploading", 4) == ("LogStatusNotification", {"status": "Uploading", "requestId": 4})
    assert notification(LOG16, "Idle", None) == ("LogStatusNotification", {"status": "Idle"})
    assert notification(DIAGNOSTICS16, "UploadFailure", 0) == ("DiagnosticsStatusNotification",
                                                               {"status": "UploadFailed"})
    assert notification(DIAGNOSTICS16, "Uploaded", 0) == ("DiagnosticsStatusNotification", {"status": "Uploaded"})
    assert notification(DIAGNOSTICS16, "AcceptedCanceled", 0) is None


def test_make_call16_leaves_schema_optional_fields_out():
    req = make_call16("LogStatusNotification", {"status": "Idle"})
    assert req.status == "Idle" and req.request_id is None
    with pytest.raises(TypeError):
        make_call16("LogStatusNotification", {"status": "Idle", "bogus": 1})


@pytest.mark.parametrize(("status", "core", "signed"), [
    ("", "Idle", "Idle"),                                   # the update service is not on the bus
    ("Idle", "Idle", "Idle"),
    ("DownloadScheduled", "Idle", "DownloadScheduled"),
    ("Downloading", "Downloading", "Downloading"),
    ("SignatureVerified", "Downloaded", "SignatureVerified"),
    ("InstallScheduled", "Downloaded", "InstallScheduled"),
    ("InstallRebooting", "Installing", "InstallRebooting"),
    ("Installed", "Idle", "Idle"),                          # over: nothing runs
])
def test_triggered_firmware_status(status, core, signed):
    r = FirmwareRelay()
    r.accept(9, URL, report=SIGNED16)
    r.install_started("u1")
    if status == "Installed":
        r.update_state("u1", ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"])
    assert triggered(CORE16, status, r.current) == {"status": core}
    assert triggered(SIGNED16, status, r.current) == \
        ({"status": signed} if signed == "Idle" else {"status": signed, "requestId": 9})
