"""evcharge-sil as a developer runs it, driven with evchargectl through the address file."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


class Runner:
    """`python -m evcharge.sil ...` with its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.proc = subprocess.Popen([sys.executable, "-m", "evcharge.sil", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output}")

    def children(self) -> set[int]:
        """PIDs whose parent is the runner (dbus-daemon and the services)."""
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.add(int(stat.parent.name))
        return pids

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "evcharge.cli", *args], check=False, capture_output=True, text=True,
                              env=self.env, timeout=15)

    def status(self) -> dict:
        r = self.ctl("status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def poll(fn, predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = fn()
        if predicate(value):
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {value}")


@pytest.fixture
def env(tmp_path):
    # Our own address file location, so a developer's running SIL is neither used nor disturbed.
    e = {k: v for k, v in os.environ.items() if k != "EVCHARGE_BUS_ADDRESS"}
    e["XDG_RUNTIME_DIR"] = str(tmp_path / "xdg")
    return e


def our_address_file(env) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "evcharge-sil" / "address"  # the documented location


def test_charge_restart_and_clean_shutdown(env, tmp_path):
    addr_file = our_address_file(env)
    runner = Runner(env, "--workdir", str(tmp_path / "work"), "--keep-state", str(tmp_path / "state"))
    try:
        runner.wait_for(r"evcharge SIL is running")
        started = {m[0]: int(m[1]) for m in re.findall(r"started (\w+) \(pid (\d+)\)", runner.output)}
        assert {"board", "energy", "evse"} <= started.keys()
        address = addr_file.read_text().strip()
        assert f"bus address   {address}" in runner.output and "evchargectl status" in runner.output
        children = runner.children()
        assert set(started.values()) < children  # plus the dbus-daemon

        doc = runner.status()  # no --bus-address: found through the address file
        assert doc["bus_address"] == address
        assert {n: s["pid"] for n, s in doc["services"].items() if s["running"]} == started

        for args in (["ev", "plug", "1"], ["session", "start", "1", "04A1B2C3"], ["ev", "ready", "1", "on"]):
            r = runner.ctl(*args)
            assert r.returncode == 0, (args, r.stderr)
        c1 = poll(lambda: runner.status()["connectors"][0],
                  lambda c: c["evse"]["state"] == "Charging" and c["board"]["contactor_closed"], what="Charging")
        assert c1["session"]["token"] == "04A1B2C3"
        if "meter" in started:
            poll(lambda: runner.status()["connectors"][0], lambda c: c["session"]["energy_wh"] > 0, what="energy")
        runner.wait_for(r"connector 1: Charging, EV ready, CP C, PWM [\d.]+ %, contactor closed")

        # A crashed service is restarted by the supervisor, and the live status says so.
        os.kill(started["evse"], signal.SIGKILL)
        services = poll(lambda: runner.status()["services"],
                        lambda s: s["evse"]["running"] and s["evse"]["pid"] not in (None, started["evse"]),
                        what="evse restarted")
        runner.wait_for(r"evse up \(pid \d+, restarted 1x\)")
        children |= runner.children()
        assert services["evse"]["pid"] in children
        poll(lambda: runner.status()["connectors"][0], lambda c: c["evse"]["state"] == "Charging",
             what="session resumed after the restart")

        runner.proc.send_signal(signal.SIGTERM)
        assert runner.proc.wait(20) == 0, runner.output
        runner._reader.join(5)
        assert re.search(r"stopping evse, .*board, then the bus", runner.output)  # services first, board last
        assert runner.lines[-1] == "stopped"
        assert not addr_file.exists()
        assert not [pid for pid in children if alive(pid)]
        assert (tmp_path / "work" / "evse.log").exists()  # an explicit workdir is left for the logs
    finally:
        runner.kill()

    # --keep-state: the next run resumes the session the first one was charging.
    again = Runner(env, "--keep-state", str(tmp_path / "state"), "--services", "board,evse")
    try:
        again.wait_for(r"evcharge SIL is running")
        sessions = json.loads(again.ctl("session", "list", "--json").stdout)["sessions"]
        assert sessions[0]["session_id"] == c1["session"]["id"] and sessions[0]["token"] == "04A1B2C3"
        again.proc.send_signal(signal.SIGTERM)
        assert again.proc.wait(20) == 0, again.output
    finally:
        again.kill()


def test_duration_subset_and_temporary_workdir(env):
    runner = Runner(env, "--duration", "2", "--services", "board,evse")
    try:
        assert runner.proc.wait(30) == 0, runner.output
        runner._reader.join(5)
    finally:
        runner.kill()
    assert re.search(r"started board .*\n.*started evse", runner.output), runner.output
    assert "started energy" not in runner.output
    assert re.search(r"services: board up \(pid \d+\), evse up \(pid \d+\), energy DOWN", runner.output)
    workdir = Path(re.search(r"logs, configs (\S+)", runner.output)[1])
    assert not workdir.exists()  # the fresh temporary directory is removed
    assert not our_address_file(env).exists()


def test_sigkill_of_the_runner_takes_the_services_and_the_bus_with_it(env, tmp_path):
    """The services run in sessions of their own (Ctrl-C reaches only the runner); a SIGKILL,
    which the runner cannot handle, must not leave them running on a bus nobody uses."""
    runner = Runner(env, "--workdir", str(tmp_path / "work"), "--services", "board,evse,energy")
    try:
        runner.wait_for(r"evcharge SIL is running", timeout=60)
        children = runner.children()
        started = {int(m) for m in re.findall(r"started \w+ \(pid (\d+)\)", runner.output)}
        assert started and started < children   # the services plus the dbus-daemon
        runner.proc.kill()
        runner.proc.wait()
        poll(lambda: [pid for pid in children if alive(pid)], lambda left: not left, timeout=30,
             what="the services and the bus to exit")
    finally:
        runner.kill()
        for pid in children if "children" in locals() else ():
            if alive(pid):   # only when the test failed: leave nothing running for the next tests
                os.kill(pid, signal.SIGKILL)


def test_refuses_to_replace_a_running_sil(env, private_bus):
    addr_file = our_address_file(env)
    addr_file.parent.mkdir(parents=True)
    addr_file.write_text(private_bus.address + "\n")
    r = subprocess.run([sys.executable, "-m", "evcharge.sil", "--once"], check=False, capture_output=True, text=True, env=env,
                       timeout=20)
    assert r.returncode == 1 and f"another SIL is running on {private_bus.address}" in r.stderr
    assert addr_file.read_text().strip() == private_bus.address  # left alone


def test_stale_address_file_and_missing_profile(env, tmp_path):
    addr_file = our_address_file(env)
    addr_file.parent.mkdir(parents=True)
    addr_file.write_text(f"unix:path={tmp_path}/gone.sock\n")
    env = dict(env, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path}/no-system-bus.sock")
    r = subprocess.run([sys.executable, "-m", "evcharge.cli", "status"], check=False, capture_output=True, text=True, env=env,
                       timeout=20)
    assert r.returncode == 3
    assert "which does not answer" in r.stderr and "evcharge-sil" in r.stderr

    r = subprocess.run([sys.executable, "-m", "evcharge.sil", "--profile", str(tmp_path / "nope.yaml"), "--once"],
                       check=False, capture_output=True, text=True, env=env, timeout=20)
    assert r.returncode == 1 and "nope.yaml does not exist" in r.stderr


def test_ctrl_c_on_a_terminal_stops_services_in_order(env, tmp_path):
    """On a real terminal, Ctrl-C reaches the runner only; it stops the services, board last."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the runner, as a developer starts it from a shell
        os.execvpe(sys.executable, [sys.executable, "-m", "evcharge.sil", "--workdir", str(tmp_path / "w")], env)
    out = b""

    def read_until(marker: bytes, timeout: float) -> None:
        nonlocal out
        deadline = time.monotonic() + timeout
        while marker not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} in output:\n{out.decode(errors='replace')}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the runner closed the terminal
                    break
                if not chunk:
                    break
                out += chunk

    try:
        read_until(b"evcharge SIL is running", 30)
        os.write(fd, b"\x03")  # the terminal turns this into SIGINT for its foreground process group
        read_until(b"stopped", 30)
        _, status = os.waitpid(pid, 0)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text[-2000:]
    assert "stopping evse, auth, meter, energy, board, then the bus" in text
    assert "restarting" not in text  # no service saw the SIGINT and died on its own


@pytest.mark.parametrize("dc", [True, False], ids=["din-dc", "iso2-ac"])
def test_hlc_session_against_the_sil(env, tmp_path, dc):
    """`evcharge-sil --hlc 1 [--dc]` adds the SECC (and the DC power supply) and marks connector 1
    for HLC; `evchargectl ev hlc 1` then runs a whole session against it."""
    import socket

    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        port = str(s.getsockname()[1])
    runner = Runner(env, "--workdir", str(tmp_path / "work"), "--hlc", "1", *(["--dc"] if dc else []),
                    "--sdp-port", port)
    try:
        runner.wait_for(r"evcharge SIL is running", timeout=60)
        started = set(re.findall(r"started (\w+) \(pid \d+\)", runner.output))
        assert {"board", "evse", "iso15118"} <= started and ("power" in started) == dc
        assert "slac" not in started  # no --plc-interface: SDP on loopback, nothing to match
        assert f"evchargectl ev hlc 1 --protocol {'din' if dc else 'iso2'}" in runner.output
        assert runner.ctl("auth", "tap", "04A1B2C3").returncode == 0  # held until the plug-in
        proto = ["--protocol", "din"] if dc else ["--protocol", "iso2"]
        r = subprocess.run([sys.executable, "-m", "evcharge.cli", "ev", "hlc", "1", *proto, "--loops", "5",
                            "--sdp-port", port, "--json"], check=False, capture_output=True, text=True, env=runner.env,
                           timeout=120)
        assert r.returncode == 0, (r.stdout, r.stderr, runner.output[-3000:])
        res = json.loads(r.stdout.strip().splitlines()[-1])
        sent = [name for name, _n in res["requests"]]
        assert sent[-1] == "SessionStopReq" and ("CurrentDemandReq" if dc else "ChargingStatusReq") in sent
        if dc:
            assert "CableCheckReq" in sent and "PreChargeReq" in sent
            assert "DC output on" in (tmp_path / "work" / "power.log").read_text()
        # the HLC connector is billed by a DC meter on the supply's output with --dc
        kind = "sim-dc" if dc else "sim"
        assert f"meter for connector 1 ({kind}) online" in (tmp_path / "work" / "meter.log").read_text()
        sessions = poll(lambda: json.loads(runner.ctl("session", "list", "--json").stdout)["sessions"],
                        lambda s: s and s[0].get("ended_at"), what="session ended")
        assert sessions[0]["stop_reason"] == "StoppedByEV" and sessions[0]["token"] == "04A1B2C3"
        assert f'"protocol": "{"din" if dc else "iso2"}"' in (tmp_path / "work" / "evse.log").read_text()
        assert f"V2G session {res['session_id']} ended: SessionStop" in (tmp_path / "work" / "iso15118.log").read_text()
        runner.proc.send_signal(signal.SIGTERM)
        assert runner.proc.wait(30) == 0, runner.output
        runner._reader.join(5)
        assert re.search(r"stopping iso15118, .*evse, .*board, then the bus", runner.output)
    finally:
        runner.kill()
