"""Polls one backend and keeps its MeterState: offline/online transitions and their logging.

A push backend (the simulator) may wake the loop early; otherwise it runs every poll interval,
counted from the start of the previous poll so that slow meters do not stretch the period."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from evcharge.common.log import fields

from .backends import MeterBackend
from .reading import MeterState

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, state: MeterState, backend: MeterBackend, publish: Callable[[dict[str, Any]], None], *,
                 poll_interval_s: float, timeout_s: float) -> None:
        self.state = state
        self.backend = backend
        self.publish = publish
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        backend.on_change = self._wake.set

    async def poll_once(self) -> None:
        cid = self.state.connector_id
        try:
            reading = await self.backend.read(self.timeout_s)
            changed, came_online = self.state.update(reading)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # whatever a meter or its link does, the loop must go on
            reason = f"no answer within {self.timeout_s:g} s" if isinstance(e, TimeoutError) else str(e) or repr(e)
            changed, went_offline = self.state.fail(reason)
            if went_offline:
                log.warning("meter for connector %d (%s) offline: %s", cid, self.backend.kind, reason,
                            extra=fields(connector=cid))
        else:
            if came_online:
                log.info("meter for connector %d (%s) online", cid, self.backend.kind, extra=fields(connector=cid))
        if changed:
            self.publish(changed)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.poll_interval_s
            self._wake.clear()
            await self.poll_once()
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, due - loop.time()))
            except TimeoutError:
                pass

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.backend.stop()
