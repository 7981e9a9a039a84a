from datetime import UTC, datetime, timedelta

from evcharge.ocpp.firmware import FirmwareRelay, install_options, signing_certificate_error, variants
from evcharge.ocpp.queue import MessageQueue

URL = "http://10.0.2.2:8080/v2.raucb"


def statuses(msgs):
    return [payload["status"] for payload, _state in msgs]


def test_only_http_https_ftp_and_ftps_urls_are_accepted():
    r = FirmwareRelay()
    for bad in ("/data/v2.raucb", "file:///tmp/x.raucb", "sftp://host/x", "http://", "not a url",
                "ftp://host/fw/", "ftp://host", "ftp://host:99999/x", "ftp:///x"):
        assert r.request(1, bad, "Idle") == "Rejected", bad
    assert r.current is None
    assert r.request(1, "https://fw.example.com/v2.raucb", "Idle") == "Accepted"
    for n, good in enumerate(("ftp://host/x.raucb", "ftps://u:p%40ss@host:2121/fw/v2.raucb"), start=2):
        assert FirmwareRelay.check_location(good) is None, good
        assert FirmwareRelay().request(n, good, "Idle") == "Accepted"
    assert FirmwareRelay.check_location("ftp://host/fw/") == "the FTP location names a directory, not a firmware file"


def test_refused_while_an_update_installs_or_the_update_service_is_down():
    r = FirmwareRelay()
    assert r.request(1, URL, "") == "Rejected"          # no update service on the bus
    for status in ("Installing", "InstallRebooting"):    # L01.FR.27: cannot be cancelled any more
        assert r.request(1, URL, status) == "Rejected"
    assert r.current is None
    assert r.request(2, URL, "Installed") == "Accepted"  # a previous one is over
    # Accepted, Install not returned yet: a second request is refused.
    assert r.request(3, URL, "Installed") == "Rejected"
    assert r.current.request_id == 2


def test_statuses_follow_the_history_once_in_order():
    r = FirmwareRelay()
    r.request(7, URL, "Idle")
    assert r.update_state("u1", ["Downloading"]) == []   # Install has not returned: not ours yet
    r.install_started("u1")
    msgs = r.update_state("u1", ["Downloading"])
    assert [p for p, _ in msgs] == [{"status": "Downloading", "requestId": 7}]
    assert statuses(r.update_state("u1", ["Downloading", "Downloaded", "Installing"])) == ["Downloaded", "Installing"]
    assert r.update_state("u1", ["Downloading", "Downloaded", "Installing"]) == []
    assert r.update_state("other", ["Installing", "InstallRebooting"]) == []  # someone else's request
    assert statuses(r.update_state("u1", ["Downloading", "Downloaded", "Installing", "InstallRebooting",
                                          "Installed"])) == ["InstallRebooting", "Installed"]
    assert r.current.done
    assert r.update_state("u1", ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed",
                                 "Installed"]) == []


def test_each_message_carries_the_state_after_it():
    """Restoring the state stored with message k resends exactly the messages after k."""
    r = FirmwareRelay()
    r.request(7, URL, "Idle")
    r.install_started("u1")
    history = ["Downloading", "Downloaded", "Installing", "InstallRebooting", "InstallationFailed"]
    msgs = r.update_state("u1", history)
    assert statuses(msgs) == history
    for k, (_payload, state) in enumerate(msgs):
        again = FirmwareRelay()
        again.load_json(state)
        assert statuses(again.update_state("u1", history)) == history[k + 1:]


def test_survives_a_reboot_between_rebooting_and_installed(tmp_path):
    q = MessageQueue(tmp_path / "q.sqlite")
    r = FirmwareRelay()
    r.request(9, URL, "Idle")
    r.install_started("u9")
    for payload, state in r.update_state("u9", ["Downloading", "Downloaded", "Installing", "InstallRebooting"]):
        q.enqueue("FirmwareStatusNotification", payload, state=state, state_key="firmware")
    q.close()
    q = MessageQueue(tmp_path / "q.sqlite")
    after = FirmwareRelay()
    after.load_json(q.get_state("firmware"))
    msgs = after.update_state("u9", ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"])
    assert [p for p, _ in msgs] == [{"status": "Installed", "requestId": 9}]
    assert [m.payload["status"] for m in q.all()] == ["Downloading", "Downloaded", "Installing", "InstallRebooting"]
    q.close()


def test_refusals_are_reported():
    r = FirmwareRelay()
    r.request(4, URL, "Idle")
    assert statuses(r.install_refused("update 1 is Installing")) == ["InstallationFailed"]
    assert r.install_refused("again") == []
    r.request(5, URL, "Idle")
    r.install_started("u5")
    assert statuses(r.update_state("u5", ["Downloading", "DownloadFailed"])) == ["Downloading", "DownloadFailed"]
    r.request(6, URL, "DownloadFailed")
    r.install_started("u6")
    assert statuses(r.update_state("u6", ["Installing", "InvalidSignature"])) == ["Installing", "InvalidSignature"]


def decide(r, status, *, sig=True, cert=True, secure=True, cert_error=None, location=URL):
    return r.decide(location, status, has_signature=sig, has_certificate=cert, secure_required=secure,
                    certificate_error=cert_error)


def test_a_request_not_installing_yet_is_replaced():
    """L01.FR.24 (TC_L_10): scheduled, downloading or waiting to install: AcceptedCanceled."""
    r = FirmwareRelay()
    for status in ("DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"):
        assert decide(r, status) == "AcceptedCanceled", status
    for status in ("Idle", "Installed", "DownloadFailed", "InvalidSignature", "Canceled", "InstallationFailed"):
        assert decide(r, status) == "Accepted", status


def test_signing_certificate_and_signature():
    r = FirmwareRelay()
    # L01.FR.02 (TC_L_05): a certificate that does not chain to a manufacturer root
    assert decide(r, "Idle", cert_error="not issued by an installed root") == "InvalidCertificate"
    # TC_L_18: neither, while a manufacturer root is installed: not a secure request
    assert decide(r, "Idle", sig=False, cert=False) == "Rejected"
    # ... without a manufacturer root the station relies on the bundle's own (RAUC) signature
    assert decide(r, "Idle", sig=False, cert=False, secure=False) == "Accepted"
    # one without the other cannot be checked
    assert decide(r, "Idle", sig=True, cert=False) == "Rejected"
    assert decide(r, "Idle", sig=False, cert=True) == "Rejected"
    # a bad location is refused before anything else
    assert decide(r, "Idle", location="file:///x", cert_error="bad") == "Rejected"
    assert r.current is None   # decide() changes nothing


def test_install_options_from_the_request():
    fw = {"location": URL, "retrieveDateTime": "2026-01-01T00:00:00Z", "installDateTime": "2026-01-02T00:00:00Z",
          "signature": "c2ln", "signingCertificate": "-----BEGIN CERTIFICATE-----"}
    o = install_options(fw, 3, 10)
    assert o == {"retrieve_datetime": "2026-01-01T00:00:00Z", "install_datetime": "2026-01-02T00:00:00Z",
                 "signature": "c2ln", "signing_certificate": "-----BEGIN CERTIFICATE-----", "retries": 3,
                 "retry_interval_s": 10}
    assert install_options({"location": URL}, None, None) == {}
    v = variants(o)
    assert v["retries"].signature == "i" and v["signature"].signature == "s"


def test_new_statuses_are_relayed_and_a_replaced_request_stops():
    r = FirmwareRelay()
    r.request(1, URL, "Idle")
    r.install_started("u1")
    assert statuses(r.update_state("u1", ["DownloadScheduled", "Downloading"])) == ["DownloadScheduled", "Downloading"]
    # a newer request replaced it: the old one's Canceled (not an OCPP status) is never sent
    assert r.request(2, URL, "Downloading") == "AcceptedCanceled"
    assert r.update_state("u1", ["DownloadScheduled", "Downloading", "Canceled"]) == []
    r.install_started("u2")
    assert statuses(r.update_state("u2", ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"])) == \
        ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"]


def test_signing_certificate_must_chain_to_a_manufacturer_root():
    from evcharge.sim.pki import Authority
    root = Authority.create("manufacturer")
    leaf = root.issue("firmware signing")
    now = datetime.now(UTC)
    assert signing_certificate_error(leaf.cert_pem, [root.cert], now) is None
    assert signing_certificate_error(leaf.cert_pem + root.cert_pem, [root.cert], now) is None   # with the chain
    other = Authority.create("someone else")
    assert "not issued by an installed root" in signing_certificate_error(leaf.cert_pem, [other.cert], now)
    assert "no root" in signing_certificate_error(leaf.cert_pem, [], now)
    assert "expired" in signing_certificate_error(root.issue("old", expired=True).cert_pem, [root.cert], now)
    assert "not valid before" in signing_certificate_error(leaf.cert_pem, [root.cert], now - timedelta(days=1))
    assert "no PEM" in signing_certificate_error("garbage", [root.cert], now)


def test_the_boot_after_install_rebooting_is_a_firmware_update():
    r = FirmwareRelay()
    r.request(1, URL, "Idle")
    r.install_started("u1")
    r.update_state("u1", ["Downloading", "Downloaded", "Installing"])
    assert not r.rebooting()
    _payload, state = r.update_state("u1", ["Downloading", "Downloaded", "Installing", "InstallRebooting"])[-1]
    after = FirmwareRelay()
    after.load_json(state)
    assert after.rebooting()
    after.update_state("u1", ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"])
    assert not after.rebooting()
