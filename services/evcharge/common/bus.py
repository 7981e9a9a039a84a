"""Thin client helpers over dbus-fast's low-level message API.

Services call each other with these rather than with introspected proxy objects: no
introspection round trip at start-up, no proxy generation, and one code path whose cost we
measure in `benchmarks/dbus_latency.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from .names import PROPERTIES_IFACE

log = logging.getLogger(__name__)

BUS_ADDRESS_ENV = "EVCHARGE_BUS_ADDRESS"


async def connect(address: str | None = None) -> MessageBus:
    """The bus named by `address`, $EVCHARGE_BUS_ADDRESS, or else the system bus."""
    address = address or os.environ.get(BUS_ADDRESS_ENV)
    bus = MessageBus(bus_address=address) if address else MessageBus(bus_type=BusType.SYSTEM)
    return await bus.connect()


def unwrap(value: Any) -> Any:
    """Plain Python values from Variants, recursively."""
    if isinstance(value, Variant):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


async def call(bus: MessageBus, dest: str, path: str, iface: str, member: str,
               signature: str = "", body: Iterable[Any] = (), *, timeout: float | None = 5.0) -> list[Any]:
    msg = Message(destination=dest, path=path, interface=iface, member=member,
                  signature=signature, body=list(body))
    reply = await asyncio.wait_for(bus.call(msg), timeout)
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        raise DBusError._from_message(reply)  # noqa: SLF001 - dbus-fast's own decoder of error replies
    return reply.body


async def get_all(bus: MessageBus, dest: str, path: str, iface: str) -> dict[str, Any]:
    (props,) = await call(bus, dest, path, PROPERTIES_IFACE, "GetAll", "s", [iface])
    return unwrap(props)


async def get_property(bus: MessageBus, dest: str, path: str, iface: str, name: str) -> Any:
    (value,) = await call(bus, dest, path, PROPERTIES_IFACE, "Get", "ss", [iface, name])
    return unwrap(value)


class Subscription:
    """Signals from one well-known name, checked against the name's current owner.

    A signal's sender is a unique name; anyone may emit a signal with our path and interface,
    so we keep track of who owns the well-known name and drop the rest. `on_owner_changed` lets
    a client notice that a service restarted (and re-read its state).
    """

    def __init__(self, bus: MessageBus, name: str) -> None:
        self.bus = bus
        self.name = name
        self.owner: str | None = None
        self._handlers: list[tuple[str | None, str | None, str, Callable[[Message], None]]] = []
        self.on_owner_changed: list[Callable[[str | None, str | None], None]] = []
        self._rules: list[str] = []
        bus.add_message_handler(self._dispatch)

    async def start(self) -> None:
        await self._add_match(f"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                              f"member='NameOwnerChanged',arg0='{self.name}'")
        try:
            (self.owner,) = await call(self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetNameOwner", "s", [self.name])
        except DBusError:
            self.owner = None

    async def signal(self, iface: str, member: str | None, callback: Callable[[Message], None], *,
                     path: str | None = None, path_namespace: str | None = None) -> None:
        rule = f"type='signal',sender='{self.name}',interface='{iface}'"
        if member:
            rule += f",member='{member}'"
        if path:
            rule += f",path='{path}'"
        if path_namespace:
            rule += f",path_namespace='{path_namespace}'"
        await self._add_match(rule)
        self._handlers.append((path, path_namespace, iface if member is None else f"{iface}.{member}", callback))

    async def properties(self, iface: str, callback: Callable[[str, dict[str, Any]], None], *,
                         path_namespace: str) -> None:
        """PropertiesChanged of `iface` on any object below `path_namespace`: callback(path, changed)."""

        def on_msg(msg: Message) -> None:
            changed_iface, changed, _invalidated = msg.body
            if changed_iface == iface:
                callback(msg.path, unwrap(changed))

        rule = (f"type='signal',sender='{self.name}',interface='{PROPERTIES_IFACE}',member='PropertiesChanged',"
                f"path_namespace='{path_namespace}',arg0='{iface}'")
        await self._add_match(rule)
        self._handlers.append((None, path_namespace, f"{PROPERTIES_IFACE}.PropertiesChanged", on_msg))

    async def _add_match(self, rule: str) -> None:
        await call(self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                   "AddMatch", "s", [rule])
        self._rules.append(rule)

    def _dispatch(self, msg: Message) -> None:
        if msg.message_type != MessageType.SIGNAL:
            return
        if msg.interface == "org.freedesktop.DBus" and msg.member == "NameOwnerChanged":
            name, old, new = msg.body
            if name == self.name:
                self.owner = new or None
                for cb in list(self.on_owner_changed):
                    cb(old or None, new or None)
            return
        if self.owner is None or msg.sender != self.owner:
            return
        for path, ns, key, cb in self._handlers:
            if path and msg.path != path:
                continue
            if ns and not (msg.path == ns or msg.path.startswith(ns + "/")):
                continue
            if key not in (msg.interface, f"{msg.interface}.{msg.member}"):
                continue
            try:
                cb(msg)
            except Exception:  # one bad handler must not starve the others
                log.exception("signal handler failed for %s.%s", msg.interface, msg.member)
