"""OTA with RAUC A/B through the update service (org.evcharge.Update1).

Bundles reach the guest on a read-only second disk (/dev/vdb, mounted on /mnt/bundles) or over
HTTP from the host (QEMU user networking: the host's loopback is 10.0.2.2 in the guest).
"""

from __future__ import annotations

import re
import time

from test_boot import SERVICES

UPDATE = "org.evcharge.Update1 /org/evcharge/Update1 org.evcharge.Update1"


def boot(m) -> None:
    m.start()
    m.run("mkdir -p /mnt/bundles && mount -o ro /dev/vdb /mnt/bundles")


def prop(m, name: str) -> str:
    return m.run(f"busctl --system get-property {UPDATE} {name}").strip()


def history(m) -> list[str]:
    return re.findall(r'"([^"]*)"', prop(m, "History"))


def status(m) -> str:
    return re.search(r'"([^"]*)"', prop(m, "Status")).group(1)


def install(m, location: str) -> None:
    m.run(f"busctl --system call {UPDATE} Install s {location}")


def booted_slot(m) -> str:
    return re.search(r"rauc\.slot=(\w+)", m.run("cat /proc/cmdline")).group(1)


def version(m) -> str:
    return m.run("cat /etc/evcharge-version").strip()


def resets(m) -> str:
    """The guest's own resets in this test, for the report: each a cold QEMU restart (qemu.py)."""
    hung = f", {m.stuck_resets} hung in QEMU and power-cut" if m.stuck_resets else ""
    return f"{m.resets} guest reset{'s' if m.resets != 1 else ''}{hung}"


def wait_status(m, want: set[str], timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(m)
        if st in want:
            return st
        time.sleep(2)
    raise AssertionError(f"update status {status(m)}, history {history(m)}, wanted one of {want}")


def healthy(m) -> None:
    for unit in SERVICES:
        assert m.run(f"systemctl is-active {unit}", check=False).strip() == "active", unit
    assert m.run("systemctl list-units --failed --plain --no-legend").strip() == ""
    assert m.run("systemctl is-active evcharge-mark-good.service", check=False).strip() == "active"


def test_update_v1_to_v2_over_ocpp_during_a_session(ota_machine, csms, http_bundles, report):
    """OCPP UpdateFirmware from the host CSMS during a charging session, the bundle served over
    HTTP from the host: the update service downloads it, schedules the install until the session
    ends (RAUC idle, still charging), installs, reboots into slot B, and the CSMS receives each
    FirmwareStatusNotification once, in order, Installed only after mark-good in slot B."""
    from conftest import connect_ocpp
    from test_session import charging, plug, remote_start, stop, unplug, wait_connector
    m = ota_machine
    boot(m)
    connect_ocpp(m, csms)
    assert booted_slot(m) == "A" and version(m) == "1"
    plug(m)
    remote_start(m, "OTA")
    wait_connector(m, charging, "charging", timeout=300)
    t0 = time.monotonic()
    request_id = int(time.time()) % 1_000_000
    # "Now" by the host's clock is up to a second or two in the future for a TCG guest whose clock
    # lags, and a future retrieveDateTime is rightly DownloadScheduled: a minute ago is unambiguous.
    retrieve = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    answer = csms.call("UpdateFirmware", {"requestId": request_id, "firmware": {
        "location": f"{http_bundles}/v2.raucb", "retrieveDateTime": retrieve}})
    assert answer["status"] == "Accepted", answer
    assert wait_status(m, {"InstallScheduled", "Installing", "DownloadFailed"}, 600) == "InstallScheduled", \
        prop(m, "LastError")
    # Still charging, and RAUC has not been asked to install.
    wait_connector(m, charging, "still charging", timeout=120)
    assert "idle" in m.run("busctl --system get-property de.pengutronix.rauc / de.pengutronix.rauc.Installer "
                           "Operation")
    assert status(m) == "InstallScheduled"
    stop(m)
    unplug(m)
    m.expect(rb"reboot: Restarting system", 1800)
    m.wait_reboot()
    assert booted_slot(m) == "B" and version(m) == "2"
    connect_ocpp(m, csms)  # /etc is per slot: slot B has the image's ocpp.yaml
    assert wait_status(m, {"Installed", "InstallationFailed"}, 600) == "Installed"
    want = ["Downloading", "Downloaded", "InstallScheduled", "Installing", "InstallRebooting", "Installed"]
    assert history(m) == want
    mine = lambda p: p.get("requestId") == request_id  # noqa: E731
    csms.wait_for("FirmwareStatusNotification", timeout=600, where=lambda p: mine(p) and p["status"] == "Installed")
    sent = [p["status"] for p in csms.received("FirmwareStatusNotification") if mine(p)]
    assert sent == want, sent
    # Reported after mark-good: the update service starts only once mark-good has run.
    mark = int(m.run("systemctl show -p ExecMainExitTimestampMonotonic --value evcharge-mark-good.service"))
    upd = int(m.run("systemctl show -p ExecMainStartTimestampMonotonic --value evcharge-update.service"))
    assert 0 < mark <= upd
    healthy(m)
    report(f"OTA v1 -> v2 by OCPP UpdateFirmware (bundle over HTTP from the host) during a session: "
           f"FirmwareStatusNotification {' -> '.join(sent)} in {time.monotonic() - t0:.0f} s "
           f"(slot A -> B; RAUC idle until the session ended; {resets(m)})")


def test_update_v3_health_check_fails_falls_back(ota_machine, report):
    """v3 boots but its board service cannot start (its board.yaml names a missing board): the
    health check fails, systemd reboots before mark-good, GRUB falls back to slot A (v1); the
    update service reports InstallationFailed and makes the booted slot primary again."""
    m = ota_machine
    boot(m)
    assert booted_slot(m) == "A" and version(m) == "1"
    t0 = time.monotonic()
    install(m, "/mnt/bundles/v3.raucb")
    _, end = m.expect(rb"reboot: Restarting system", 1800)
    # v3 in slot B: the health check fails and systemd reboots again, before mark-good.
    m.expect(rb"reboot: Restarting system", 1800, end)
    m.wait_reboot()
    assert m.resets >= 2, "the guest did not reset twice (into B, and back after the failed health check)"
    assert booted_slot(m) == "A" and version(m) == "1", "did not fall back to v1 in slot A"
    assert wait_status(m, {"Installed", "InstallationFailed"}, 600) == "InstallationFailed"
    assert history(m) == ["Installing", "InstallRebooting", "InstallationFailed"], history(m)
    err = re.search(r'"(.*)"', prop(m, "LastError")).group(1)
    # The booted slot is primary again: the next boot starts A, not the failed B.
    primary = m.run("busctl --system call de.pengutronix.rauc / de.pengutronix.rauc.Installer GetPrimary")
    assert "rootfs.0" in primary, primary
    healthy(m)
    report(f"OTA v3 (health check fails): {' -> '.join(history(m))} ({err}); fell back to slot A (v1) in "
           f"{time.monotonic() - t0:.0f} s; booted slot primary again; {resets(m)}")


BAD = [
    ("unsigned", "InvalidSignature"),
    ("rogue", "InvalidSignature"),
    ("tampered", "InstallVerificationFailed"),
    ("wrongcompat", "InstallVerificationFailed"),
]


def test_bad_bundles_refused(ota_machine, http_bundles, report):
    m = ota_machine
    boot(m)
    slot_b = "sha256sum /dev/disk/by-partlabel/rootfs_b | cut -c1-16"
    b_before = m.run(slot_b, timeout=300).strip()
    results = []
    for name, want in BAD:
        # The untrusted one comes over HTTP (Downloading -> Downloaded first), the rest from disk.
        location = f"{http_bundles}/{name}.raucb" if name == "rogue" else f"/mnt/bundles/{name}.raucb"
        install(m, location)
        st = wait_status(m, {"InvalidSignature", "InstallVerificationFailed", "InstallationFailed", "Installed",
                             "DownloadFailed"}, 180)
        err = re.search(r'"(.*)"', prop(m, "LastError")).group(1)
        results.append(f"{name}: {st} ({err[:80]})")
        assert st == want, f"{name}: {st}: {err}"
    assert booted_slot(m) == "A" and version(m) == "1"
    assert m.run(slot_b, timeout=300).strip() == b_before, "slot B was written"
    grubenv = m.run("grub-editenv /boot/EFI/BOOT/grubenv list")
    assert "ORDER=A B" in grubenv or "ORDER=A" in grubenv, grubenv
    healthy(m)
    report("refused bundles (running slot A untouched, slot B unwritten): " + "; ".join(results))
