"""A charger in QEMU for the system tests: boots a disk image (UEFI + GRUB, TCG), runs shell
commands as root over the serial console, power-cuts and tears down by PID.

The disk image is never written: each machine boots a qcow2 overlay of it, so a test that
updates or breaks its machine leaves the cached image as it was. Host peers reach the guest's
services through QEMU user networking; the guest sees the host's loopback as 10.0.2.2.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

# Under TCG a shell round trip takes ~0.1 s and boot ~40-80 s on an idle 2-core machine; on a
# loaded one (load average 8 on 2 cores) a boot took over 4 min. These only bound the waits.
BOOT_TIMEOUT_S = float(os.environ.get("EVCHARGE_BOOT_TIMEOUT_S", "900"))
# A guest reboot is a cold one (QEMU runs with -no-reboot and is started again): QEMU 7.2's warm
# reset under multi-threaded TCG sometimes never comes back (the kernel printed "reboot:
# Restarting system", then no firmware output for 900 s at full CPU; twice in CI, on the reboot
# after a failed health check). Should QEMU not even exit, the harness cuts its power this long
# after the kernel's last words: the guest has synced and unmounted by then, so the next boot sees
# exactly what a reset would have left.
STUCK_RESET_S = float(os.environ.get("EVCHARGE_STUCK_RESET_S", "60"))
RESTART_LINE = b"reboot: Restarting system"
POWER_DOWN_LINE = b"reboot: Power down"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\r")


class GuestError(AssertionError):
    pass


class Machine:
    """One QEMU guest. `start()` boots and logs in; `run()` executes a shell command."""

    def __init__(self, disk: Path, workdir: Path, *, memory_mb: int = 256, firmware_dir: Path | None = None,
                 name: str = "vm", extra_drives: list[Path] | None = None,
                 direct_kernel: tuple[Path, Path, str] | None = None):
        self.disk = Path(disk)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.memory_mb = memory_mb
        self.extra_drives = [Path(p) for p in extra_drives or []]  # read-only virtio disks (vdb, ...)
        # (kernel, initrd, command line): boot slot A's kernel directly (SeaBIOS, no GRUB). GRUB
        # 2.06 on OVMF runs out of memory loading the kernel with -m 256 (it needs ~320 MB at the
        # firmware stage only), so the -m 256 runs use this; A/B tests boot through GRUB.
        self.direct_kernel = direct_kernel
        self.name = name
        fw = firmware_dir if firmware_dir is not None else Path("/usr/share/OVMF")
        self.ovmf_code = fw / "OVMF_CODE.fd" if (fw / "OVMF_CODE.fd").exists() else Path("/usr/share/OVMF/OVMF_CODE.fd")
        self.ovmf_vars_template = fw / "OVMF_VARS.fd" if (fw / "OVMF_VARS.fd").exists() \
            else Path("/usr/share/OVMF/OVMF_VARS.fd")
        self.overlay = self.workdir / f"{name}.qcow2"
        self.vars = self.workdir / f"{name}-vars.fd"
        self.serial_path = self.workdir / f"{name}.serial"
        self.monitor_path = self.workdir / f"{name}.monitor"
        self.pidfile = self.workdir / f"{name}.pid"
        self.console_log = self.workdir / f"{name}-console.log"
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._lock = threading.Condition()
        self._reader: threading.Thread | None = None
        self._seq = 0
        self.boots = 0
        self.last_boot_s = 0.0
        # Guest resets seen, and those of them where QEMU hung and the harness cut the power.
        self.resets = 0
        self.stuck_resets = 0
        # Held while QEMU is started, restarted after a guest reset, or killed.
        self._life = threading.Lock()
        self._stopping = False

    # ---- life cycle ---------------------------------------------------------------------------
    def create_overlay(self) -> None:
        self.overlay.unlink(missing_ok=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.disk.resolve()),
                        str(self.overlay)], check=True)
        shutil.copyfile(self.ovmf_vars_template, self.vars)

    def start(self, *, wait: bool = True) -> float:
        """Power on (creating the overlay on first start) and, with wait, log in and wait
        until systemd has finished starting up. Returns seconds from power-on to that point."""
        if not self.overlay.exists():
            self.create_overlay()
        self._buf.clear()
        t0 = time.monotonic()
        with self._life:
            self._stopping = False
            sock = self._launch()
        self._reader = threading.Thread(target=self._read_loop, args=(sock,), daemon=True)
        self._reader.start()
        self.boots += 1
        if wait:
            self.wait_ready(t0)
        self.last_boot_s = time.monotonic() - t0
        return self.last_boot_s

    def _launch(self) -> socket.socket:
        """Starts QEMU on the overlay and connects to its serial console (caller holds _life)."""
        for p in (self.serial_path, self.monitor_path, self.pidfile):
            p.unlink(missing_ok=True)
        cmd = [
            "qemu-system-x86_64", "-name", self.name, "-accel", "tcg,thread=multi", "-cpu", "max",
            "-smp", "2", "-m", str(self.memory_mb), "-nodefaults", "-display", "none", "-vga", "none",
            "-no-reboot",  # see STUCK_RESET_S
            *self._firmware_args(),
            "-drive", f"file={self.overlay},if=virtio,format=qcow2,cache=writeback,discard=unmap",
            *[a for p in self.extra_drives for a in ("-drive", f"file={p},if=virtio,format=raw,readonly=on")],
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-rng-pci",
            "-chardev", f"socket,id=ser0,path={self.serial_path},server=on,wait=on",
            "-serial", "chardev:ser0",
            "-monitor", f"unix:{self.monitor_path},server,nowait",
            "-pidfile", str(self.pidfile),
        ]
        with open(self.workdir / f"{self.name}-qemu.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        self._share_niceness()
        deadline = time.monotonic() + 30
        while not self.serial_path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise GuestError(f"qemu did not start: see {self.workdir / (self.name + '-qemu.log')}")
            time.sleep(0.05)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(self.serial_path))
        self._sock = sock
        return sock

    def _share_niceness(self) -> None:
        """QEMU runs in a session of its own (start_new_session), and with sched_autogroup (on by
        default in Debian's kernel) a nice value orders processes only within their session's
        group: between groups the CPU is shared equally, so a guest started by `nice -n -5
        pytest` got no more than any other shell's test run (65 % of a core at load average 8,
        116 % after). Its group gets the runner's niceness."""
        group = Path(f"/proc/{self.pid}/autogroup")
        try:
            if group.exists():
                group.write_text(str(os.getpriority(os.PRIO_PROCESS, 0)))
        except OSError:
            pass  # no permission to lower it (not root): the default share

    def _firmware_args(self) -> list[str]:
        if self.direct_kernel:
            kernel, initrd, cmdline = self.direct_kernel
            return ["-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]
        return ["-drive", f"if=pflash,format=raw,readonly=on,file={self.ovmf_code}",
                "-drive", f"if=pflash,format=raw,file={self.vars}"]

    def _read_loop(self, sock: socket.socket) -> None:
        """Copies the console into the buffer and the log, and carries the guest over its resets:
        QEMU exits on one (-no-reboot) and is started again on the same disk and UEFI variables."""
        with open(self.console_log, "ab") as log:
            tail = b""  # the last bytes received, so a kernel line split across reads is seen
            # Bytes received since the kernel said it was resetting the machine (None: it has not).
            after_restart: int | None = None
            last_data = time.monotonic()
            powering_down = False
            sock.settimeout(5)
            while True:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    # Only the kernel's last lines may follow its restart line before QEMU exits;
                    # silence after them means QEMU hangs in the reset: cut its power.
                    if after_restart is None or after_restart > 4096 or \
                            time.monotonic() - last_data < STUCK_RESET_S:
                        continue
                    data = None
                except OSError:
                    data = b""
                if data:
                    log.write(data)
                    log.flush()
                    last_data = time.monotonic()
                    if after_restart is not None:
                        after_restart += len(data)
                    tail = (tail + data)[-256:]
                    if RESTART_LINE in tail:
                        after_restart, tail = 0, b""
                    elif POWER_DOWN_LINE in tail:
                        powering_down = True
                    with self._lock:
                        self._buf += data
                        self._lock.notify_all()
                    continue
                next_sock = self._after_qemu_exit(sock, stuck=data is None, power_down=powering_down, log=log)
                if next_sock is None:
                    with self._lock:
                        self._lock.notify_all()
                    return
                sock, tail, after_restart, powering_down = next_sock, b"", None, False
                last_data = time.monotonic()
                sock.settimeout(5)

    def _after_qemu_exit(self, sock: socket.socket, *, stuck: bool, power_down: bool, log) -> socket.socket | None:
        """The console closed (QEMU exited) or QEMU hangs in a reset. Returns the console of the
        restarted QEMU after a guest reset; None when the machine was stopped, powered down or
        QEMU failed (expect() then reports the console tail)."""
        with self._life:
            proc = self.proc
            if self._stopping or proc is None:
                return None
            if stuck:
                log.write(f"\n[harness: no reset {STUCK_RESET_S:.0f} s after the kernel's restart: power cut]\n".encode())
                self.stuck_resets += 1
                _kill_group(proc)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                rc = proc.wait(timeout=30)
            sock.close()
            if power_down or (rc != 0 and not stuck):
                return None
            self.resets += 1
            log.write(b"\n[harness: guest reset: QEMU started again]\n")
            log.flush()
            return self._launch()

    def _write(self, text: str) -> None:
        assert self._sock is not None
        self._sock.sendall(text.encode())

    def expect(self, pattern: bytes, timeout: float, start: int = 0) -> tuple[re.Match, int]:
        """Waits for a regex in the console output from offset start; returns (match, end offset)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                m = rx.search(self._buf, start)
                if m:
                    return m, m.end()
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc is not None and self.proc.poll() is not None and not self._alive_reader()):
                    tail = ANSI.sub(b"", bytes(self._buf[-3000:])).decode(errors="replace")
                    raise GuestError(f"timeout waiting for {pattern!r} on {self.name}; console tail:\n{tail}")
                self._lock.wait(min(left, 1.0))

    def _alive_reader(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def wait_ready(self, t0: float | None = None) -> None:
        """Logs in on the serial console (autologin on the test image; 'root' at a login prompt
        on a Yocto debug image), sets up a quiet shell and waits for systemd's start-up to end."""
        m, end = self.expect(rb"(login: \Z|# \Z)", BOOT_TIMEOUT_S)
        if m.group(0).startswith(b"login"):
            time.sleep(2)  # autologin prints "root (automatic login)" after the prompt
            with self._lock:
                auto = b"automatic login" in self._buf[end:]
            if not auto:
                self._write("root\n")
            m, end = self.expect(rb"# \Z", 60, end)
        # A shell without echo or prompt: run() frames every command's output with markers.
        self._write("stty -echo; export PS1='' PS2='' TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0; dmesg -n 1\n")
        time.sleep(0.5)
        self.run("true", timeout=60)
        # Boot-to-ready: systemd has finished the start-up transaction (default target reached,
        # or degraded); this includes the evcharge services' READY=1.
        self.run("systemctl is-system-running --wait >/dev/null || true", timeout=BOOT_TIMEOUT_S)

    def run(self, command: str, *, timeout: float = 120, check: bool = True) -> str:
        """Runs a shell command as root; returns its output (stdout and stderr, ANSI removed).
        Raises GuestError on a non-zero exit with check."""
        rc, out = self.run_rc(command, timeout=timeout)
        if check and rc != 0:
            raise GuestError(f"{self.name}: `{command}` exited {rc}:\n{out}")
        return out

    def run_rc(self, command: str, *, timeout: float = 120) -> tuple[int, str]:
        self._seq += 1
        tag = f"{os.getpid()}x{self._seq}"
        with self._lock:
            start = len(self._buf)
        # The markers are printed with printf so the literal marker text never appears in the
        # command itself (the console may echo input before stty -echo takes effect).
        self._write(f"printf '\\n%s_%s\\n' __BEGIN {tag}; {command}\n"
                    f"printf '\\n%s_%s=%d\\n' __END {tag} $?\n")
        m1, end1 = self.expect(rf"__BEGIN_{tag}\r?\n".encode(), timeout, start)
        m2, end2 = self.expect(rf"\n__END_{tag}=(\d+)\r?\n".encode(), timeout, end1)
        with self._lock:
            raw = bytes(self._buf[end1:m2.start()])
        out = ANSI.sub(b"", raw).decode(errors="replace")
        if out.endswith("\n"):
            out = out[:-1]  # the newline printed before the end marker
        return int(m2.group(1)), out

    def wait_for(self, command: str, *, timeout: float = 60, interval: float = 1.0) -> str:
        """Repeats a command until it succeeds; returns its output."""
        deadline = time.monotonic() + timeout
        while True:
            rc, out = self.run_rc(command, timeout=max(30.0, timeout))
            if rc == 0:
                return out
            if time.monotonic() > deadline:
                raise GuestError(f"{self.name}: `{command}` still failing after {timeout} s:\n{out}")
            time.sleep(interval)

    def monitor(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(self.monitor_path))
            s.settimeout(5)
            s.sendall(command.encode() + b"\n")
            time.sleep(0.3)
            try:
                return s.recv(65536).decode(errors="replace")
            except OSError:
                return ""

    def wait_reboot(self, timeout: float = BOOT_TIMEOUT_S) -> float:
        """After the guest reboots by itself (or several times, e.g. a failed health check and
        the fallback): wait for the next login and ready state. Returns seconds waited."""
        t0 = time.monotonic()
        with self._lock:
            self._buf.clear()
        self.boots += 1
        self.wait_ready()
        self.last_boot_s = time.monotonic() - t0
        return self.last_boot_s

    def power_cut(self) -> None:
        """Pulls the plug: SIGKILL to QEMU. Writes the guest had not flushed are lost, as on
        a real power cut; the overlay keeps what reached the virtual disk."""
        self.stop()

    def stop(self) -> None:
        """Tears down by PID: SIGKILL to the QEMU process (and its session), then reap it."""
        with self._life:
            self._stopping = True
            if self._sock is not None:
                try:
                    self._sock.close()
                except OSError:
                    pass
                self._sock = None
            if self.proc is not None and self.proc.poll() is None:
                _kill_group(self.proc)
                self.proc.wait(timeout=30)
            self.proc = None
            self.pid = None
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=30)

    def destroy(self) -> None:
        self.stop()
        for p in (self.overlay, self.vars, self.serial_path, self.monitor_path, self.pidfile):
            p.unlink(missing_ok=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
