#!/usr/bin/env python3
"""Fleet run: N real OCPP stations in one process (one core) against one CSMS process (another core).

    python benchmarks/ocpp/fleet.py [--stations 250,500,1000,1500] [--window 60] [--validation as-configured]

Each station is the real `OcppService` (see `_station.py` for what is real and what replaces
D-Bus), with its own WebSocket to the CSMS and its own SQLite queue (WAL, fsync per commit).
Every station boots, plugs in an EV and charges for the whole run: a TransactionEvent
(Updated, meter values Energy + Power) every 10 s from the service's own sampling timer
(SampledDataCtrlr.TxUpdatedInterval = 10, heartbeat interval 10 s, which the meter values
suppress), i.e. 1 message per station per 10 s. After all are charging, the window measures:

- msgs/s: CALLs the stations completed (CALL + CALLRESULT) per second;
- RTT: Link.call as the station sees it (validate, send, CSMS answers, validate the answer);
- CPU %: of the station process (pinned to core 0) and of the CSMS process (core 1);
- RSS of both processes.

The CSMS is `evcharge.sim.csms.Csms` with frame recording switched off (a test CSMS keeps
every frame for assertions; a fleet run would only grow its memory). Prints figures, asserts
nothing. `--profile FILE` writes a cProfile of the station process's window.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import _common  # noqa: E402,F401  (puts services/ on the path)
from _station import (  # noqa: E402
    MODES,
    RttProbe,
    SimCharger,
    cpu_s,
    make_station,
    rss_kb,
    runq_wait_s,
    set_validation,
    wait_online,
)


def pin(core: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[core % len(cores)]})


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the CSMS process -----------------------------------------------------------------------------
async def csms_main(validation: str, heartbeat_s: int) -> None:
    from evcharge.sim.csms import Behaviour, Csms, Frame

    class QuietCsms(Csms):
        def _record(self, direction: str, raw: str | bytes) -> Frame:
            return Frame(direction, "", None)

    set_validation(validation)
    csms = QuietCsms(port=0, behaviour=Behaviour(boot_interval=heartbeat_s))
    await csms.start()
    print(json.dumps({"url": csms.url, "pid": os.getpid()}), flush=True)
    await asyncio.Event().wait()


def start_csms(validation: str, heartbeat_s: int, core: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, __file__, "--csms", "--validation", validation,
                             "--heartbeat", str(heartbeat_s), "--core", str(core)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the CSMS process did not start")
    return proc, json.loads(line)["url"]


# --- the station process --------------------------------------------------------------------------
async def stations_main(n: int, url: str, csms_pid: int, window: float, validation: str, ramp_per_s: float,
                        profile: str | None, fsync: bool, gc_freeze: bool) -> dict:
    set_validation(validation)
    probe = RttProbe()
    probe.install()
    root = Path(tempfile.mkdtemp(prefix="evcharge-fleet-"))
    svcs = [make_station(i, url, root, fsync=fsync) for i in range(n)]
    chargers = [SimCharger(s) for s in svcs]
    t_start = time.monotonic()
    for i, s in enumerate(svcs):
        await s.start()
        if (i + 1) % max(1, int(ramp_per_s / 10)) == 0:
            await asyncio.sleep(0.1)
    await wait_online(svcs, timeout=60 + n / 20)
    # Plug in over one sampling interval, so that the stations' 10 s timers are spread evenly.
    for i, c in enumerate(chargers):
        c.plug_in_and_charge()
        if (i + 1) % max(1, n // 100) == 0:
            await asyncio.sleep(0.1)

    async def meters() -> None:  # the meter service's 1 s EnergyWh/PowerW updates
        while True:
            await asyncio.sleep(1.0)
            for c in chargers:
                c.meter_tick(1.0)

    gc_pauses: list[tuple[int, float]] = []
    gc_t0 = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_t0[0]))

    gc.callbacks.append(on_gc)
    if gc_freeze:  # everything built during the ramp is long-lived: keep the collector from walking it
        gc.freeze()
    lag: list[float] = []

    async def lag_probe() -> None:  # how late the event loop runs a 50 ms timer: time others wait for the loop
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            lag.append(time.monotonic() - t - 0.05)

    meter_task = asyncio.create_task(meters())
    lag_task = asyncio.create_task(lag_probe())
    await asyncio.sleep(12)  # every station has sent its first periodic sample
    ramp_s = time.monotonic() - t_start
    probe.reset()
    lag.clear()
    gc_pauses.clear()
    la0 = os.getloadavg()
    prof = cProfile.Profile() if profile else None
    c0, cc0, t0 = cpu_s(), cpu_s(csms_pid), time.monotonic()
    w0, cw0 = runq_wait_s(), runq_wait_s(csms_pid)
    if prof:
        prof.enable()
    await asyncio.sleep(window)
    if prof:
        prof.disable()
    c1, cc1, t1 = cpu_s(), cpu_s(csms_pid), time.monotonic()
    w1, cw1 = runq_wait_s(), runq_wait_s(csms_pid)
    la1 = os.getloadavg()
    samples = list(probe.samples)
    errors = probe.errors
    meter_task.cancel()
    lag_task.cancel()
    lag_ms = sorted(x * 1000 for x in lag)
    if prof:
        prof.dump_stats(profile)
    wall = t1 - t0
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [float("nan")] * 99
    queued = sum(len(s.queue) for s in svcs)
    offline = sum(1 for s in svcs if not s.online)
    result = {
        "stations": n, "validation": validation, "fsync": fsync, "window_s": round(wall, 1), "ramp_s": round(ramp_s, 1),
        "calls": len(ms), "msgs_per_s": len(ms) / wall, "errors": errors, "queued_at_end": queued,
        "offline_at_end": offline,
        "cpu_station_pct": 100 * (c1 - c0) / wall, "cpu_csms_pct": 100 * (cc1 - cc0) / wall,
        "cpu_station_us_per_msg": 1e6 * (c1 - c0) / max(1, len(ms)),
        "cpu_csms_us_per_msg": 1e6 * (cc1 - cc0) / max(1, len(ms)),
        "p50_ms": statistics.median(ms) if ms else float("nan"), "p99_ms": q[98], "max_ms": ms[-1] if ms else 0,
        "loop_lag_p50_ms": statistics.median(lag_ms), "loop_lag_p99_ms": lag_ms[int(0.99 * (len(lag_ms) - 1))],
        "runq_station_pct": 100 * (w1 - w0) / wall, "runq_csms_pct": 100 * (cw1 - cw0) / wall,
        "gc2_count": sum(1 for g, _ in gc_pauses if g == 2),
        "gc_max_ms": 1000 * max((d for _, d in gc_pauses), default=0.0),
        "rss_station_mb": rss_kb() / 1024, "rss_csms_mb": rss_kb(csms_pid) / 1024,
        "loadavg": [round(x, 2) for x in (la0[0], la1[0])],
    }
    for s in svcs:
        await s.stop()
    shutil.rmtree(root, ignore_errors=True)
    return result


def run_one(n: int, args: argparse.Namespace) -> dict:
    csms, url = start_csms(args.validation, 10, core=1)
    try:
        cmd = [sys.executable, __file__, "--run", str(n), "--url", url, "--csms-pid", str(csms.pid),
               "--window", str(args.window), "--validation", args.validation, "--core", "0",
               "--log-level", args.log_level, "--fsync", args.fsync] + (["--gc-freeze"] if args.gc_freeze else [])
        if args.profile:
            cmd += ["--profile", f"{args.profile}.{n}"]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=600 + n)
        if out.returncode != 0:
            raise RuntimeError(f"station process failed ({out.returncode})")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        csms.terminate()
        csms.wait()


def print_row(r: dict) -> None:
    print(f"stations={r['stations']:<5} msgs/s={r['msgs_per_s']:6.1f}  "
          f"CPU station={r['cpu_station_pct']:5.1f}% ({r['cpu_station_us_per_msg']:.0f} us/msg) "
          f"CSMS={r['cpu_csms_pct']:5.1f}% ({r['cpu_csms_us_per_msg']:.0f} us/msg)  "
          f"RTT p50={r['p50_ms']:.2f} p99={r['p99_ms']:.2f} max={r['max_ms']:.1f} ms  "
          f"loop lag p50={r['loop_lag_p50_ms']:.1f} p99={r['loop_lag_p99_ms']:.1f} ms  "
          f"gc: {r['gc2_count']} full, max {r['gc_max_ms']:.0f} ms  "
          f"waiting for a CPU: station {r['runq_station_pct']:.1f}% CSMS {r['runq_csms_pct']:.1f}%  "
          f"RSS station={r['rss_station_mb']:.0f} MB CSMS={r['rss_csms_mb']:.0f} MB  "
          f"errors={r['errors']} queued={r['queued_at_end']} offline={r['offline_at_end']}  "
          f"load {r['loadavg'][0]:.1f}->{r['loadavg'][1]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stations", default="250,500,1000,1500")
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--validation", choices=MODES, default="as-configured")
    ap.add_argument("--profile", help="write a cProfile of each station process's window to FILE.<N>")
    ap.add_argument("--log-level", default="INFO", help="of the station process (the service's default: INFO)")
    ap.add_argument("--fsync", choices=("on", "off"), default="on",
                    help="off: queue commits without fsync (one disk serves the whole fleet here)")
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the ramp (see README)")
    ap.add_argument("--ramp", type=float, default=200.0, help="stations started per second")
    # internal: the two child processes
    ap.add_argument("--csms", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--run", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--csms-pid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--heartbeat", type=int, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--core", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:  # the service ships logging at INFO (to the journal); here to a file
        logging.basicConfig(level=args.log_level, filemode="w",
                            filename=os.path.join(tempfile.gettempdir(), "evcharge-fleet-stations.log"),
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    else:
        logging.basicConfig(level=logging.WARNING)
    raise_fd_limit()
    if args.core is not None:
        pin(args.core)
    if args.csms:
        asyncio.run(csms_main(args.validation, args.heartbeat))
        return
    if args.run:
        r = asyncio.run(stations_main(args.run, args.url, args.csms_pid, args.window, args.validation,
                                      args.ramp, args.profile, args.fsync == "on",
                                      args.gc_freeze))
        print(json.dumps(r), flush=True)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, station process pinned to core 0, CSMS to "
          f"core 1; validation {args.validation}; queue fsync {args.fsync}; "
          f"1 TransactionEvent per station per 10 s; window {args.window:.0f} s")
    for n in (int(x) for x in args.stations.split(",")):
        print_row(run_one(n, args))


if __name__ == "__main__":
    main()
