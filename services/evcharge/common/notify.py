"""sd_notify READY/WATCHDOG/STOPPING, through systemd-python when present.

The fallback speaks the (stable, documented) datagram protocol itself, so a service behaves the
same under systemd whether or not python3-systemd is installed.
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send `state` to the service manager; False when not run under systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    try:
        from systemd import daemon  # type: ignore[import-not-found]

        return bool(daemon.notify(state))
    except ImportError:
        pass
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
