"""OTA with RAUC A/B through the update service (org.evcharge.Update1), and power cuts.

Bundles reach the guest on a read-only second disk (/dev/vdb, mounted on /mnt/bundles) or over
HTTP from the host (QEMU user networking: the host's loopback is 10.0.2.2 in the guest).
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_boot import SERVICES

UPDATE = "org.evcharge.Update1 /org/evcharge/Update1 org.evcharge.Update1"


@pytest.fixture(scope="session")
def bundle_disk(image, workdir) -> Path:
    if image.bundles is None:
        pytest.fail("no bundles: give --bundles with --image")
    disk = workdir / "bundles.ext4"
    if not disk.exists():
        size_mb = sum(p.stat().st_size for p in image.bundles.glob("*.raucb")) // (1 << 20) + 64
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "bundles", "-d", str(image.bundles), str(disk), f"{size_mb}M"],
                       check=True)
    return disk


@pytest.fixture
def ota_machine(image, workdir, bundle_disk, request):
    from conftest import GRUB_MEMORY_MB
    from qemu import Machine
    m = Machine(image.disk, workdir, memory_mb=GRUB_MEMORY_MB, firmware_dir=image.firmware, name=request.node.name[:40],
                extra_drives=[bundle_disk])
    try:
        yield m
    finally:
        m.destroy()


@pytest.fixture(scope="session")
def http_bundles(image):
    """The bundles over HTTP on the host's loopback; the guest fetches http://10.0.2.2:<port>/."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(image.bundles))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://10.0.2.2:{httpd.server_address[1]}"
    httpd.shutdown()


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


def test_update_v1_to_v2(ota_machine, report):
    m = ota_machine
    boot(m)
    assert booted_slot(m) == "A" and version(m) == "1"
    t0 = time.monotonic()
    install(m, "/mnt/bundles/v2.raucb")
    m.expect(rb"reboot: Restarting system", 600)
    m.wait_reboot()
    assert booted_slot(m) == "B" and version(m) == "2"
    assert wait_status(m, {"Installed", "InstallationFailed"}, 120) == "Installed"
    assert history(m) == ["Installing", "InstallRebooting", "Installed"]
    # Reported after mark-good: the update service starts only once mark-good has run.
    mark = int(m.run("systemctl show -p ExecMainExitTimestampMonotonic --value evcharge-mark-good.service"))
    upd = int(m.run("systemctl show -p ExecMainStartTimestampMonotonic --value evcharge-update.service"))
    assert 0 < mark <= upd
    healthy(m)
    report(f"OTA v1 -> v2: {' -> '.join(history(m))} in {time.monotonic() - t0:.0f} s (slot A -> B)")


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
