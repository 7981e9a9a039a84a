"""NOT COLLECTED, NOT VERIFIED (work in progress): the v3 fallback and the power-cut tests,
written but not run to the end before the deadline. Move them into test_ota.py once they pass.
They use the helpers of test_ota.py and test_session.py."""

from __future__ import annotations

import time

from test_boot import SERVICES
from test_ota import boot, booted_slot, healthy, history, install, version, wait_status
from test_session import connector, wait_connector


def test_power_cut_during_session(fresh_machine, report):
    m = fresh_machine
    m.start()
    m.run("evchargectl ev plug 1 --cable 32")
    m.run("evchargectl session start 1 POWERCUT")
    wait_connector(m, lambda c: bool(c["session"]) and c["board"]["contactor_closed"], "charging")
    m.power_cut()
    t = m.start()
    assert booted_slot(m) == "A"
    for unit in SERVICES:
        assert m.run(f"systemctl is-active {unit}", check=False).strip() == "active", unit
    assert m.run("systemctl list-units --failed --plain --no-legend").strip() == ""
    c = connector(m)
    assert not c["board"]["contactor_closed"] and c["evse"]["state"] != "Faulted", c
    report(f"power cut during a session: rebooted slot A in {t:.0f} s, all services up, contactor open, "
           f"connector {c['evse']['state']}")


def test_power_cut_during_update(ota_machine, report):
    m = ota_machine
    boot(m)
    install(m, "/mnt/bundles/v2.raucb")
    # Cut once RAUC is writing slot B.
    m.wait_for("busctl --system get-property de.pengutronix.rauc / de.pengutronix.rauc.Installer Progress "
               "| grep -Eq '\\(isi\\) ([2-9][0-9]|1[0-9]) '", timeout=300, interval=0.5)
    m.power_cut()
    m.start()
    assert booted_slot(m) == "A" and version(m) == "1"
    assert wait_status(m, {"InstallationFailed", "Installed"}, 120) == "InstallationFailed"
    healthy(m)
    report(f"power cut during an update: booted the good slot A (v1); update {' -> '.join(history(m))}")


def test_update_v3_health_check_fails_falls_back(ota_machine, report):
    """After test_ota.test_update_v1_to_v2 on the same machine (slot B running v2)."""
    m = ota_machine
    m.run("mkdir -p /mnt/bundles && mount -o ro /dev/vdb /mnt/bundles")
    # v3 boots but its board service cannot start (bad board.yaml): the health check fails,
    # systemd reboots before mark-good, GRUB falls back to B (v2).
    t0 = time.monotonic()
    install(m, "/mnt/bundles/v3.raucb")
    _, end = m.expect(rb"reboot: Restarting system", 600)
    # v3 boots, its health check fails, systemd reboots: a second restart before mark-good.
    m.expect(rb"reboot: Restarting system", 600, end)
    m.wait_reboot()
    assert booted_slot(m) == "B" and version(m) == "2", "did not fall back to v2 in slot B"
    assert wait_status(m, {"Installed", "InstallationFailed"}, 120) == "InstallationFailed"
    assert history(m) == ["Installing", "InstallRebooting", "InstallationFailed"]
    # The booted slot is primary again: the next boot starts B, not the failed A.
    primary = m.run("busctl --system call de.pengutronix.rauc / de.pengutronix.rauc.Installer GetPrimary")
    assert "rootfs.1" in primary, primary
    healthy(m)
    report(f"OTA v3 (health check fails): {' -> '.join(history(m))}, fell back to slot B (v2) in "
           f"{time.monotonic() - t0:.0f} s; booted slot made primary again")



