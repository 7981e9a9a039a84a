"""The one module between the evcharge services on D-Bus and the OCPP station.

Inbound: evse `SessionStarted` / `SessionEvent` / `SessionEnded` and connector `State`, meter
`EnergyWh` / `PowerW`, auth `TokenPresented` become calls on the station (`OcppService.on_*`).
Outbound: what the CSMS asks becomes evse `RemoteStart` / `Stop` / `SetAvailability` and
energy `SetExternalLimit`. Signals are only accepted from the current owner of each name
(`Subscription`), so nobody else on the bus can fake a session.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from dbus_fast import DBusError, Message
from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import Subscription, call, get_all, get_property, unwrap
from ..common.log import fields

if TYPE_CHECKING:
    from .service import OcppService

log = logging.getLogger("evcharge.ocpp.bridge")

TOKEN_MEMORY_S = 10.0  # how long a presented token may wait for evse's verdict


def reserved_for(props: dict[str, Any], token: str, station_tokens: list[str] | tuple[str, ...] = ()) -> bool:
    """May `token` start on a connector with these evse properties (free, or reserved for it)? A
    connector `Reserved` without a reservation of its own is held for evse's reservations of an
    unspecified connector, whose tokens are `station_tokens`."""
    if props.get("ReservationId"):
        return str(props.get("ReservationToken") or "").casefold() == token.casefold()
    if props.get("State") == "Reserved":
        return any(t.casefold() == token.casefold() for t in station_tokens)
    return True


class Bridge:
    def __init__(self, bus: MessageBus, station: OcppService) -> None:
        self.bus = bus
        self.station = station
        self.evse = Subscription(bus, names.EVSE)
        self.meter = Subscription(bus, names.METER)
        self.auth = Subscription(bus, names.AUTH)
        # The last token a reader presented: (token, type, monotonic time).
        self.last_token: tuple[str, str, float] | None = None
        # The tokens of evse's reservations of an unspecified connector (Evse1.Reservations).
        self.station_tokens: list[str] = []

    async def start(self) -> None:
        for sub in (self.evse, self.meter, self.auth):
            await sub.start()
        await self.evse.signal(names.EVSE_CONNECTOR_IFACE, None, self._on_evse_signal, path_namespace=names.EVSE_PATH)
        await self.evse.properties(names.EVSE_CONNECTOR_IFACE, self._on_evse_props, path_namespace=names.EVSE_PATH)
        await self.evse.signal(names.EVSE, "ReservationEvent", self._on_station_reservation, path=names.EVSE_PATH)
        await self.evse.properties(names.EVSE, self._on_evse_station_props, path_namespace=names.EVSE_PATH)
        await self.meter.properties(names.METER_METER_IFACE, self._on_meter_props, path_namespace=names.METER_PATH)
        await self.auth.signal(names.AUTH, "TokenPresented", self._on_token, path=names.AUTH_PATH)
        self.evse.on_owner_changed.append(lambda _o, new: self.station.spawn(self.resync()) if new else None)
        self.meter.on_owner_changed.append(lambda _o, new: self.station.spawn(self.read_meters()) if new else None)

    # --- inbound -----------------------------------------------------------------------------
    def _on_evse_signal(self, msg: Message) -> None:
        cid = names.connector_id_from_path(msg.path)
        if msg.member == "SessionStarted":
            session_id, started_at = msg.body
            self.station.on_session_started(cid, session_id, started_at)
        elif msg.member == "SessionEvent":
            session_id, event, detail_json = msg.body
            try:
                detail = json.loads(detail_json) if detail_json else {}
            except ValueError:
                detail = {}
            if event == "TokenRejected":
                self._on_token_rejected(cid, detail)
            self.station.on_session_event(cid, session_id, event, detail)
        elif msg.member == "SessionEnded":
            session_id, reason, energy_wh, token = msg.body
            self.station.on_session_ended(cid, session_id, reason, energy_wh)

    def _on_station_reservation(self, msg: Message) -> None:
        event, detail_json = msg.body
        try:
            detail = json.loads(detail_json) if detail_json else {}
        except ValueError:
            detail = {}
        self.station.on_station_reservation_event(event, detail)

    def _on_evse_station_props(self, path: str, changed: dict[str, Any]) -> None:
        if path == names.EVSE_PATH and "Reservations" in changed:
            self.station_tokens = [str(r[1]) for r in changed["Reservations"]]

    def _on_evse_props(self, path: str, changed: dict[str, Any]) -> None:
        cid = names.connector_id_from_path(path)
        self.station.on_connector_props(cid, changed)

    def _on_meter_props(self, path: str, changed: dict[str, Any]) -> None:
        self.station.on_meter(names.connector_id_from_path(path), changed.get("EnergyWh"), changed.get("PowerW"))

    def _on_token(self, msg: Message) -> None:
        token, token_type, source, _connector = msg.body
        if source != "remote":  # our own RemoteStart tokens and PresentToken calls are not readers
            self.last_token = (token, token_type, time.monotonic())
            self.station.on_token_presented(token, token_type)

    def _on_token_rejected(self, cid: int, detail: dict[str, Any]) -> None:
        # Unknown: the local list does not know the token: ask the CSMS (or the offline rules).
        # Reserved: the connector is reserved for another token; the CSMS may know this one as a member
        # of the reservation's group (2.0.1 H03.FR.07/08: Authorize for its groupIdToken; 1.6 parentIdTag).
        status = detail.get("status")
        if status not in ("Unknown", "Reserved") or self.last_token is None:
            return
        token, token_type, at = self.last_token
        if time.monotonic() - at > TOKEN_MEMORY_S:
            return
        if status == "Reserved" and str(detail.get("token", "")).casefold() != token.casefold():
            return
        self.last_token = None
        self.station.spawn(self.station.authorize_token(cid, token, token_type, reserved=status == "Reserved"))

    # --- state read on start and when evse/meter restart --------------------------------------
    async def connector_props(self, cid: int) -> dict[str, Any] | None:
        try:
            return await get_all(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE)
        except (DBusError, TimeoutError) as e:
            log.info("connector %d: cannot read evse state: %s", cid, e)
            return None

    async def ended_session(self, session_id: str) -> dict[str, Any] | None:
        try:
            (sessions,) = await call(self.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ListSessions", "u", [50])
        except (DBusError, TimeoutError):
            return None
        for s in unwrap(sessions):
            if s.get("session_id") == session_id:
                return s
        return None

    async def resync(self) -> None:
        await self.station.resync()

    async def read_meters(self) -> None:
        for mid in self.station.meter_ids():
            try:
                props = await get_all(self.bus, names.METER, names.meter_path(mid), names.METER_METER_IFACE)
            except (DBusError, TimeoutError):
                continue
            self.station.on_meter(mid, props.get("EnergyWh"), props.get("PowerW"))

    # --- outbound ------------------------------------------------------------------------------
    async def remote_start(self, cid: int, token: str, group_token: str = "") -> str:
        """evse's RemoteStart; with the token's group (groupIdToken / parentIdTag) when the CSMS gave one,
        so that a reservation for that group takes it."""
        if group_token:
            (session,) = await call(self.bus, names.EVSE, names.evse_connector_path(cid),
                                    names.EVSE_CONNECTOR_IFACE, "RemoteStartWithGroup", "ss", [token, group_token])
        else:
            (session,) = await call(self.bus, names.EVSE, names.evse_connector_path(cid),
                                    names.EVSE_CONNECTOR_IFACE, "RemoteStart", "s", [token])
        return session

    async def stop(self, cid: int, reason: str) -> None:
        await call(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE, "Stop", "s",
                   [reason])

    async def pause(self, cid: int) -> None:
        await call(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE, "Pause", "", [])

    async def set_availability(self, cid: int, operative: bool) -> None:
        await call(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE,
                   "SetAvailability", "b", [operative])

    async def reserve(self, cid: int, reservation_id: int, token: str, group_token: str, expires_at: str) -> str:
        (status,) = await call(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE,
                               "Reserve", "usss", [reservation_id, token, group_token, expires_at])
        return status

    async def cancel_reservation(self, cid: int, reservation_id: int) -> bool:
        (ok,) = await call(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE,
                           "CancelReservation", "u", [reservation_id])
        return bool(ok)

    async def place_reservation(self, cid: int, reservation_id: int, token: str, group_token: str,
                                expires_at: str) -> str:
        """ReserveNow for both protocols: evse's status, Rejected when evse cannot be asked. The CSMS
        moves a reservation by sending its id again (2.0.1 H01.FR.02, 1.6 5.13), so the same id on
        another connector is cancelled first."""
        try:
            for other, props in self.station.connector_props.items():
                if other != cid and props.get("ReservationId") == reservation_id:
                    await self.cancel_reservation(other, reservation_id)
            await self.cancel_station_reservation(reservation_id)
            return await self.reserve(cid, reservation_id, token, group_token, expires_at)
        except (DBusError, TimeoutError) as e:
            log.warning("ReserveNow %d: evse refused it: %s", reservation_id, e)
            return "Rejected"

    async def place_station_reservation(self, reservation_id: int, token: str, group_token: str,
                                        expires_at: str) -> str:
        """ReserveNow without an EVSE (2.0.1 H01.FR.04): evse's reservation of an unspecified connector;
        the same id on a connector is moved here."""
        try:
            for cid, props in self.station.connector_props.items():
                if props.get("ReservationId") == reservation_id:
                    await self.cancel_reservation(cid, reservation_id)
            (status,) = await call(self.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "Reserve", "usss",
                                   [reservation_id, token, group_token, expires_at])
            return status
        except (DBusError, TimeoutError) as e:
            log.warning("ReserveNow %d: evse refused it: %s", reservation_id, e)
            return "Rejected"

    async def station_reservations(self) -> tuple[set[int], list[tuple[int, str, str]]] | None:
        """evse's reservations of an unspecified connector (ids) and its EndedReservations; None if unreadable."""
        try:
            props = await get_all(self.bus, names.EVSE, names.EVSE_PATH, names.EVSE)
        except (DBusError, TimeoutError) as e:
            log.info("evse not reachable for its reservations: %s", e)
            return None
        self.station_tokens = [str(r[1]) for r in props.get("Reservations", [])]
        return ({int(r[0]) for r in props.get("Reservations", [])},
                [(int(i), str(reason), str(at)) for i, reason, at in props.get("EndedReservations", [])])

    async def cancel_station_reservation(self, reservation_id: int) -> bool:
        (ok,) = await call(self.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "CancelReservation", "u",
                           [reservation_id])
        return bool(ok)

    async def cancel_reservation_anywhere(self, cids: list[int], reservation_id: int) -> str:
        """CancelReservation for both protocols: Accepted if one of the connectors held the id."""
        for cid in sorted(cids):
            try:
                if await self.cancel_reservation(cid, reservation_id):
                    log.info("CancelReservation %d: Accepted", reservation_id, extra=fields(connector=cid))
                    return "Accepted"
            except (DBusError, TimeoutError) as e:
                log.warning("CancelReservation %d: connector %d: %s", reservation_id, cid, e)
        try:
            if await self.cancel_station_reservation(reservation_id):
                log.info("CancelReservation %d: Accepted (unspecified connector)", reservation_id)
                return "Accepted"
        except (DBusError, TimeoutError) as e:
            log.warning("CancelReservation %d: evse: %s", reservation_id, e)
        log.info("CancelReservation %d: Rejected (no such reservation)", reservation_id)
        return "Rejected"

    async def unlock(self, cid: int) -> str:
        (status,) = await call(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE,
                               "Unlock", "", [])
        return status

    async def update_local_list(self, version: int, full: bool, entries: list[dict[str, Any]]) -> tuple[str, str]:
        ((status, why),) = await call(self.bus, names.AUTH, names.AUTH_PATH, names.AUTH, "UpdateLocalList", "ubs",
                                      [version, full, json.dumps(entries)])
        return status, why

    async def connection_timeout(self) -> float | None:
        """evse's ConnectionTimeoutS (OCPP's EVConnectionTimeOut / ConnectionTimeOut); None when unreadable."""
        try:
            return float(await get_property(self.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ConnectionTimeoutS"))
        except (DBusError, TimeoutError) as e:
            log.info("evse not reachable for its connection timeout: %s", e)
            return None

    async def set_connection_timeout(self, timeout_s: float) -> float | None:
        """Set it in evse (which keeps it), then the value evse really uses."""
        try:
            await call(self.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "SetConnectionTimeout", "d", [timeout_s])
        except (DBusError, TimeoutError) as e:
            log.warning("connection timeout %g s not applied by evse: %s", timeout_s, e)
        return await self.connection_timeout()

    async def set_local_list_enabled(self, enabled: bool) -> None:
        await call(self.bus, names.AUTH, names.AUTH_PATH, names.AUTH, "SetLocalListEnabled", "b", [enabled])

    async def local_list(self) -> dict[str, Any]:
        return await get_all(self.bus, names.AUTH, names.AUTH_PATH, names.AUTH)

    async def local_list_version(self) -> int:
        """The version of the CSMS's local list in the auth service; 0 (none) when it cannot be read."""
        try:
            return int((await self.local_list()).get("LocalListVersion", 0))
        except (DBusError, TimeoutError) as e:
            log.warning("GetLocalListVersion: auth service: %s", e)
            return 0

    async def set_limit(self, cid: int, limit_a: float | None) -> None:
        """The OCPP composite limit for a connector (0: the site); None clears it."""
        if limit_a is None:
            await call(self.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY, "ClearExternalLimit", "us",
                       [cid, "ocpp"])
        else:
            await call(self.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY, "SetExternalLimit", "usd",
                       [cid, "ocpp", limit_a])
