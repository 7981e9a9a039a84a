"""evchargectl: inspect and drive the charger's services over D-Bus (`evchargectl <noun> <verb>`).

Exit codes: 0 ok, 1 the service answered with a D-Bus error, 2 usage, 3 bus or service not
reachable. `--json` prints exactly one JSON document on stdout (JSON lines for `monitor`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from . import commands as cmd
from . import format as fmt
from . import monitor
from .args import (
    CABLE_OHM,
    amps,
    cable,
    connector,
    connector_or_site,
    count,
    number,
    ohms,
)
from .client import EXIT_OK, SERVICES, Client, CliError, ServiceError, open_bus

PROG = "evchargectl"


def _common() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the noun is not reset by a subcommand that repeats it.
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print one JSON document (monitor: JSON lines)")
    p.add_argument("--bus-address", default=argparse.SUPPRESS, metavar="ADDRESS",
                   help="D-Bus address (default $EVCHARGE_BUS_ADDRESS, else a running SIL, else the system bus)")
    return p


class _Tree:
    """Builds `<noun> <verb> ...` subcommands that all accept the common options."""

    def __init__(self, parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
        self.common = common
        self.sub = parser.add_subparsers(dest=f"_command_{id(parser)}", metavar="COMMAND", required=True)

    def group(self, name: str, help: str) -> _Tree:
        return _Tree(self.sub.add_parser(name, help=help, description=help, parents=[self.common]), self.common)

    def leaf(self, name: str, handler: Any, help: str) -> argparse.ArgumentParser:
        p = self.sub.add_parser(name, help=help, description=help, parents=[self.common])
        p.set_defaults(handler=handler)
        return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog=PROG, description="Inspect and drive the evcharge services over D-Bus.",
        epilog="Exit codes: 0 ok, 1 error from a service, 2 usage, 3 bus or service not reachable.")
    parser.add_argument("--json", action="store_true", help="print one JSON document (monitor: JSON lines)")
    parser.add_argument("--bus-address", metavar="ADDRESS",
                        help="D-Bus address (default $EVCHARGE_BUS_ADDRESS, else a running SIL, else the system bus)")
    root = _Tree(parser, common)

    root.leaf("status", cmd.status, "every connector, the site and which services are up")

    p = root.leaf("monitor", monitor.run, "follow signals and property changes, one line per event")
    p.add_argument("services", nargs="*", type=service_name, metavar="SERVICE",
                   help=f"only these services ({', '.join(SERVICES)}; default all)")
    p.add_argument("--count", type=count, default=0, metavar="N", help="exit after N events")
    p.add_argument("--duration", type=lambda t: number(t, "duration"), default=0.0, metavar="S",
                   help="exit after S seconds")

    session = root.group("session", "charging sessions (evse service)")
    p = session.leaf("list", cmd.session_list, "recent sessions, newest first")
    p.add_argument("--limit", type=count, default=20, metavar="N", help="at most N sessions (0 = all kept; default 20)")
    p = session.leaf("start", cmd.session_start, "authorize a session remotely (RemoteStart)")
    p.add_argument("connector", type=connector)
    p.add_argument("token", help="the id token to charge with")
    p = session.leaf("stop", cmd.session_stop, "stop the running session")
    p.add_argument("connector", type=connector)
    p.add_argument("--reason", help="OCPP stop reason (default Remote)")
    for verb, handler in (("pause", cmd.session_pause), ("resume", cmd.session_resume)):
        p = session.leaf(verb, handler, f"{verb} the running session")
        p.add_argument("connector", type=connector)

    conn = root.group("connector", "connector settings (evse service)")
    p = conn.leaf("availability", cmd.connector_availability, "make a connector operative or inoperative")
    p.add_argument("connector", type=connector)
    p.add_argument("availability", choices=["operative", "inoperative"])

    limit = root.group("energy", "current limits (energy service)").group("limit", "external current limits")
    p = limit.leaf("set", cmd.energy_limit_set, "limit a connector or the site (a limit only lowers)")
    p.add_argument("target", type=connector_or_site, metavar="CONNECTOR|site")
    p.add_argument("amps", type=amps)
    p.add_argument("--source", default=cmd.DEFAULT_LIMIT_SOURCE, help=f"who sets it (default {cmd.DEFAULT_LIMIT_SOURCE})")
    p = limit.leaf("clear", cmd.energy_limit_clear, "remove a limit set by a source")
    p.add_argument("target", type=connector_or_site, metavar="CONNECTOR|site")
    p.add_argument("--source", default=cmd.DEFAULT_LIMIT_SOURCE, help=f"whose limit (default {cmd.DEFAULT_LIMIT_SOURCE})")

    auth = root.group("auth", "tokens (auth service)")
    p = auth.leaf("tap", cmd.auth_tap, "present an RFID card to the simulated reader")
    p.add_argument("uid", help="card UID in hex (8, 14 or 20 digits)")
    p = auth.leaf("validate", cmd.auth_validate, "ask the auth service whether a token may charge")
    p.add_argument("token")
    p.add_argument("--type", default="ISO14443", help="OCPP IdToken type (default ISO14443)")

    ev = root.group("ev", "the simulated EV (board sim backend)")
    p = ev.leaf("plug", cmd.ev_plug, "plug the EV in")
    p.add_argument("connector", type=connector)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--cable", type=cable, default=32, metavar="|".join(map(str, CABLE_OHM)),
                     help="cable ampacity, coded by its PP resistor (default 32)")
    how.add_argument("--pp-ohm", type=ohms, metavar="R", help="PP resistor in ohms, for odd cables")
    p = ev.leaf("unplug", cmd.ev_unplug, "unplug the EV")
    p.add_argument("connector", type=connector)
    switches = (("ready", cmd.ev_ready, ["on", "off"], "EV requests energy (state C) or not (B)"),
                ("diode", cmd.ev_diode, ["ok", "missing"], "the EV's CP diode"),
                ("rcd", cmd.ev_rcd, ["trip", "clear"], "trip or clear the residual current device"),
                ("weld", cmd.ev_weld, ["on", "off"], "weld the contactor shut"),
                ("ventilation", cmd.ev_ventilation, ["on", "off"], "EV asks for ventilation (state D)"),
                ("ignore-pwm", cmd.ev_ignore_pwm, ["on", "off"], "EV keeps drawing when PWM stops"))
    for verb, handler, values, help_text in switches:
        p = ev.leaf(verb, handler, help_text)
        p.add_argument("connector", type=connector)
        p.add_argument("value", choices=values)
    p = ev.leaf("max-current", cmd.ev_max_current, "the most the EV draws")
    p.add_argument("connector", type=connector)
    p.add_argument("amps", type=amps)
    p = ev.leaf("hlc", cmd.ev_hlc, "plug in and run an ISO 15118-2 / DIN 70121 session (EV simulator; "
                                   "authorize with `auth tap`), then unplug")
    p.add_argument("connector", type=connector)
    p.add_argument("--protocol", choices=("iso2", "din"), default="iso2")
    p.add_argument("--dc", action="store_true", help="DC (always with din)")
    p.add_argument("--loops", type=count, default=20, help="ChargingStatus / CurrentDemand requests (default 20)")
    p.add_argument("--sdp-address", default="::1", help="SECC discovery by unicast (default ::1; '' = multicast)")
    p.add_argument("--sdp-port", type=count, default=15118, help="SDP UDP port (default 15118)")
    p.add_argument("--interface", help="network interface for SDP multicast / link-local addresses")
    p.add_argument("--misbehave", help="KIND@Request: wrong_sid, unexpected, invalid_exi, stall, drop")
    p.add_argument("--stay-plugged", action="store_true", help="do not unplug at the end")

    board = root.group("board", "the board (safety, control pilot)")
    p = board.leaf("reset-fault", cmd.board_reset_fault, "clear latched faults whose cause is gone")
    p.add_argument("connector", type=connector)
    return parser


def service_name(text: str) -> str:
    if text not in SERVICES:
        raise argparse.ArgumentTypeError(f"service must be one of {', '.join(SERVICES)}, got {text!r}")
    return text


def _print_json(data: Any) -> None:
    print(json.dumps(data, sort_keys=True), flush=True)


async def _explain(client: Client, err: ServiceError, args: argparse.Namespace) -> str:
    if err.name in cmd.UNKNOWN_OBJECT_ERRORS:
        return await cmd.explain_unknown(client, err.service, args)
    return ""


async def _run(args: argparse.Namespace) -> int:
    bus, address = await open_bus(args.bus_address)
    client = Client(bus, address)
    try:
        if args.handler is monitor.run:
            emit = _print_json if args.json else (lambda ev: print(fmt.event(ev), flush=True))
            return await monitor.run(client, args, emit)
        try:
            result = await args.handler(client, args)
        except ServiceError as e:
            e.hint = await _explain(client, e, args)
            raise
        if args.json:
            _print_json(result.data)
        else:
            print(result.text)
        return EXIT_OK
    finally:
        client.close()


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # usage errors exit 2 here
    try:
        return asyncio.run(_run(args))
    except CliError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        hint = getattr(e, "hint", "")
        if hint:
            print(f"{PROG}: hint: {hint}", file=sys.stderr)
        if args.json:
            err: dict[str, Any] = {"message": getattr(e, "text", str(e)), "exit_code": e.exit_code}
            if isinstance(e, ServiceError):
                err["name"] = e.name
            _print_json({"error": err})
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `evchargectl monitor | head`: the reader left, that is not an error
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def main() -> None:
    sys.exit(run())
