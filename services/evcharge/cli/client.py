"""The CLI's bus connection and calls, with failures turned into exit codes.

A D-Bus error from a service is the service's answer (exit 1); a name nobody owns, a bus that
cannot be reached or a service that does not answer is an installation problem (exit 3) and the
message says which service and how to start the SIL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import BUS_ADDRESS_ENV, unwrap
from ..sil.address import address_file, read_address

EXIT_OK = 0
EXIT_SERVICE_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

CONNECT_TIMEOUT_S = 3.0
CALL_TIMEOUT_S = 5.0

# Short service names as users type them, in the order status shows them.
SERVICES: dict[str, str] = {
    "board": names.BOARD,
    "evse": names.EVSE,
    "energy": names.ENERGY,
    "meter": names.METER,
    "auth": names.AUTH,
}
SERVICE_BY_BUS_NAME = {v: k for k, v in SERVICES.items()}

NOT_RUNNING_ERRORS = frozenset({"org.freedesktop.DBus.Error.ServiceUnknown",
                                "org.freedesktop.DBus.Error.NameHasNoOwner"})
START_HINT = ("start the simulator with `evcharge-sil` (or `python -m evcharge.sil`); "
              "on a charger: `systemctl start evcharge-{service}.service`")


class CliError(Exception):
    exit_code = EXIT_SERVICE_ERROR


class UsageError(CliError):
    exit_code = EXIT_USAGE


class Unreachable(CliError):
    """The bus or a service cannot be reached at all."""

    exit_code = EXIT_UNREACHABLE


@dataclass
class ServiceError(CliError):
    """A service answered with a D-Bus error."""

    name: str
    text: str
    service: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.text}"


def not_running(service: str) -> Unreachable:
    bus_name = SERVICES.get(service, service)
    return Unreachable(f"the {service} service ({bus_name}) is not running: {START_HINT.format(service=service)}")


async def _connect(address: str | None) -> MessageBus:
    bus = MessageBus(bus_address=address) if address else MessageBus(bus_type=BusType.SYSTEM)
    return await asyncio.wait_for(bus.connect(), CONNECT_TIMEOUT_S)


async def open_bus(explicit: str | None) -> tuple[MessageBus, str]:
    """(bus, description): --bus-address, $EVCHARGE_BUS_ADDRESS, a live SIL, else the system bus."""
    for address, origin in ((explicit, "--bus-address"), (os.environ.get(BUS_ADDRESS_ENV), f"${BUS_ADDRESS_ENV}")):
        if address:
            try:
                return await _connect(address), address
            except Exception as e:  # noqa: BLE001 - any failure to connect means "unreachable"
                raise Unreachable(f"cannot connect to the bus {address} (from {origin}): {_why(e)}; "
                                  f"is the SIL still running?") from None
    sil = read_address()
    stale = ""
    if sil:
        try:
            return await _connect(sil), sil
        except Exception:  # noqa: BLE001 - a runner that was killed leaves its file behind
            stale = f" (the SIL address file {address_file()} names {sil}, which does not answer)"
    try:
        bus = await _connect(None)
    except Exception as e:  # noqa: BLE001 - as above: the reason is in the message
        raise Unreachable(f"cannot connect to the system bus: {_why(e)}; and no SIL is running{stale}: start the "
                          "simulator with `evcharge-sil` (or `python -m evcharge.sil`), or pass --bus-address") from None
    return bus, "system bus"


def _why(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    return str(e) or type(e).__name__


class Client:
    def __init__(self, bus: MessageBus, address: str) -> None:
        self.bus = bus
        self.address = address

    async def call(self, service: str, path: str, iface: str, member: str, signature: str = "",
                   body: Iterable[Any] = ()) -> list[Any]:
        msg = Message(destination=SERVICES[service], path=path, interface=iface, member=member,
                      signature=signature, body=list(body))
        try:
            reply = await asyncio.wait_for(self.bus.call(msg), CALL_TIMEOUT_S)
        except TimeoutError:
            raise Unreachable(f"the {service} service ({SERVICES[service]}) did not answer within "
                              f"{CALL_TIMEOUT_S:g} s") from None
        except (EOFError, ConnectionError) as e:
            raise Unreachable(f"lost the connection to the bus {self.address}: {_why(e)}") from None
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            err = DBusError._from_message(reply)  # dbus-fast's own decoder of error replies
            if err.type in NOT_RUNNING_ERRORS:
                raise not_running(service)
            raise ServiceError(err.type, err.text, service)
        return unwrap(reply.body)

    async def bus_call(self, member: str, signature: str = "", body: Iterable[Any] = ()) -> list[Any]:
        """A call to the bus daemon itself."""
        msg = Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                      interface="org.freedesktop.DBus", member=member, signature=signature, body=list(body))
        reply = await asyncio.wait_for(self.bus.call(msg), CALL_TIMEOUT_S)
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            raise DBusError._from_message(reply)
        return reply.body

    def close(self) -> None:
        self.bus.disconnect()
