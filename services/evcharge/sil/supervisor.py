"""Runs services as child processes the way systemd does in the image.

Each child gets its own NOTIFY_SOCKET, so "ready" means the service said READY=1 (the same
sd_notify path systemd uses), and a child that dies with a failure is restarted
(Restart=on-failure). Tests use this to kill -9 a service and watch it come back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import lifeline

log = logging.getLogger(__name__)


@dataclass
class ServiceSpec:
    name: str                                  # module evcharge.<name>
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = True
    # Like WatchdogSec=: the child must send WATCHDOG=1 within this period or it is killed
    # (SIGABRT, as systemd does) and restarted. 0 disables.
    watchdog_s: float = 10.0


@dataclass
class _Child:
    spec: ServiceSpec
    process: asyncio.subprocess.Process | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)   # it said STOPPING=1
    starts: int = 0
    exits: list[int] = field(default_factory=list)
    notify_sock: socket.socket | None = None
    watcher: asyncio.Task[None] | None = None
    last_ping: float = 0.0
    watchdog_kills: int = 0
    watchdog_task: asyncio.Task[None] | None = None


class Supervisor:
    def __init__(self, bus_address: str, workdir: Path, *, restart_delay_s: float = 0.1,
                 python: str = sys.executable, die_with_parent: bool = False) -> None:
        self.bus_address = bus_address
        self.die_with_parent = die_with_parent  # see lifeline.py
        self.workdir = workdir
        self.restart_delay_s = restart_delay_s
        self.python = python
        self._children: dict[str, _Child] = {}
        self._stopping = False

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def state_dir(self, name: str) -> Path:
        return self.workdir / "state" / name

    def pid(self, name: str) -> int | None:
        child = self._children.get(name)
        if child and child.process and child.process.returncode is None:
            return child.process.pid
        return None

    def starts(self, name: str) -> int:
        return self._children[name].starts

    def exits(self, name: str) -> list[int]:
        return list(self._children[name].exits)

    def watchdog_kills(self, name: str) -> int:
        return self._children[name].watchdog_kills

    async def start(self, spec: ServiceSpec, timeout_s: float = 20.0) -> None:
        child = _Child(spec)
        self._children[spec.name] = child
        path = self.workdir / f"notify-{spec.name}.sock"
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        sock.bind(str(path))
        child.notify_sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_notify, child)
        await self._spawn(child)
        await self.wait_ready(spec.name, timeout_s)

    async def wait_ready(self, name: str, timeout_s: float = 20.0) -> None:
        child = self._children[name]
        try:
            await asyncio.wait_for(child.ready.wait(), timeout_s)
        except TimeoutError:
            tail = self.log_path(name).read_text(errors="replace")[-3000:] if self.log_path(name).exists() else ""
            raise RuntimeError(f"service {name} did not become ready in {timeout_s} s; log tail:\n{tail}") from None

    async def wait_stopping(self, name: str, timeout_s: float = 20.0) -> None:
        """Until the service said STOPPING=1 (it got SIGTERM and began its clean stop)."""
        try:
            await asyncio.wait_for(self._children[name].stopping.wait(), timeout_s)
        except TimeoutError:
            raise RuntimeError(f"service {name} did not begin stopping in {timeout_s} s") from None

    async def wait_restarted(self, name: str, previous_starts: int, timeout_s: float = 20.0) -> None:
        child = self._children[name]
        deadline = asyncio.get_running_loop().time() + timeout_s
        while child.starts <= previous_starts:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"service {name} was not restarted")
            await asyncio.sleep(0.02)
        await self.wait_ready(name, max(0.1, deadline - asyncio.get_running_loop().time()))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        pid = self.pid(name)
        if pid is None:
            raise RuntimeError(f"service {name} is not running")
        os.kill(pid, sig)

    async def stop(self, name: str) -> int | None:
        """SIGTERM the child and wait for it; returns its exit code."""
        child = self._children.pop(name)
        child.spec.restart = False
        if child.process and child.process.returncode is None:
            child.process.terminate()
            try:
                await asyncio.wait_for(child.process.wait(), 5)
            except TimeoutError:
                child.process.kill()
                await child.process.wait()
        if child.watcher:
            await asyncio.gather(child.watcher, return_exceptions=True)
        if child.watchdog_task:
            child.watchdog_task.cancel()
        if child.notify_sock:
            asyncio.get_running_loop().remove_reader(child.notify_sock.fileno())
            child.notify_sock.close()
        return child.process.returncode if child.process else None

    async def stop_all(self) -> None:
        self._stopping = True
        # Reverse start order: the board goes last, so it sees the others leave and stays safe.
        for name in reversed(list(self._children)):
            await self.stop(name)

    async def _spawn(self, child: _Child) -> None:
        spec = child.spec
        state = self.state_dir(spec.name)
        state.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(spec.env)
        env["EVCHARGE_BUS_ADDRESS"] = self.bus_address
        env["NOTIFY_SOCKET"] = str(self.workdir / f"notify-{spec.name}.sock")
        env["STATE_DIRECTORY"] = str(state)
        if spec.watchdog_s > 0:
            env["WATCHDOG_USEC"] = str(int(spec.watchdog_s * 1e6))
        else:
            env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        env.pop("JOURNAL_STREAM", None)
        env.setdefault("PYTHONUNBUFFERED", "1")
        logf = open(self.log_path(spec.name), "ab")  # noqa: SIM115 - handed to the child
        child.ready.clear()
        child.stopping.clear()
        child.process = await asyncio.create_subprocess_exec(
            self.python, "-m", f"evcharge.{spec.name}", *spec.args,
            stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
            # Own session, as under systemd: a terminal's Ctrl-C goes to whoever supervises us,
            # which stops the services in order instead of all of them dying at once.
            start_new_session=True, preexec_fn=lifeline.die_with_parent() if self.die_with_parent else None)
        logf.close()
        child.starts += 1
        child.last_ping = asyncio.get_running_loop().time()
        child.watcher = asyncio.create_task(self._watch(child, child.process))
        if spec.watchdog_s > 0 and child.watchdog_task is None:
            child.watchdog_task = asyncio.create_task(self._watchdog(child))

    async def _watch(self, child: _Child, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        child.exits.append(code)
        if self._stopping or not child.spec.restart or code == 0:
            return
        log.warning("service %s exited with %s; restarting", child.spec.name, code)
        await asyncio.sleep(self.restart_delay_s)
        if not self._stopping and child.spec.restart and self._children.get(child.spec.name) is child:
            await self._spawn(child)

    def _on_notify(self, child: _Child) -> None:
        assert child.notify_sock is not None
        try:
            data = child.notify_sock.recv(4096)
        except BlockingIOError:
            return
        lines = data.split(b"\n")
        if b"READY=1" in lines:
            child.ready.set()
        if b"STOPPING=1" in lines:
            child.stopping.set()
        if b"WATCHDOG=1" in lines or b"READY=1" in lines:
            child.last_ping = asyncio.get_running_loop().time()

    async def _watchdog(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(child.spec.watchdog_s / 4)
            proc = child.process
            if proc is None or proc.returncode is not None or not child.ready.is_set():
                continue
            if loop.time() - child.last_ping > child.spec.watchdog_s:
                log.warning("service %s missed its watchdog (%.1f s); killing it", child.spec.name,
                            child.spec.watchdog_s)
                child.watchdog_kills += 1
                child.last_ping = loop.time()
                try:
                    proc.send_signal(signal.SIGABRT)
                    proc.kill()  # a stopped or wedged process ignores SIGABRT until it runs again
                except ProcessLookupError:
                    pass
