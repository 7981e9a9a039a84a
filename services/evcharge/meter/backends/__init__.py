"""Where readings come from. A backend's `read()` returns a Reading or raises; the poller owns
the online/offline state, so a backend only has to say what went wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..reading import Reading


class ReadError(Exception):
    """The meter answered wrongly or not at all; the message says how, for the log."""


class MeterBackend(Protocol):
    kind: str
    # Push backends call this when their values changed, so the poller publishes at once.
    on_change: Callable[[], None] | None

    async def start(self) -> None: ...

    async def read(self, timeout_s: float) -> Reading:
        """The current reading. `timeout_s` bounds the talking to the meter, not the wait for a
        line shared with other meters; it raises TimeoutError when exceeded."""
        ...

    async def stop(self) -> None: ...
