from evcharge.ocpp.firmware import FirmwareRelay
from evcharge.ocpp.queue import MessageQueue

URL = "http://10.0.2.2:8080/v2.raucb"


def statuses(msgs):
    return [payload["status"] for payload, _state in msgs]


def test_only_http_urls_are_accepted():
    r = FirmwareRelay()
    for bad in ("/data/v2.raucb", "file:///tmp/x.raucb", "ftp://host/x", "http://", "not a url"):
        assert r.request(1, bad, "Idle") == "Rejected", bad
    assert r.current is None
    assert r.request(1, "https://fw.example.com/v2.raucb", "Idle") == "Accepted"


def test_refused_while_an_update_runs_or_the_update_service_is_down():
    r = FirmwareRelay()
    assert r.request(1, URL, "") == "Rejected"          # no update service on the bus
    assert r.request(1, URL, "Installing") == "Rejected"
    assert r.request(1, URL, "InstallScheduled") == "Rejected"
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
