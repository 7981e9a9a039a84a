"""SECC response time per message type over loopback (p50/p99), DIN DC, ISO-2 AC and ISO-2 DC.

    python benchmarks/iso15118/bench.py [--sessions 3] [--loops 300]

The SECC (evcharge.iso15118 transport + SECC core + simulated EVSE) runs in a child process, as in
the product; the EV simulator's state machine drives sessions back to back over TCP on ::1.
Two figures per message type: `secc` = from the request frame read to the response written, as the
SECC measures it (what ISO 15118-2 calls the performance time), and `rtt` = the EV's round trip
(adds the loopback and the EV's own encode/decode). Goal: CurrentDemandRes p99 <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys

from evcharge.iso15118.controllers import SimEvseController
from evcharge.iso15118.transport import ServerConfig, V2gServer
from evcharge.sim.ev import run_session
from evcharge.sim.evcc import Evcc, EvParams


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def serve(dc: bool) -> None:
    server = V2gServer(ServerConfig(interface="lo", address="::1", sdp_port=0),
                       SimEvseController(dc=dc, auth_delay_s=0.0, cable_check_s=0.0))
    await server.start()
    print(server.tcp_port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(json.dumps({k: [v * 1e3 for v in vs] for k, vs in server.stats.items()}), flush=True)


async def bench(sessions: int, loops: int) -> dict:
    out: dict = {}
    for label, protocol, dc in (("DIN DC", "din", True), ("ISO-2 AC", "iso2", False), ("ISO-2 DC", "iso2", True)):
        child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve", *(["--dc"] if dc else []),
                                                     stdout=asyncio.subprocess.PIPE)
        port = int((await child.stdout.readline()).decode())
        rtt: dict[str, list[float]] = {}
        for _ in range(sessions):
            res = await run_session("::1", port, Evcc(EvParams(protocol=protocol, dc=dc, charge_loops=loops)),
                                    cycle_s=0.0, timeout_scale=4.0)
            assert res.ok, res.error
            for k, v in res.rtt_ms.items():
                rtt.setdefault(k, []).extend(v)
        child.send_signal(signal.SIGTERM)
        secc = json.loads((await child.stdout.readline()).decode())
        await child.wait()
        out[label] = {"secc": secc, "rtt": rtt}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dc", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sessions", type=int, default=3)
    p.add_argument("--loops", type=int, default=300, help="CurrentDemand / ChargingStatus requests per session")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.serve:
        asyncio.run(serve(a.dc))
        return
    result = asyncio.run(bench(a.sessions, a.loops))
    if a.json:
        print(json.dumps(result))
        return
    print(f"SECC response time over loopback, {a.sessions} sessions x {a.loops} charge-loop requests "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    print(f"{'session':9} {'request':30} {'n':>5} {'secc p50':>9} {'secc p99':>9} {'rtt p50':>8} {'rtt p99':>8}  ms")
    for label, r in result.items():
        for name, vals in r["secc"].items():
            rt = r["rtt"].get(name, [float("nan")])
            print(f"{label:9} {name:30} {len(vals):5d} {statistics.median(vals):9.3f} {pct(vals, 99):9.3f} "
                  f"{statistics.median(rt):8.3f} {pct(rt, 99):8.3f}")


if __name__ == "__main__":
    main()
