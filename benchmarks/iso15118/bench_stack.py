"""EV round trip per message type through the whole charger (D-Bus controller), p50 / p99.

    python benchmarks/iso15118/bench_stack.py [--loops 300]

Unlike bench.py (SECC + simulated EVSE in one process), this runs the product's services on a
private dbus-daemon: board (sim), auth, evse, power (DC supply + IMD) and the V2G service with
`controller: evse`, and the EV simulator (`evcharge.sim.ev`, driving the simulated CP) for one
DIN DC and one ISO-2 DC session. CableCheck, PreCharge and CurrentDemand therefore go through
`org.evcharge.PowerSupply1`; the SECC answers from its cache, so the round trip should not grow
by a D-Bus call. `rtt` = the EV's round trip (encode, TCP on ::1, SECC, decode).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path

import yaml
from evcharge.common import names
from evcharge.common.bus import call, connect
from evcharge.sil.dbusd import start_bus
from evcharge.sil.supervisor import ServiceSpec, Supervisor

REPO = Path(__file__).resolve().parents[2]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


async def session(protocol: str, loops: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="evc-bench-") as tmp:
        d = Path(tmp)
        bus = start_bus(workdir=d / "bus")
        sup = Supervisor(bus.address, d)
        port = free_udp_port()
        cfgs = {
            "board": {"profile": str(REPO / "board-support/boards/sim.yaml")},
            "auth": {"allow_list": [{"token": "04A1B2C3", "token_type": "ISO14443"}],
                     "readers": [{"name": "rfid0", "type": "sim"}]},
            "evse": {"connectors": [{"id": 1, "max_current_a": 32, "hlc": True}, {"id": 2, "max_current_a": 32}]},
            "power": {"connector_id": 1},
            "iso15118": {"controller": "evse", "interface": "lo", "address": "::1", "sdp_port": port, "dc": True},
        }
        client = None
        try:
            for name, cfg in cfgs.items():
                (d / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
                await sup.start(ServiceSpec(name, ["--config", str(d / f"{name}.yaml"), "--log-level", "WARNING"]), 60)
            client = await connect(bus.address)
            await call(client, names.AUTH, names.AUTH_PATH, names.AUTH_SIM_IFACE, "Tap", "s", ["04A1B2C3"])
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "evcharge.sim.ev", "--sdp-address", "::1", "--sdp-port", str(port),
                "--connector", "1", "--protocol", protocol, "--dc", "--loops", str(loops), "--cycle-s", "0",
                "--timeout-scale", "4", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "EVCHARGE_BUS_ADDRESS": bus.address})
            out, err = await asyncio.wait_for(proc.communicate(), 600)
            res = json.loads(out.decode().strip().splitlines()[-1])
            if not res["ok"]:
                raise SystemExit(f"{protocol} session failed: {res['error']}\n{err.decode()[-2000:]}")
            return res["rtt_ms"]
        finally:
            if client:
                client.disconnect()
            await sup.stop_all()
            bus.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--loops", type=int, default=300, help="CurrentDemand requests per session")
    a = p.parse_args()
    print(f"EV round trip through the charger's services (D-Bus controller, PowerSupply1), {a.loops} "
          f"CurrentDemand per session (python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f})")
    print(f"{'session':9} {'request':30} {'n':>5} {'rtt p50':>8} {'rtt p99':>8}  ms")
    for label, protocol in (("DIN DC", "din"), ("ISO-2 DC", "iso2")):
        rtt = asyncio.run(session(protocol, a.loops))
        for name, vals in rtt.items():
            print(f"{label:9} {name:30} {len(vals):5d} {statistics.median(vals):8.3f} {pct(vals, 99):8.3f}")


if __name__ == "__main__":
    main()
