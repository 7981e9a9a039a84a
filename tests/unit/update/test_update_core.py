"""The update decisions (evcharge.update.core): statuses in order, scheduling around sessions,
the reboot and the decision after it, RAUC errors mapped to OCPP firmware statuses."""

import pytest
from evcharge.update.core import Action, Busy, Request, Status, UpdateCore, classify_rauc_error, is_remote
from evcharge.update.health import board_problems, unit_problems


def _persisted(core: UpdateCore) -> UpdateCore:
    """What the next boot sees: the request as written to the data partition."""
    return UpdateCore(Request.from_json(core.request.to_json()))


def test_local_bundle_installed_after_reboot_into_other_slot():
    core = UpdateCore()
    assert core.request_install("r1", "/data/v2.raucb", "/x", booted="A") == [Action.PERSIST, Action.INSTALL]
    assert core.status == Status.INSTALLING
    assert core.request.target_slot == "B"
    assert core.install_completed(0, "") == [Action.PERSIST, Action.REBOOT]
    after = _persisted(core)
    assert after.booted("B", marked_good=True) == [Action.PERSIST]
    assert after.status == Status.INSTALLED
    assert after.request.history == ["Installing", "InstallRebooting", "Installed"]


def test_fallback_is_installation_failed_and_booted_slot_made_primary():
    core = UpdateCore()
    core.request_install("r1", "/data/v3.raucb", "/x", booted="A")
    core.install_completed(0, "")
    after = _persisted(core)
    assert after.booted("A", marked_good=True) == [Action.PERSIST, Action.MAKE_BOOTED_PRIMARY]
    assert after.status == Status.INSTALLATION_FAILED
    assert "fell back" in after.request.error


def test_not_marked_good_is_not_installed():
    core = UpdateCore()
    core.request_install("r1", "/b", "/x", booted="B")
    core.install_completed(0, "")
    after = _persisted(core)
    after.booted("A", marked_good=False)
    assert after.status == Status.INSTALLATION_FAILED


def test_url_is_downloaded_first():
    core = UpdateCore()
    assert core.request_install("r1", "http://10.0.2.2:8000/v2.raucb", "/var/lib/x.raucb", "A") == \
        [Action.PERSIST, Action.DOWNLOAD]
    assert core.request.bundle == "/var/lib/x.raucb"
    assert core.download_done(True) == [Action.PERSIST, Action.INSTALL]
    assert core.request.history == ["Downloading", "Downloaded", "Installing"]


def test_ftp_urls_are_downloaded_first_too():
    for url in ("ftp://10.0.2.2/v2.raucb", "ftps://u:p@10.0.2.2:2121/fw/v2.raucb", "FTP://h/x"):
        core = UpdateCore()
        assert core.request_install("r1", url, "/var/lib/x.raucb", "A") == [Action.PERSIST, Action.DOWNLOAD], url
        assert core.request.bundle == "/var/lib/x.raucb" and core.request.history == ["Downloading"]
    assert not is_remote("sftp://h/x") and not is_remote("/var/lib/x.raucb") and is_remote("https://h/x")


def test_download_failure():
    core = UpdateCore()
    core.request_install("r1", "https://example.invalid/b.raucb", "/x", "A")
    assert core.download_done(False, "connection refused") == [Action.PERSIST]
    assert core.status == Status.DOWNLOAD_FAILED
    assert not core.busy()


def test_scheduled_during_a_session_and_installed_when_it_ends():
    core = UpdateCore()
    core.sessions_changed(True)
    assert core.request_install("r1", "/b", "/x", "A") == [Action.PERSIST]
    assert core.status == Status.INSTALL_SCHEDULED
    assert core.sessions_changed(True) == []
    assert core.sessions_changed(False) == [Action.PERSIST, Action.INSTALL]
    assert core.status == Status.INSTALLING


def test_scheduled_request_survives_reboot_and_waits_for_sessions():
    core = UpdateCore()
    core.sessions_changed(True)
    core.request_install("r1", "/b", "/x", "A")
    after = _persisted(core)
    assert after.booted("A", marked_good=True) == []
    assert after.status == Status.INSTALL_SCHEDULED
    assert after.sessions_changed(False) == [Action.PERSIST, Action.INSTALL]


def test_one_request_at_a_time():
    core = UpdateCore()
    core.request_install("r1", "/b", "/x", "A")
    with pytest.raises(Busy):
        core.request_install("r2", "/b", "/x", "A")
    core.install_completed(1, "signature verification failed")
    core.request_install("r2", "/b", "/x", "A")  # a final status frees it


def test_power_cut_while_installing():
    core = UpdateCore()
    core.request_install("r1", "/b", "/x", "A")
    after = _persisted(core)
    assert after.booted("A", marked_good=True) == [Action.PERSIST, Action.MAKE_BOOTED_PRIMARY]
    assert after.status == Status.INSTALLATION_FAILED
    # ... but if RAUC had finished (new slot primary) before the cut, the new slot is fine.
    after = _persisted(core)
    after.booted("B", marked_good=True)
    assert after.status == Status.INSTALLED


@pytest.mark.parametrize(("message", "status"), [
    ("signature verification failed: Verify error:unable to get local issuer certificate", Status.INVALID_SIGNATURE),
    ("Failed to check bundle identifier: Bundle is not signed", Status.INVALID_SIGNATURE),
    ("Compatible mismatch: Expected 'evcharge-qemux86-64' but bundle manifest has 'x'",
     Status.INSTALL_VERIFICATION_FAILED),
    ("failed to mount bundle: Input/output error", Status.INSTALL_VERIFICATION_FAILED),
    ("verity hash tree check failed", Status.INSTALL_VERIFICATION_FAILED),
    ("No space left on device", Status.INSTALLATION_FAILED),
])
def test_rauc_errors_map_to_ocpp_statuses(message, status):
    assert classify_rauc_error(message) == status


def test_failed_install_reports_the_mapped_status():
    core = UpdateCore()
    core.request_install("r1", "/b", "/x", "A")
    assert core.install_completed(1, "Compatible mismatch") == [Action.PERSIST]
    assert core.status == Status.INSTALL_VERIFICATION_FAILED
    assert core.request.error == "Compatible mismatch"


def test_health_units_and_board():
    wants = ["evcharge-board.service", "evcharge-evse.service", "other.service"]
    assert unit_problems(wants, {"evcharge-board.service": "active", "evcharge-evse.service": "active"}) == []
    assert unit_problems(wants, {"evcharge-board.service": "failed", "evcharge-evse.service": "active"}) == \
        ["evcharge-board.service is failed"]
    assert board_problems({1: [], 2: ["DiodeFault"]}) == []
    assert board_problems({1: ["HardwareLinkLost"]}) == ["connector 1: HardwareLinkLost"]
    assert board_problems({}) == ["the board reports no connectors"]
