"""A small OCPP 1.6J Central System for tests and SIL, on the `ocpp` library's 1.6 server side.

The same recorder, waits and behaviour knobs as `evcharge.sim.csms` (2.0.1), with the 1.6
messages: it assigns increasing transactionIds in StartTransaction.conf and answers Authorize /
StartTransaction per idTag (`Behaviour.authorize`).

    python -m evcharge.sim.csms16 --port 9000         # accept every charge point, log the traffic
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
from typing import Any

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve

from .csms import Behaviour, Csms, _Recorder, now

log = logging.getLogger("evcharge.sim.csms16")

SUBPROTOCOL = "ocpp1.6"


class StationHandler16(ChargePoint):
    def __init__(self, station_id: str, connection: Any, csms: Csms16) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.csms = csms

    def _tag_info(self, id_tag: str) -> dict[str, str]:
        info = {"status": self.csms.behaviour.authorize.get(id_tag, "Accepted")}
        parent = self.csms.behaviour.groups.get(id_tag)   # Behaviour.groups: the idTag's parentIdTag
        if parent:
            info["parent_id_tag"] = parent
        return info

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
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
    def on_authorize(self, id_tag: str, **_: Any) -> Any:
        return call_result.Authorize(id_tag_info=self._tag_info(id_tag))

    def _maybe_fail(self) -> None:
        b = self.csms.behaviour
        if b.transaction_event_errors > 0:
            b.transaction_event_errors -= 1
            raise InternalError(description="test Central System: configured to fail")

    @on(Action.start_transaction)
    def on_start_transaction(self, id_tag: str, **_: Any) -> Any:
        self._maybe_fail()
        self.csms.next_transaction_id += 1
        self.csms.assigned.append(self.csms.next_transaction_id)
        info = {"status": self.csms.start_status[id_tag]} if id_tag in self.csms.start_status else \
            self._tag_info(id_tag)
        return call_result.StartTransaction(transaction_id=self.csms.next_transaction_id, id_tag_info=info)

    @on(Action.stop_transaction)
    def on_stop_transaction(self, id_tag: str | None = None, **_: Any) -> Any:
        self._maybe_fail()
        return call_result.StopTransaction(id_tag_info=self._tag_info(id_tag) if id_tag else None)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        self._maybe_fail()
        return call_result.MeterValues()

    @on(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> Any:
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str, **_: Any) -> Any:
        b = self.csms.behaviour
        status = b.sign_certificate.pop(0) if len(b.sign_certificate) > 1 else b.sign_certificate[0]
        return call_result.SignCertificate(status=status)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    # Firmware Management, diagnostics and the security extension's notifications: recorded only.
    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status(self, **_: Any) -> Any:
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **_: Any) -> Any:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status(self, **_: Any) -> Any:
        return call_result.LogStatusNotification()


class Csms16(Csms):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, behaviour: Behaviour | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port, behaviour, tls)
        self.next_transaction_id = 1000   # survives stop()/start(): ids stay unique across a restart
        self.assigned: list[int] = []     # transactionIds handed out, oldest first
        self.start_status: dict[str, str] = {}  # idTag -> StartTransaction.conf status (default: as Authorize)

    async def transaction_id(self, n: int = 1, timeout: float = 20.0) -> int:
        """The id assigned by the n-th StartTransaction.conf, once it was sent."""
        ids = await self.wait_until(lambda: self.assigned if len(self.assigned) >= n else None, timeout,
                                    f"{n} StartTransaction answer(s)")
        return ids[n - 1]

    async def start(self) -> None:
        self._server = await serve(self._handle, self.host, self.port, subprotocols=[SUBPROTOCOL],
                                   process_request=self._check_auth, ping_interval=None, max_size=8 * 1024 * 1024,
                                   ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Central System (1.6) listening on %s", self.url)

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path
        self.paths.append(path)
        station_id = path.rstrip("/").rsplit("/", 1)[-1]
        tls = ws.transport.get_extra_info("ssl_object") if self.ssl else None
        if tls is not None:
            self.peer_certs[station_id] = tls.getpeercert(binary_form=True)
        handler = StationHandler16(station_id, _Recorder(ws, self), self)
        self.stations[station_id] = handler  # type: ignore[assignment]
        self.connections[station_id] = ws
        await self._notify()   # waits on connections hold without a frame
        try:
            await handler.start()
        except Exception as e:  # noqa: BLE001 - the connection ended
            log.info("charge point %s: %s", station_id, e)
        finally:
            if self.stations.get(station_id) is handler:
                self.stations.pop(station_id, None)
                self.connections.pop(station_id, None)
            await self._notify()

    async def call(self, action: str, payload: dict[str, Any], station_id: str | None = None) -> dict[str, Any]:
        """Send a 1.6 request to a charge point; its answer as a camelCase dict (a CALLERROR raises)."""
        st = await self.wait_connected(station_id)
        req = getattr(call, action)(**camel_to_snake_case(payload))
        result = await st.call(req, suppress=False)
        return snake_to_camel_case(remove_nones(serialize_as_dict(result)))


async def _main(args: argparse.Namespace) -> None:
    csms = Csms16(args.host, args.port, Behaviour(boot_interval=args.heartbeat, password=args.password))
    await csms.start()
    print(f"Central System (OCPP 1.6J) on {csms.url}/<chargePointId>", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m evcharge.sim.csms16", description="a test OCPP 1.6J Central System")
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
