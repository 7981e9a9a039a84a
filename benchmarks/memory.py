"""Memory of the whole charger stack: PSS per service process, and what each one imports.

Starts the services a charger runs (board with the simulated profile, energy, meter, auth, evse,
ocpp, update) as real processes on a private dbus-daemon, the way the SIL does, then reads
/proc/PID/smaps_rollup. PSS (proportional set size) is the figure issue 7 budgets (< 100 MiB for
the stack): shared pages (the interpreter, shared libraries) are split between the processes that
map them, so the sum over the services is what they cost together.

Phases (each measured a few seconds after the last change, so the heap has settled):
  idle       every service ready, ocpp pointed at a port where nothing listens (it keeps retrying)
  connected  ocpp restarted against the test CSMS (evcharge.sim.csms, in this process), booted
  charged    after one charging session on connector 1 (plug, card, charge, unplug) with ocpp
             reporting it to the CSMS

--importtime runs each service's start once more under PYTHONPROFILEIMPORTTIME (imports done
after start-up, e.g. lazily on connect, are included) and prints the packages costing the most
import time and the most modules.

    python benchmarks/memory.py [--phases idle,connected,charged] [--importtime] [--env K=V ...]

--env passes extra environment to every service (e.g. MALLOC_ARENA_MAX=2, as the units set).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import socket
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from evcharge.common import names  # noqa: E402
from evcharge.common.bus import call, connect, get_all  # noqa: E402
from evcharge.sil.dbusd import start_bus  # noqa: E402
from evcharge.sil.supervisor import ServiceSpec, Supervisor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("board", "energy", "meter", "auth", "evse", "ocpp", "update")
CARD = "04A1B2C3"
SETTLE_S = 3.0   # --settle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configs(csms_url: str) -> dict[str, dict]:
    conns = [{"id": 1, "max_current_a": 32}, {"id": 2, "max_current_a": 32}]
    return {
        "board": {"profile": str(REPO / "board-support/boards/sim.yaml")},
        "energy": {"site_limit_a": 32, "connectors": conns},
        "meter": {"meters": [{"connector_id": 1, "backend": "sim"}, {"connector_id": 2, "backend": "sim"}]},
        "auth": {"allow_list": [{"token": CARD, "token_type": "ISO14443"}],
                 "readers": [{"name": "rfid0", "type": "sim"}]},
        "evse": {"connectors": conns},
        "ocpp": {"csms_url": csms_url, "security_profile": 0,
                 "retry": {"backoff_wait_minimum_s": 1.0, "backoff_random_range_s": 1.0}},
        "update": {},
    }


def pss_kib(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        out[key.strip()] = int(rest.split()[0])
    return out


def print_table(phase: str, sup: Supervisor, services: list[str]) -> float:
    print(f"\n[{phase}]  {'service':<8} {'PSS MiB':>8} {'RSS MiB':>8} {'anon MiB':>9} {'USS MiB':>8}")
    total = 0.0
    for name in services:
        pid = sup.pid(name)
        if pid is None:
            print(f"{'':>{len(phase) + 3}}{name:<8} not running")
            continue
        m = pss_kib(pid)
        uss = m["Private_Clean"] + m["Private_Dirty"]
        total += m["Pss"] / 1024
        print(f"{'':>{len(phase) + 3}}{name:<8} {m['Pss'] / 1024:8.1f} {m['Rss'] / 1024:8.1f} "
              f"{m['Anonymous'] / 1024:9.1f} {uss / 1024:8.1f}")
    print(f"{'':>{len(phase) + 3}}{'total':<8} {total:8.1f}")
    return total


FLOOR = """
import asyncio
import evcharge.common.service
from evcharge.common.bus import connect
async def main():
    await connect()
    await asyncio.sleep(600)
asyncio.run(main())
"""


async def print_floor(address: str) -> None:
    """PSS of a process with only what every service imports (asyncio, dbus_fast, yaml, common), on the bus."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "services"), EVCHARGE_BUS_ADDRESS=address)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", FLOOR, env=env)
    try:
        await asyncio.sleep(3.0)
        m = pss_kib(proc.pid)
    finally:
        proc.terminate()
        await proc.wait()
    print(f"       floor: a process with only the imports every service shares, connected to the bus: "
          f"PSS {m['Pss'] / 1024:.1f} MiB (anon {m['Anonymous'] / 1024:.1f} MiB)")


async def charge_once(bus) -> None:
    async def conn() -> dict:
        return await get_all(bus, names.EVSE, names.evse_connector_path(1), names.EVSE_CONNECTOR_IFACE)

    async def wait(pred, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred(await conn()):
            if loop.time() > end:
                raise RuntimeError(f"connector 1 did not reach the expected state: {await conn()}")
            await asyncio.sleep(0.05)

    async def sim(member: str, sig: str = "", *args) -> None:
        await call(bus, names.BOARD, names.board_connector_path(1), names.BOARD_SIM_IFACE, member, sig, list(args))

    await sim("PlugIn", "d", 220.0)  # PP resistor of a 32 A cable
    await sim("SetEvReady", "b", True)
    await wait(lambda c: c["State"] == "Preparing")
    await call(bus, names.AUTH, names.AUTH_PATH, names.AUTH_SIM_IFACE, "Tap", "s", [CARD])
    await wait(lambda c: c["State"] == "Charging")
    await wait(lambda c: c["SessionEnergyWh"] > 0)
    await asyncio.sleep(2.0)
    await sim("Unplug")
    await wait(lambda c: c["State"] == "Available")


async def start_services(sup: Supervisor, work: Path, services: list[str], cfgs: dict[str, dict],
                         env: dict[str, str]) -> None:
    async def one(name: str) -> None:
        cfg = work / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump(cfgs[name]))
        # update looks for RAUC for up to 30 s before it serves without it (no RAUC on this bus)
        await sup.start(ServiceSpec(name, ["--config", str(cfg), "--log-level", "INFO"], env=dict(env)),
                        timeout_s=120 if name == "update" else 30)

    update = asyncio.create_task(one("update")) if "update" in services else None
    for name in services:
        if name != "update":
            await one(name)
    if update is not None:
        await update


async def measure(args: argparse.Namespace) -> None:
    from evcharge.sim.csms import Csms

    env = dict(kv.split("=", 1) for kv in args.env)
    services = [s for s in SERVICES if s in args.services]
    bus = start_bus()
    work = Path(tempfile.mkdtemp(prefix="evcharge-mem-"))
    sup = Supervisor(bus.address, work)
    csms = Csms()
    await csms.start()
    client = await connect(bus.address)
    totals: dict[str, float] = {}
    try:
        cfgs = configs(f"ws://127.0.0.1:{_free_port()}/ocpp")
        await start_services(sup, work, services, cfgs, env)
        await asyncio.sleep(args.settle)
        if "idle" in args.phases:
            totals["idle"] = print_table("idle", sup, services)
            await print_floor(bus.address)
        if "ocpp" in services and ({"connected", "charged"} & set(args.phases)):
            await sup.stop("ocpp")
            cfgs = configs(csms.url)
            (work / "ocpp.yaml").write_text(yaml.safe_dump(cfgs["ocpp"]))
            await sup.start(ServiceSpec("ocpp", ["--config", str(work / "ocpp.yaml"), "--log-level", "INFO"],
                                        env=dict(env)))
            await csms.wait_for("StatusNotification", 2, timeout=60)
            await asyncio.sleep(args.settle)
            if "connected" in args.phases:
                totals["connected"] = print_table("connected", sup, services)
        if "charged" in args.phases:
            await charge_once(client)
            await asyncio.sleep(args.settle)
            totals["charged"] = print_table("charged", sup, services)
    finally:
        client.disconnect()
        await sup.stop_all()
        await csms.stop()
        bus.stop()
    if totals:
        print("\ntotal PSS: " + ", ".join(f"{k} {v:.1f} MiB" for k, v in totals.items()))


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


async def importtime(args: argparse.Namespace) -> None:
    """Each service once more with PYTHONPROFILEIMPORTTIME=1; its log holds the import report."""
    from evcharge.sim.csms import Csms

    env = dict(kv.split("=", 1) for kv in args.env)
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    services = [s for s in SERVICES if s in args.services]
    bus = start_bus()
    work = Path(tempfile.mkdtemp(prefix="evcharge-mem-imports-"))
    sup = Supervisor(bus.address, work)
    csms = Csms()
    await csms.start()
    try:
        await start_services(sup, work, services, configs(csms.url), env)
        if "ocpp" in services:
            await csms.wait_for("StatusNotification", 2, timeout=60)
    finally:
        await sup.stop_all()
        await csms.stop()
        bus.stop()
    print(f"\nimports per service (PYTHONPROFILEIMPORTTIME, self time summed per top-level package; "
          f"top {args.top})")
    for name in services:
        self_us: collections.Counter[str] = collections.Counter()
        count: collections.Counter[str] = collections.Counter()
        for line in sup.log_path(name).read_text(errors="replace").splitlines():
            m = IMPORT_LINE.match(line)
            if not m:
                continue
            root = m.group(4).split(".")[0]
            self_us[root] += int(m.group(1))
            count[root] += 1
        total_ms = sum(self_us.values()) / 1000
        top = ", ".join(f"{pkg} {us / 1000:.0f} ms/{count[pkg]}" for pkg, us in self_us.most_common(args.top))
        print(f"  {name:<7} {sum(count.values()):4d} modules {total_ms:6.0f} ms: {top}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phases", default="idle,connected,charged",
                   type=lambda s: [x for x in s.split(",") if x], help="idle,connected,charged")
    p.add_argument("--services", default=",".join(SERVICES), type=lambda s: s.split(","))
    p.add_argument("--importtime", action="store_true", help="also report imports per service")
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--settle", type=float, default=SETTLE_S, metavar="S",
                   help=f"wait before each measurement (default {SETTLE_S:g} s; the services trim their heap "
                        "after start-up and then every 60 s)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment for the services")
    args = p.parse_args()
    print(f"python {sys.version.split()[0]}, {len(args.services)} services")
    asyncio.run(measure(args))
    if args.importtime:
        asyncio.run(importtime(args))


if __name__ == "__main__":
    main()
