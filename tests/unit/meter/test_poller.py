"""The poller against a scripted backend: timeouts and errors make the meter offline, once."""

import asyncio
import logging
from datetime import UTC, datetime

from evcharge.meter.backends import ReadError
from evcharge.meter.poller import Poller
from evcharge.meter.reading import MeterState, Reading


class ScriptedBackend:
    kind = "modbus-tcp"

    def __init__(self, script):
        self.script = list(script)  # each: a Reading, an exception, or "hang"
        self.on_change = None

    async def start(self):
        pass

    async def read(self, timeout_s):
        step = self.script.pop(0)
        if step == "hang":
            await asyncio.wait_for(asyncio.sleep(10), timeout_s)
        if isinstance(step, Exception):
            raise step
        return step

    async def stop(self):
        pass


def reading(wh):
    return Reading(wh, 0.0, (230.0,) * 3, (0.0,) * 3, 50.0, datetime(2026, 1, 1, tzinfo=UTC))


async def test_offline_on_timeout_and_error_online_again(caplog):
    backend = ScriptedBackend([reading(1.0), "hang", ReadError("refused"), reading(2.0)])
    published = []
    state = MeterState(1, backend.kind)
    poller = Poller(state, backend, published.append, poll_interval_s=0.01, timeout_s=0.05)
    with caplog.at_level(logging.INFO, logger="evcharge.meter.poller"):
        await poller.poll_once()
        assert state.online and published[-1]["EnergyWh"] == 1.0
        await poller.poll_once()
        assert not state.online and state.offline_reason == "no answer within 0.05 s"
        assert published[-1] == {"Online": False}
        await poller.poll_once()
        assert state.offline_reason == "refused"
        assert len(published) == 2  # nothing changed on the second failure
        await poller.poll_once()
        assert state.online and published[-1] == {"Online": True, "EnergyWh": 2.0}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("offline" in m for m in messages) == 1
    assert sum(m.endswith("online") for m in messages) == 2


async def test_push_backend_wakes_the_loop_before_the_interval():
    backend = ScriptedBackend([reading(1.0), reading(2.0), *[reading(2.0)] * 10])
    published = []
    poller = Poller(MeterState(1, "sim"), backend, published.append, poll_interval_s=30.0, timeout_s=1.0)
    poller.start()
    try:
        await asyncio.sleep(0.05)
        assert published[-1]["EnergyWh"] == 1.0
        backend.on_change()
        await asyncio.sleep(0.05)
        assert published[-1] == {"EnergyWh": 2.0}
    finally:
        await poller.stop()
