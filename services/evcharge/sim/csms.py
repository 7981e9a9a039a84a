"""A small OCPP 2.0.1 CSMS for tests and SIL, on the `ocpp` library's server side.

It accepts charging stations on ws://<host>:<port>/<anything>/<stationId> with subprotocol
ocpp2.0.1, answers what a station sends (BootNotification status and interval, Authorize per
token, TransactionEvent idTokenInfo are configurable), records every frame, and lets a test
or a user send requests to a station:

    python -m evcharge.sim.csms --port 9000          # accept everything, log the traffic

In Python:

    csms = Csms(port=0); await csms.start()           # csms.url -> ws://127.0.0.1:<port>/ocpp
    await csms.wait_for("BootNotification")
    result = await csms.call("GetVariables", {"getVariableData": [...]})
    await csms.stop()                                  # take it down (the station goes offline)

With `tls=` (an `ssl.SSLContext` for the server side) it serves wss:// (security profiles 2/3);
a context that requires client certificates tests profile 3, and `csms.peer_certs` holds the
DER certificate each station presented.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve

log = logging.getLogger("evcharge.sim.csms")

SUBPROTOCOL = "ocpp2.0.1"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Frame:
    direction: str           # "in" (from the station) or "out"
    raw: str
    data: Any                # parsed JSON, or None

    @property
    def action(self) -> str | None:
        d = self.data
        return d[2] if isinstance(d, list) and len(d) == 4 and d[0] == 2 else None

    @property
    def payload(self) -> dict[str, Any]:
        return self.data[3]


@dataclass
class Behaviour:
    """How the CSMS answers. Lists are consumed one answer at a time; the last one repeats."""

    boot_status: list[str] = field(default_factory=lambda: ["Accepted"])
    boot_interval: int = 300
    authorize: dict[str, str] = field(default_factory=dict)   # token -> status; default Accepted
    groups: dict[str, str] = field(default_factory=dict)      # token -> groupIdToken in its idTokenInfo
    password: str | None = None                                # expected basic-auth password
    transaction_event_errors: int = 0                          # answer this many TransactionEvents with CALLERROR
    ignore: dict[str, int] = field(default_factory=dict)       # action -> how many of its CALLs to leave unanswered
    sign_certificate: list[str] = field(default_factory=lambda: ["Accepted"])  # SignCertificate answers
    # action -> how many of its CALLs to answer only when the test calls `Csms.release()` (a slow
    # CSMS, deterministically: the station has a message in flight for as long as the test wants)
    hold: dict[str, int] = field(default_factory=dict)


class _Recorder:
    """The WebSocket as the library sees it, recording every frame."""

    def __init__(self, ws: ServerConnection, csms: Csms) -> None:
        self.ws = ws
        self.csms = csms

    async def recv(self) -> str:
        while True:
            raw = await self.ws.recv()
            frame = self.csms._record("in", raw)
            ignore = self.csms.behaviour.ignore
            if frame.action and ignore.get(frame.action, 0) > 0:
                ignore[frame.action] -= 1   # as if lost: the station's MessageTimeout runs out
                continue
            hold = self.csms.behaviour.hold
            if frame.action and hold.get(frame.action, 0) > 0:
                hold[frame.action] -= 1
                self.csms._held[frame.data[1]] = self.csms._release
            return raw

    async def send(self, raw: str) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        release = self.csms._held.pop(data[1], None) if isinstance(data, list) and len(data) > 1 \
            and data[0] in (3, 4) and isinstance(data[1], str) else None
        if release is not None:   # answered later, without blocking the library's receive loop
            task = asyncio.get_running_loop().create_task(self._send_when(release, raw))
            self.csms._tasks.add(task)
            task.add_done_callback(self.csms._tasks.discard)
            return
        self.csms._record("out", raw)
        await self.ws.send(raw)

    async def _send_when(self, release: asyncio.Event, raw: str) -> None:
        await release.wait()
        self.csms._record("out", raw)
        try:
            await self.ws.send(raw)
        except Exception as e:  # noqa: BLE001 - the station went away meanwhile
            log.info("held answer not delivered: %s", e)


class StationHandler(ChargePoint):
    def __init__(self, station_id: str, connection: Any, csms: Csms) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.csms = csms
        self.boot_count = 0

    @on(Action.boot_notification)
    def on_boot(self, charging_station: dict, reason: str, **_: Any) -> Any:
        b = self.csms.behaviour
        status = b.boot_status.pop(0) if len(b.boot_status) > 1 else b.boot_status[0]
        return call_result.BootNotification(current_time=now(), interval=b.boot_interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict, **_: Any) -> Any:
        status = self.csms.behaviour.authorize.get(id_token["id_token"], "Accepted")
        return call_result.Authorize(id_token_info=self.csms.id_token_info(id_token["id_token"], status))

    @on(Action.transaction_event)
    def on_transaction_event(self, event_type: str, id_token: dict | None = None, **_: Any) -> Any:
        b = self.csms.behaviour
        if b.transaction_event_errors > 0:
            b.transaction_event_errors -= 1
            raise InternalError(description="test CSMS: configured to fail")
        if id_token:
            status = b.authorize.get(id_token["id_token"], "Accepted")
            return call_result.TransactionEvent(id_token_info=self.csms.id_token_info(id_token["id_token"], status))
        return call_result.TransactionEvent()

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> Any:
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> Any:
        return call_result.NotifyEvent()

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> Any:
        return call_result.ReportChargingProfiles()

    @on(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> Any:
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str, **_: Any) -> Any:
        b = self.csms.behaviour
        status = b.sign_certificate.pop(0) if len(b.sign_certificate) > 1 else b.sign_certificate[0]
        return call_result.SignCertificate(status=status)
    @on(Action.log_status_notification)
    def on_log_status(self, **_: Any) -> Any:
        return call_result.LogStatusNotification()

    @on(Action.reservation_status_update)
    def on_reservation_status_update(self, **_: Any) -> Any:
        return call_result.ReservationStatusUpdate()

    @on(Action.notify_customer_information)
    def on_notify_customer_information(self, **_: Any) -> Any:
        return call_result.NotifyCustomerInformation()


class Csms:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, behaviour: Behaviour | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.ssl = tls
        self.peer_certs: dict[str, bytes | None] = {}
        self.behaviour = behaviour or Behaviour()
        self.frames: list[Frame] = []
        self.stations: dict[str, StationHandler] = {}
        self.connections: dict[str, ServerConnection] = {}
        self.auth_headers: list[str | None] = []
        self.paths: list[str] = []
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()               # Behaviour.hold: answers wait for this
        self._held: dict[str, asyncio.Event] = {}    # message id of a held CALL -> its release
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://{self.host}:{self.port}/ocpp"

    async def start(self) -> None:
        self._server = await serve(self._handle, self.host, self.port, subprotocols=[SUBPROTOCOL],
                                   process_request=self._check_auth, ping_interval=None, max_size=8 * 1024 * 1024,
                                   ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("CSMS listening on %s", self.url)

    async def stop(self) -> None:
        """Close every connection and stop listening (the stations see the CSMS go down)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.stations.clear()
        self.connections.clear()

    def _check_auth(self, connection: ServerConnection, request: Any) -> Any:
        header = request.headers.get("Authorization")
        self.auth_headers.append(header)
        expected = self.behaviour.password
        if expected is None:
            return None
        station = request.path.rstrip("/").rsplit("/", 1)[-1]
        good = "Basic " + base64.b64encode(f"{station}:{expected}".encode()).decode()
        if header != good:
            return connection.respond(401, "bad credentials\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path
        self.paths.append(path)
        station_id = path.rstrip("/").rsplit("/", 1)[-1]
        handler = StationHandler(station_id, _Recorder(ws, self), self)
        self.stations[station_id] = handler
        self.connections[station_id] = ws
        tls = ws.transport.get_extra_info("ssl_object") if self.ssl else None
        if tls is not None:
            self.peer_certs[station_id] = tls.getpeercert(binary_form=True)
        log.info("station %s connected (%s)", station_id, ws.subprotocol)
        await self._notify()   # waits on connections (paths, stations) hold without a frame
        try:
            await handler.start()
        except Exception as e:  # noqa: BLE001 - the connection ended
            log.info("station %s: %s", station_id, e)
        finally:
            if self.stations.get(station_id) is handler:
                self.stations.pop(station_id, None)
                self.connections.pop(station_id, None)
            await self._notify()

    def _record(self, direction: str, raw: str | bytes) -> Frame:
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        frame = Frame(direction, text, data)
        self.frames.append(frame)
        log.info("%s %s", "<-" if direction == "in" else "->", text if len(text) < 500 else text[:500] + "...")
        asyncio.get_running_loop().create_task(self._notify())
        return frame

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def id_token_info(self, token: str, status: str) -> dict[str, Any]:
        info: dict[str, Any] = {"status": status}
        group = self.behaviour.groups.get(token)
        if group:
            info["group_id_token"] = {"id_token": group, "type": "Central"}
        return info

    # --- for tests --------------------------------------------------------------------------
    def received(self, action: str | None = None) -> list[dict[str, Any]]:
        """Payloads of the CALLs stations sent (of one action), oldest first."""
        return [f.payload for f in self.frames if f.direction == "in" and f.action and
                (action is None or f.action == action)]

    def actions(self) -> list[str]:
        return [f.action for f in self.frames if f.direction == "in" and f.action]

    def release(self) -> None:
        """Send the answers held so far (`Behaviour.hold`); later holds wait for the next release."""
        self._release.set()
        self._release = asyncio.Event()

    async def wait_until(self, predicate, timeout: float = 20.0, what: str = "condition") -> Any:
        """Until predicate() is truthy (its value); the generous default timeouts of the waits are
        for tests on a loaded machine: a wait that holds returns at once."""
        async def waiter() -> Any:
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise AssertionError(f"CSMS: timed out waiting for {what}; actions so far: {self.actions()}") from None

    async def wait_for(self, action: str, count: int = 1, timeout: float = 20.0,
                       where=None) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            got = [p for p in self.received(action) if where is None or where(p)]
            return got if len(got) >= count else None

        return await self.wait_until(check, timeout, f"{count} x {action}")

    async def wait_connected(self, station_id: str | None = None, timeout: float = 20.0) -> StationHandler:
        def check() -> StationHandler | None:
            if station_id is None:
                return next(iter(self.stations.values()), None)
            return self.stations.get(station_id)

        return await self.wait_until(check, timeout, "a station connection")

    async def call(self, action: str, payload: dict[str, Any], station_id: str | None = None) -> dict[str, Any]:
        """Send a request to a station; its answer as a camelCase dict (a CALLERROR raises)."""
        st = await self.wait_connected(station_id)
        req = getattr(call, action)(**camel_to_snake_case(payload))
        result = await st.call(req, suppress=False)
        return snake_to_camel_case(remove_nones(serialize_as_dict(result)))

    async def send_raw(self, raw: str | bytes, station_id: str | None = None) -> None:
        await self.wait_connected(station_id)
        ws = self.connections[station_id] if station_id else next(iter(self.connections.values()))
        self._record("out", raw)
        await ws.send(raw)

    async def wait_raw_reply(self, predicate, timeout: float = 20.0) -> list:
        """The first frame from a station whose parsed JSON satisfies predicate."""
        def check() -> Any:
            return next((f.data for f in self.frames if f.direction == "in" and f.data is not None
                         and predicate(f.data)), None)

        return await self.wait_until(check, timeout, "a reply frame")


async def _main(args: argparse.Namespace) -> None:
    csms = Csms(args.host, args.port, Behaviour(boot_interval=args.heartbeat, password=args.password))
    await csms.start()
    print(f"CSMS on {csms.url}/<stationId>", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m evcharge.sim.csms", description="a test OCPP 2.0.1 CSMS")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--heartbeat", type=int, default=300, help="interval in BootNotification answers (s)")
    p.add_argument("--password", help="require this basic-auth password")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
