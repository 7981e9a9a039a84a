"""System tests: the charger image booted in QEMU (TCG), driven over the serial console.

The image is the test image built by ci/build-test-image.sh (cached by input hash), or a given
disk image (e.g. a kas-built qemux86-64 .wic) with --image. One machine is booted per session
for the non-destructive tests; destructive tests (updates, power cuts) boot their own.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the harness module beside this file

from qemu import Machine  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    g = parser.getgroup("evcharge system tests")
    g.addoption("--image", default=os.environ.get("EVCHARGE_TEST_IMAGE"),
                help="boot this disk image (raw GPT with GRUB EFI, e.g. a kas qemux86-64 .wic) instead of "
                     "building the test image; bundles come from --bundles")
    g.addoption("--bundles", default=os.environ.get("EVCHARGE_TEST_BUNDLES"),
                help="directory with v2/v3/unsigned/rogue/tampered/wrongcompat .raucb for --image")


# GRUB 2.06 + OVMF cannot load the kernel with less (see qemu.Machine.direct_kernel).
GRUB_MEMORY_MB = 320
SLOT_A_CMDLINE = "root=PARTLABEL=rootfs_a rw rauc.slot=A console=ttyS0,115200 quiet panic=5"


class Image:
    def __init__(self, disk: Path, bundles: Path | None, firmware: Path | None) -> None:
        self.disk = disk
        self.bundles = bundles
        self.firmware = firmware

    def direct_kernel(self):
        """Slot A's kernel for a direct boot with -m 256 (test image only; None for --image)."""
        if self.firmware is None or not (self.firmware / "vmlinuz").exists():
            return None
        return (self.firmware / "vmlinuz", self.firmware / "initrd.img", SLOT_A_CMDLINE)


@pytest.fixture(scope="session")
def image(request) -> Image:
    given = request.config.getoption("--image")
    if given:
        bundles = request.config.getoption("--bundles")
        return Image(Path(given), Path(bundles) if bundles else None, None)
    out = subprocess.run(["bash", str(REPO / "ci/build-test-image.sh")], check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    d = Path(out)
    return Image(d / "disk.img", d / "bundles", d)


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="evcharge-system-", dir=os.environ.get("EVCHARGE_SYSTEM_TMP", "/var/tmp")))
    yield d
    shutil.rmtree(d, ignore_errors=True)


class HostCsms:
    """The test CSMS (evcharge.sim.csms, on the `ocpp` library) on the host's loopback, on a free
    port, run by an event loop in a thread of its own so that the synchronous tests can use it.
    The guest reaches it at ws://10.0.2.2:<port>/ocpp (QEMU user networking)."""

    STATION = "evcharge-001"

    def __init__(self) -> None:
        from evcharge.sim.csms import Csms
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="csms", daemon=True)
        self.thread.start()

        async def make():
            c = Csms(host="127.0.0.1", port=0)
            await c.start()
            return c
        self.csms = self.run(make())
        self.port = self.csms.port

    def run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def received(self, action: str) -> list[dict]:
        async def get():
            return self.csms.received(action)
        return self.run(get())

    def wait_for(self, action: str, count: int = 1, timeout: float = 120.0, where=None) -> list[dict]:
        return self.run(self.csms.wait_for(action, count, timeout, where), timeout + 30)

    def call(self, action: str, payload: dict, timeout: float = 120.0) -> dict:
        async def do():
            await self.csms.wait_connected(self.STATION, timeout=timeout)
            return await self.csms.call(action, payload, self.STATION)
        return self.run(do(), timeout + 60)

    def stop(self) -> None:
        self.run(self.csms.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def csms():
    c = HostCsms()
    yield c
    c.stop()


def connect_ocpp(m: Machine, csms: HostCsms) -> None:
    """Points the guest's OCPP client at the host CSMS (the image's ocpp.yaml names 10.0.2.2 with
    a placeholder port; /etc is per slot, so this is repeated after a slot switch) and waits
    until the CSMS accepted its BootNotification."""
    boots = len(csms.received("BootNotification"))
    m.run(f"sed -i 's#^csms_url:.*#csms_url: ws://10.0.2.2:{csms.port}/ocpp#' /etc/evcharge/ocpp.yaml && "
          "systemctl restart evcharge-ocpp.service")
    csms.wait_for("BootNotification", boots + 1, timeout=600)
    m.wait_for("busctl --system get-property org.evcharge.Ocpp1 /org/evcharge/Ocpp1 org.evcharge.Ocpp1 BootStatus "
               "| grep -q Accepted", timeout=300)


_SHARED: list[Machine] = []


@pytest.fixture(scope="session")
def shared_machine(image, workdir):
    kernel = image.direct_kernel()
    m = Machine(image.disk, workdir, memory_mb=256 if kernel else GRUB_MEMORY_MB, firmware_dir=image.firmware,
                name="shared", direct_kernel=kernel)
    _SHARED.append(m)
    try:
        yield m
    finally:
        m.destroy()


@pytest.fixture
def machine(shared_machine, csms):
    """The shared charger: booted once, with -m 256, for the non-destructive tests (the test
    image boots slot A's kernel directly; a given --image boots through GRUB). Its tests run
    first (pytest_collection_modifyitems); the destructive tests stop it, so that one guest at
    a time shares the two cores."""
    if shared_machine.proc is None:
        shared_machine.start()
        connect_ocpp(shared_machine, csms)
    return shared_machine


def _stop_shared() -> None:
    for m in _SHARED:
        m.stop()


def pytest_collection_modifyitems(config, items):
    """The shared machine's tests first: the guests that destructive tests boot never run
    beside it (two TCG guests on two cores doubled boot times and starved watchdogs)."""
    items.sort(key=lambda item: 0 if "machine" in getattr(item, "fixturenames", ()) else 1)


@pytest.fixture
def fresh_machine(image, workdir, request):
    """A machine of its own (destructive tests), torn down by PID afterwards."""
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    _stop_shared()
    m = Machine(image.disk, workdir, memory_mb=GRUB_MEMORY_MB, firmware_dir=image.firmware, name=name)
    try:
        yield m
    finally:
        m.destroy()


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
    _stop_shared()
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


_REPORT: list[str] = []


@pytest.fixture(scope="session")
def report():
    """Figures for the test log: printed at the end of the run (and to $EVCHARGE_SYSTEM_REPORT)."""
    path = os.environ.get("EVCHARGE_SYSTEM_REPORT")

    def add(line: str) -> None:
        _REPORT.append(line)
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
    return add


def pytest_terminal_summary(terminalreporter):
    if _REPORT:
        terminalreporter.section("evcharge system figures")
        for line in _REPORT:
            terminalreporter.write_line(line)
