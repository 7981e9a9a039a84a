"""Boot health check (evcharge-healthcheck.service, RequiredBy=boot-complete.target).

Healthy when every service linked into evcharge.target is active and the board service serves
its connectors without a hardware fault (its self-test: the backend started, the safety MCU
link is up, no welded contactor or RCD trip). Exit 0 = healthy; anything else makes systemd
reboot (FailureAction=reboot) before mark-good, so GRUB falls back to the other slot.
    python3 -m evcharge.update.health [--timeout S]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from ..common import bus as busmod
from ..common import names

# Faults that mean the hardware (or its link) is broken, not a vehicle's doing.
HARDWARE_FAULTS = {"HardwareLinkLost", "ContactorWelded", "ContactorFailedToClose", "RcdTrip"}


def unit_problems(wants: list[str], states: dict[str, str]) -> list[str]:
    """Which evcharge services are not active (pure: fed `systemctl show` output)."""
    return [f"{u} is {states.get(u, 'missing')}" for u in sorted(wants)
            if u.startswith("evcharge-") and u.endswith(".service") and states.get(u) != "active"]


def board_problems(connector_faults: dict[int, list[str]]) -> list[str]:
    if not connector_faults:
        return ["the board reports no connectors"]
    return [f"connector {cid}: {f}" for cid, faults in sorted(connector_faults.items())
            for f in faults if f in HARDWARE_FAULTS]


def _systemctl_show(units: list[str], prop: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", "--property", f"Id,{prop}", *units],
                         capture_output=True, text=True, check=False).stdout
    states: dict[str, str] = {}
    uid = None
    for line in out.splitlines():
        if line.startswith("Id="):
            uid = line[3:]
        elif line.startswith(f"{prop}=") and uid:
            states[uid] = line[len(prop) + 1:]
    return states


async def _board_faults() -> dict[int, list[str]]:
    bus = await busmod.connect()
    try:
        ids = await busmod.get_property(bus, names.BOARD, names.BOARD_PATH, names.BOARD, "ConnectorIds")
        return {int(c): list(await busmod.get_property(bus, names.BOARD, names.board_connector_path(c),
                                                          names.BOARD_CONNECTOR_IFACE, "Faults")) for c in ids}
    finally:
        bus.disconnect()


def check() -> list[str]:
    wants = _systemctl_show(["evcharge.target"], "Wants").get("evcharge.target", "").split()
    problems = unit_problems(wants, _systemctl_show(wants, "ActiveState") if wants else {})
    if not wants:
        problems.append("evcharge.target wants no services")
    try:
        problems += board_problems(asyncio.run(_board_faults()))
    except Exception as e:  # noqa: BLE001 - no answer from the board is a failed self-test
        problems.append(f"board self-test: {e}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="evcharge-healthcheck", description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for health (default 90)")
    args = p.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    while True:
        problems = check()
        if not problems:
            print("healthy: every evcharge service active, board self-test passed", flush=True)
            return 0
        gave_up = [x for x in problems if x.endswith(" is failed")]
        if gave_up or time.monotonic() > deadline:
            print("UNHEALTHY: " + "; ".join(problems), file=sys.stderr, flush=True)
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
