"""CP change (simulated EV) -> contactor command latency, through the real board service.

The client changes the simulated EV's S2 switch over D-Bus (Board1.Sim.SetEvReady) and waits
for the board's ContactorChanged signal. The figure therefore includes one D-Bus method call and
one signal on top of the board's sampling, debounce and decision: an upper bound of the
board's own latency. IEC 61851-1 allows 100 ms for C -> B. Run: python benchmarks/cp_to_contactor.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from _common import percentiles, report, running_stack
from evcharge.common import bus as busmod
from evcharge.common import names


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    path = names.board_connector_path(1)
    async with running_stack(["board"]) as (address, _sup):
        bus = await busmod.connect(address)
        changes: asyncio.Queue[tuple[float, bool]] = asyncio.Queue()
        sub = busmod.Subscription(bus, names.BOARD)
        await sub.start()
        await sub.signal(names.BOARD_CONNECTOR_IFACE, "ContactorChanged",
                         lambda msg: changes.put_nowait((time.perf_counter(), msg.body[0])), path=path)

        async def sim(member: str, sig: str, *a) -> None:
            await busmod.call(bus, names.BOARD, path, names.BOARD_SIM_IFACE, member, sig, list(a))

        async def board(member: str, sig: str, *a) -> None:
            await busmod.call(bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE, member, sig, list(a))

        # Play the evse service's part: heartbeat, lock and offer; the EV then closes S2.
        beat = asyncio.create_task(_heartbeat(bus))
        await sim("PlugIn", "d", 220.0)
        await board("SetLock", "b", True)
        await board("SetOffer", "d", 16.0)
        t, closed = await asyncio.wait_for(changes.get(), 5)
        assert closed
        open_lat, close_lat = [], []
        for _ in range(args.n):
            t0 = time.perf_counter()
            await sim("SetEvReady", "b", False)   # C -> B: must open
            t1, closed = await asyncio.wait_for(changes.get(), 5)
            assert not closed
            open_lat.append(t1 - t0)
            t0 = time.perf_counter()
            await sim("SetEvReady", "b", True)    # B -> C: closes (allowed 3 s)
            t1, closed = await asyncio.wait_for(changes.get(), 5)
            assert closed
            close_lat.append(t1 - t0)
        beat.cancel()
        bus.disconnect()
    print(f"python {sys.version.split()[0]}, sim board, cp_sample_period 10 ms, debounce 2 samples (re-sample after 1 ms)")
    report("C->B (EV S2 opens) -> contactor open", percentiles(open_lat))
    report("B->C (EV S2 closes) -> contactor closed", percentiles(close_lat))


async def _heartbeat(bus) -> None:
    while True:
        await busmod.call(bus, names.BOARD, names.BOARD_PATH, names.BOARD, "Heartbeat")
        await asyncio.sleep(0.25)


if __name__ == "__main__":
    asyncio.run(main())
