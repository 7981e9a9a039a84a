"""`evchargectl monitor`: every evcharge signal and property change, one event per line.

Signals are attributed to a service only when they come from the current owner of its
well-known name (as `common.bus.Subscription` does): anyone may emit a signal on our paths.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dbus_fast import DBusError, Message, MessageType

from ..common import names
from ..common.bus import unwrap
from .client import SERVICE_BY_BUS_NAME, SERVICES, Client, Unreachable

# Argument names of the services' signals (introspection has them too, but one round trip per
# service and a parser is not worth it for a display).
SIGNAL_ARGS: dict[str, tuple[str, ...]] = {
    "SessionStarted": ("session_id", "started_at"),
    "SessionEvent": ("session_id", "event", "detail"),
    "SessionEnded": ("session_id", "reason", "energy_wh", "token"),
    "FaultRaised": ("fault",),
    "FaultCleared": ("fault",),
    "ContactorChanged": ("closed", "reason"),
    "AllocationChanged": ("connector_id", "current_a"),
    "TokenPresented": ("token", "token_type", "source", "connector_id"),
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _connector(path: str) -> int | None:
    parts = path.rsplit("/", 2)
    if len(parts) == 3 and parts[1] in ("Connector", "Meter") and parts[2].isdigit():
        return int(parts[2])
    return None


def to_event(msg: Message, service: str) -> dict[str, Any]:
    base = {"time": now(), "service": service, "path": msg.path, "connector": _connector(msg.path)}
    if msg.interface == names.PROPERTIES_IFACE and msg.member == "PropertiesChanged":
        iface, changed, _invalidated = msg.body
        return {"type": "properties", **base, "interface": iface, "changed": unwrap(changed)}
    body = unwrap(msg.body)
    arg_names = SIGNAL_ARGS.get(msg.member)
    args: dict[str, Any] | list[Any] = dict(zip(arg_names, body, strict=False)) if arg_names else body
    if isinstance(args, dict) and isinstance(args.get("detail"), str):
        try:
            args["detail"] = json.loads(args["detail"])  # SessionEvent carries its detail as JSON text
        except ValueError:
            pass
    return {"type": "signal", **base, "interface": msg.interface, "member": msg.member, "args": args}


async def run(c: Client, a: argparse.Namespace, emit: Callable[[dict[str, Any]], None]) -> int:
    wanted = set(a.services or SERVICES)
    owners: dict[str, str] = {}  # unique name -> service
    stop = asyncio.Event()
    seen = 0
    reader_gone = False

    def deliver(event: dict[str, Any]) -> None:
        nonlocal seen, reader_gone
        if event["service"] not in wanted or stop.is_set():
            return
        try:
            emit(event)
        except BrokenPipeError:  # raised here it would only be logged by dbus-fast's dispatcher
            reader_gone = True
            stop.set()
            return
        seen += 1
        if a.count and seen >= a.count:
            stop.set()

    def on_message(msg: Message) -> None:
        if msg.message_type != MessageType.SIGNAL:
            return
        if msg.sender == "org.freedesktop.DBus" and msg.member == "NameOwnerChanged":
            name, old, new = msg.body
            service = SERVICE_BY_BUS_NAME.get(name)
            if service is None:
                return
            owners.pop(old, None)
            if new:
                owners[new] = service
            deliver({"type": "service", "time": now(), "service": service, "running": bool(new)})
            return
        service = owners.get(msg.sender or "")
        if service is not None and msg.path and msg.path.startswith("/org/evcharge/"):
            deliver(to_event(msg, service))

    c.bus.add_message_handler(on_message)
    await c.bus_call("AddMatch", "s", ["type='signal',path_namespace='/org/evcharge'"])
    await c.bus_call("AddMatch", "s", [("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                                        "member='NameOwnerChanged',arg0namespace='org.evcharge'")])
    for service, bus_name in SERVICES.items():
        try:
            (owner,) = await c.bus_call("GetNameOwner", "s", [bus_name])
            owners[owner] = service
        except DBusError:
            pass  # not running now; NameOwnerChanged tells us when it comes

    # On stderr, so stdout stays pure events; scripts can wait for it to know nothing is missed from here on.
    print(f"monitoring {', '.join(sorted(wanted))} on {c.address} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(c.bus.wait_for_disconnect())]
    try:
        done, _ = await asyncio.wait(waiters, timeout=a.duration or None, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if reader_gone:
        raise BrokenPipeError  # main.py exits quietly
    if waiters[1] in done:
        raise Unreachable(f"lost the bus {c.address} (was the SIL stopped?)")
    return 0
