"""D-Bus method round trip and signal latency between evcharge processes (private dbus-daemon).

- method round trip: a client process calls the real board service (Board1.Heartbeat, the call the
  evse service makes every interval) and Properties.GetAll on a connector (what the CLI does).
- signal latency: a second process, built on the same dbus-fast service machinery as the services,
  emits signals carrying CLOCK_MONOTONIC (shared by all processes on the machine); the client
  subtracts on receipt. Run: python benchmarks/dbus_latency.py [--n 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from _common import percentiles, report, running_stack
from evcharge.common import bus as busmod
from evcharge.common import names

EMITTER = r"""
import asyncio, sys, time
from dbus_fast.service import ServiceInterface, signal, method
from evcharge.common.bus import connect

class Ping(ServiceInterface):
    def __init__(self):
        super().__init__("org.evcharge.Bench1")
    @signal()
    def Tick(self, t: float) -> "d":
        return t
    @method()
    def Burst(self, n: "u", gap_us: "u") -> None:
        asyncio.get_running_loop().create_task(self._burst(n, gap_us))
    async def _burst(self, n, gap_us):
        for _ in range(n):
            self.Tick(time.monotonic())
            await asyncio.sleep(gap_us / 1e6)

async def main():
    bus = await connect(sys.argv[1])
    bus.export("/org/evcharge/Bench1", Ping())
    await bus.request_name("org.evcharge.Bench1")
    print("ready", flush=True)
    await bus.wait_for_disconnect()

asyncio.run(main())
"""


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    async with running_stack(["board"]) as (address, _sup):
        bus = await busmod.connect(address)
        for _ in range(200):  # warm-up
            await busmod.call(bus, names.BOARD, names.BOARD_PATH, names.BOARD, "Heartbeat")
        rtt = []
        for _ in range(args.n):
            t0 = time.perf_counter()
            await busmod.call(bus, names.BOARD, names.BOARD_PATH, names.BOARD, "Heartbeat")
            rtt.append(time.perf_counter() - t0)
        getall = []
        for _ in range(args.n // 5):
            t0 = time.perf_counter()
            await busmod.get_all(bus, names.BOARD, names.board_connector_path(1), names.BOARD_CONNECTOR_IFACE)
            getall.append(time.perf_counter() - t0)

        emitter = subprocess.Popen([sys.executable, "-c", EMITTER, address], stdout=subprocess.PIPE, text=True)
        try:
            assert emitter.stdout is not None and emitter.stdout.readline().strip() == "ready"
            received: list[float] = []
            done = asyncio.Event()
            sub = busmod.Subscription(bus, "org.evcharge.Bench1")
            await sub.start()

            def on_tick(msg) -> None:
                received.append(time.monotonic() - msg.body[0])
                if len(received) >= args.n + 200:  # the first 200 warm up
                    done.set()

            await sub.signal("org.evcharge.Bench1", "Tick", on_tick, path="/org/evcharge/Bench1")
            await busmod.call(bus, "org.evcharge.Bench1", "/org/evcharge/Bench1", "org.evcharge.Bench1",
                              "Burst", "uu", [args.n + 200, 200])
            await asyncio.wait_for(done.wait(), 120)
            signal_lat = received[200:]
        finally:
            emitter.terminate()
            emitter.wait()
        bus.disconnect()

    print(f"python {sys.version.split()[0]}, dbus-fast, private dbus-daemon; client and services are separate processes")
    report("method round trip Board1.Heartbeat", percentiles(rtt))
    report("method round trip Properties.GetAll (14 props)", percentiles(getall))
    report("signal latency process -> process", percentiles(signal_lat))


if __name__ == "__main__":
    asyncio.run(main())
