"""evcharge-sil: the whole charger on a developer machine (software in the loop).

Starts a private dbus-daemon, then every service as its own process under the `Supervisor`
(READY=1 handshake, restart on crash) with the simulated board, publishes the bus address for
`evchargectl`, shows a live status, and on Ctrl-C / SIGTERM stops the services (board last), the
daemon, and removes the address file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..common.bus import connect
from ..common.config import ConfigError
from ..common.service import EXIT_CONFIG
from . import configs
from .address import address_file, read_address, remove_address, write_address
from .dbusd import PrivateBus, start_bus
from .status import LiveStatus
from .supervisor import ServiceSpec, Supervisor

log = logging.getLogger("evcharge.sil")

START_TIMEOUT_S = 20.0
CRASHES_BEFORE_GIVING_UP = 3
EXIT_FAILED = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="evcharge-sil", description="Run every evcharge service against a simulated "
                                "board on a private D-Bus; drive it with evchargectl.")
    p.add_argument("--profile", help="board profile (default: board-support/boards/sim.yaml of this checkout, else "
                                     "the installed /usr/share/evcharge/boards/sim.yaml)")
    p.add_argument("--services", type=_services, default=None, metavar="NAME[,NAME...]",
                   help=f"run only these ({', '.join(configs.ALL_SERVICES)}; default all that are installed)")
    p.add_argument("--workdir", type=Path, help="configs, logs, sockets (default: a fresh temporary directory, "
                                                "removed at exit)")
    p.add_argument("--keep-state", type=Path, metavar="DIR",
                   help="keep the services' state (sessions, energy counters) in DIR across runs")
    p.add_argument("--config-dir", type=Path, metavar="DIR",
                   help="use DIR/<service>.yaml instead of the generated config where it exists")
    p.add_argument("--site-limit", type=float, default=32.0, metavar="A", help="site current limit (default 32 A)")
    p.add_argument("--hlc", type=int, metavar="CONNECTOR",
                   help="ISO 15118 / DIN 70121 on this connector: 5 %% PWM, and the SECC (v2g service) on "
                        "loopback; run a session with `evchargectl ev hlc CONNECTOR`")
    p.add_argument("--dc", action="store_true", help="with --hlc: DC, with the power service (org.evcharge.PowerSupply1)")
    p.add_argument("--plc-interface", metavar="IFACE",
                   help="with --hlc: the SECC and the slac service on this interface (SLAC needs CAP_NET_RAW, "
                        "a PLC modem or the fake one, evcharge.sim.plc_modem)")
    p.add_argument("--sdp-port", type=int, default=15118, help="with --hlc: the SECC's SDP port (default 15118)")
    end = p.add_mutually_exclusive_group()
    end.add_argument("--once", action="store_true", help="start, print the status once, stop")
    end.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--log-level", default="INFO", help="level of the services' logs in the workdir (default INFO)")
    return p.parse_args(argv)


def _services(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in configs.ALL_SERVICES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"services must be a comma-separated subset of "
                                         f"{','.join(configs.ALL_SERVICES)}, got {text!r}")
    return [n for n in configs.ALL_SERVICES if n in names]  # always the dependency order


async def _address_in_use() -> str | None:
    """The bus of another runner that is still alive, if its address file says so."""
    other = read_address()
    if not other:
        return None
    try:
        bus = await asyncio.wait_for(connect(other), 3.0)
    except Exception:  # noqa: BLE001 - stale file from a killed runner: ours replaces it
        return None
    bus.disconnect()
    return other


async def _start_one(sup: Supervisor, spec: ServiceSpec) -> str | None:
    """Start a service; None when ready, else why not (it is then stopped, not retried forever)."""
    task = asyncio.create_task(sup.start(spec, START_TIMEOUT_S))
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.1)
        if done:
            try:
                task.result()
                return None
            except RuntimeError as e:
                reason = str(e).splitlines()[0]
                break
        try:
            exits = sup.exits(spec.name)
        except KeyError:
            continue
        if EXIT_CONFIG in exits or len(exits) >= CRASHES_BEFORE_GIVING_UP:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            reason = f"exited with {exits[-1]} ({len(exits)} attempt(s))"
            break
    await sup.stop(spec.name)
    tail = sup.log_path(spec.name).read_text(errors="replace").strip().splitlines()[-12:]
    return reason + "".join(f"\n    | {line}" for line in tail)


def _banner(address: str, addr_file: Path, workdir: Path, started: list[str], profile: Path,
            hlc: configs.HlcSetup | None = None) -> str:
    hlc_lines = ""
    if hlc is not None:
        kind = "--protocol din" if hlc.dc else "--protocol iso2"
        where = f" --interface {hlc.plc_interface} --sdp-address ''" if hlc.plc_interface else ""
        port = f" --sdp-port {hlc.sdp_port}" if hlc.sdp_port != 15118 else ""
        hlc_lines = (f"  evchargectl ev hlc {hlc.connector} {kind}{' --dc' if hlc.dc else ''}{where}{port} &"
                     "   # then: evchargectl auth tap 04A1B2C3\n")
    tokens = "\n".join(f"    {t['token']:<16} {t['status']}" for t in configs.DEMO_TOKENS)
    return f"""evcharge SIL is running
  bus address   {address}
  address file  {addr_file}  (evchargectl finds the bus through it)
  board profile {profile}
  services      {', '.join(started)}
  logs, configs {workdir}
  demo cards (auth allow list, simulated reader {configs.SIM_READER}):
{tokens}
try, in another terminal:
  evchargectl status
  evchargectl ev plug 1 --cable 32
  evchargectl auth tap 04A1B2C3          # or: evchargectl session start 1 MYTOKEN
  evchargectl ev ready 1 on
  evchargectl monitor
  evchargectl session stop 1 && evchargectl ev unplug 1
{hlc_lines}"""


@dataclass
class Workdir:
    path: Path
    keep: bool  # a temporary one is kept after a failure, for its logs


@contextlib.contextmanager
def _workdir(explicit: Path | None) -> Iterator[Workdir]:
    if explicit:
        explicit.mkdir(parents=True, exist_ok=True)
        yield Workdir(explicit.resolve(), keep=True)
        return
    wd = Workdir(Path(tempfile.mkdtemp(prefix="evcharge-sil-")), keep=False)
    try:
        yield wd
    finally:
        if not wd.keep:
            shutil.rmtree(wd.path, ignore_errors=True)


async def _preflight(args: argparse.Namespace) -> tuple[Path, list[str], dict[str, dict], configs.HlcSetup | None]:
    """(profile, services to run, their generated configs), or SilSetupError saying why not."""
    profile = configs.find_profile(args.profile)
    other = await _address_in_use()
    if other:
        raise configs.SilSetupError(f"another SIL is running on {other} (address file {address_file()}); "
                                    "stop it first")
    if (args.dc or args.plc_interface) and args.hlc is None:
        raise configs.SilSetupError("--dc and --plc-interface need --hlc CONNECTOR")
    hlc = configs.HlcSetup(args.hlc, dc=args.dc, plc_interface=args.plc_interface or "", sdp_port=args.sdp_port) \
        if args.hlc is not None else None
    wanted = args.services or [s for s in configs.ALL_SERVICES if configs.installed(s)]
    if hlc is not None:
        wanted = wanted + hlc.services
    missing = [s for s in wanted if not configs.installed(s)]
    if missing:
        raise configs.SilSetupError(f"not installed here: {', '.join(missing)}")
    if args.services is None and len([s for s in wanted if s in configs.ALL_SERVICES]) < len(configs.ALL_SERVICES):
        skipped = [s for s in configs.ALL_SERVICES if s not in wanted]
        print(f"evcharge-sil: not installed, skipped: {', '.join(skipped)}", file=sys.stderr)
    try:
        generated = configs.service_configs(profile, args.site_limit, hlc)
    except ConfigError as e:
        raise configs.SilSetupError(f"unusable board profile: {e}") from None
    return profile, wanted, generated, hlc


async def _start_all(sup: Supervisor, wanted: list[str], paths: dict[str, Path], args: argparse.Namespace,
                     wd: Workdir, stop: asyncio.Event, started: list[str]) -> bool:
    """Start `wanted` in order, appending to `started`; False if the SIL cannot run (no board, or stopped)."""
    for name in wanted:
        extra = ["--state-dir", str(args.keep_state / name)] if args.keep_state else []
        failure = await _start_one(sup, ServiceSpec(name, ["--config", str(paths[name]), "--log-level",
                                                           args.log_level, *extra]))
        if failure is None:
            started.append(name)
            print(f"started {name} (pid {sup.pid(name)})", flush=True)
        else:
            wd.keep = True
            print(f"evcharge-sil: {name} did not start: {failure}\n  (logs kept in {wd.path})", file=sys.stderr)
            if name == "board":  # nothing works without it
                return False
        if stop.is_set():
            return False
    return True


async def run(args: argparse.Namespace) -> int:
    try:
        profile, wanted, generated, hlc = await _preflight(args)
    except configs.SilSetupError as e:
        print(f"evcharge-sil: {e}", file=sys.stderr)
        return EXIT_FAILED
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # The children run in sessions of their own (see Supervisor), so Ctrl-C reaches only us and
    # we stop them in order: services first, the board last, then the bus.
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    with _workdir(args.workdir) as wd:
        paths = configs.write_configs(wd.path, generated, wanted, args.config_dir)
        # die_with_parent: a SIGKILL of this process takes the bus and the services with it.
        daemon: PrivateBus = start_bus(workdir=wd.path / "bus", die_with_parent=True)
        sup = Supervisor(daemon.address, wd.path, die_with_parent=True)
        addr_file: Path | None = None
        started: list[str] = []
        try:
            if not await _start_all(sup, wanted, paths, args, wd, stop, started):
                return 0 if stop.is_set() else EXIT_FAILED
            addr_file = write_address(daemon.address)
            print(_banner(daemon.address, addr_file, wd.path, started, profile, hlc), flush=True)
            return await _live(daemon.address, sup, started, stop, args)
        finally:
            print(f"stopping {''.join(n + ', ' for n in reversed(started))}then the bus", flush=True)
            await sup.stop_all()  # reverse start order: board last
            daemon.stop()
            if addr_file is not None:
                remove_address(daemon.address, addr_file)
            print("stopped", flush=True)


async def _live(address: str, sup: Supervisor, started: list[str], stop: asyncio.Event,
                args: argparse.Namespace) -> int:
    bus = await connect(address)

    def restarts() -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in started:
            with contextlib.suppress(KeyError):
                counts[name] = sup.starts(name) - 1
        return counts

    live = LiveStatus(bus, sys.stdout, tty=sys.stdout.isatty() and not args.once, restarts=restarts)
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    if live.tty:  # the supervisor's warnings (restarts) go through the view, so a redraw does not eat them
        root.handlers = [live.log_handler()]

    # Without the daemon nothing can work: end the run rather than show a frozen status.
    def on_disconnect(task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: the reason does not matter here
            stop.set()

    lost = asyncio.ensure_future(bus.wait_for_disconnect())
    lost.add_done_callback(on_disconnect)
    try:
        await live.start()
        if args.once:
            await live.render_once()
            return 0
        timer = asyncio.get_running_loop().call_later(args.duration, stop.set) if args.duration else None
        await live.run(stop)
        if timer:
            timer.cancel()
        if lost.done():
            print("evcharge-sil: lost the bus (did the dbus-daemon exit?)", file=sys.stderr)
            return EXIT_FAILED
        return 0
    finally:
        root.handlers = saved_handlers
        lost.cancel()
        bus.disconnect()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="evcharge-sil: %(message)s")
    try:
        sys.exit(asyncio.run(run(args)))
    except KeyboardInterrupt:  # only if SIGINT arrived through another path (e.g. a debugger)
        sys.exit(130)


if __name__ == "__main__":
    main()
