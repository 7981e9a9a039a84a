"""Children that die with evcharge-sil.

The supervisor puts each service (and the private dbus-daemon) in a session of its own, as
systemd does, so a terminal's Ctrl-C reaches only the runner, which stops them in order. The
price: a SIGKILL of the runner (an IDE's stop button, an OOM kill) left the services running
on a bus nobody uses. Linux's parent-death signal closes that gap: the kernel sends SIGTERM to
the child when the thread that started it exits, and the services handle SIGTERM like a stop
under systemd. The thread matters: only the runner, whose event loop thread lives as long as the
process, asks for it; the library default (tests start buses from short-lived threads) is off.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when its parent dies (None off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)   # resolved before the fork, not in the child
    prctl = libc.prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:   # the parent died between fork and prctl: nobody will tell us
            os._exit(1)
    return preexec
