"""sd_notify READY/WATCHDOG/STOPPING over systemd's (stable, documented) datagram protocol.

Spoken here rather than through python-systemd's `systemd.daemon`: that module and the libsystemd
it loads cost each service memory for one datagram (issue 7, benchmarks/memory.py).
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send `state` to the service manager; False when not run under systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(addr)
        s.sendall(state.encode())
    return True


def watchdog_interval_s() -> float | None:
    """Half the WatchdogSec systemd set for us (the documented safe ping rate), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6
