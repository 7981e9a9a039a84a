"""org.evcharge.Evse1 and org.evcharge.Evse1.Connector (no postponed annotations: dbus-fast reads them)."""

import json
from typing import TYPE_CHECKING

from dbus_fast import Variant
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

from ..common import names
from ..common.errors import InvalidArgument, InvalidState, require_choice, require_range
from .config import CONNECTION_TIMEOUT_MAX_S, CONNECTION_TIMEOUT_MIN_S
from .session import TokenOutcome, parse_utc

if TYPE_CHECKING:
    from .service import ConnectorRuntime, EvseService

MAX_TOKEN_LEN = 36  # OCPP 2.0.1 IdTokenType
HLC_PROTOCOLS = frozenset({"iso2", "din"})
STOP_REASONS = frozenset({"DeAuthorized", "EmergencyStop", "EnergyLimitReached", "EVDisconnected", "GroundFault",
                          "ImmediateReset", "Local", "LocalOutOfCredit", "MasterPass", "Other", "OvercurrentFault",
                          "PowerLoss", "PowerQuality", "Reboot", "Remote", "SOCLimitReached", "StoppedByEV",
                          "TimeLimitReached", "Timeout"})


def check_reservation(reservation_id: int, token: str, group_token: str, expires_at: str) -> None:
    if reservation_id == 0:
        raise InvalidArgument("reservation_id must be at least 1 (0 means no reservation)")
    if not token or len(token) > MAX_TOKEN_LEN:
        raise InvalidArgument(f"token must be 1..{MAX_TOKEN_LEN} characters, got {len(token)}")
    if len(group_token) > MAX_TOKEN_LEN:
        raise InvalidArgument(f"group_token must be at most {MAX_TOKEN_LEN} characters, got {len(group_token)}")
    try:
        parse_utc(expires_at)
    except ValueError:
        raise InvalidArgument(f"expires_at must be an RFC 3339 time with an offset, e.g. "
                              f"2026-01-31T12:00:00Z; got {expires_at!r}") from None


class EvseInterface(ServiceInterface):
    def __init__(self, svc: "EvseService") -> None:
        super().__init__(names.EVSE)
        self._svc = svc

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorIds(self) -> "au":
        """Connectors managed by this service."""
        return list(self._svc.connectors)

    @dbus_property(access=PropertyAccess.READ)
    def ConnectionTimeoutS(self) -> "d":
        """How long a token presented before the cable waits for one, in seconds (OCPP EVConnectionTimeOut)."""
        return self._svc.connection_timeout_s

    @method()
    def SetConnectionTimeout(self, timeout_s: "d") -> None:
        """Set ConnectionTimeoutS (1 .. 3600 s) for every connector; kept across restarts. A token already
        held keeps the timeout it was held with."""
        require_range("timeout_s", timeout_s, CONNECTION_TIMEOUT_MIN_S, CONNECTION_TIMEOUT_MAX_S, " s")
        self._svc.set_connection_timeout(timeout_s)

    @method()
    def Reserve(self, reservation_id: "u", token: "s", group_token: "s", expires_at: "s") -> "s":
        """Reserve a connector without naming it (OCPP ReserveNow without evseId) for token (or any token of
        group_token, may be empty) until expires_at (UTC RFC 3339), kept across restarts. No connector is
        picked: once the usable connectors are as many as these reservations, each of them is Reserved
        and only such a token starts there. Accepted, Occupied (no usable connector left for it),
        Faulted, Unavailable, or Rejected (expires_at is past). The same reservation_id again replaces it."""
        check_reservation(reservation_id, token, group_token, expires_at)
        return self._svc.reserve_station(reservation_id, token, group_token, expires_at).value

    @method()
    def CancelReservation(self, reservation_id: "u") -> "b":
        """End the reservation of an unspecified connector with this id (ReservationEvent ReservationEnded, reason
        Cancelled); false when there is no such reservation."""
        return self._svc.cancel_station_reservation(reservation_id)

    def reservations_value(self) -> list:
        return [[r.id, r.token, r.group_token, r.expires_at] for r in self._svc.station.items]

    @dbus_property(access=PropertyAccess.READ)
    def Reservations(self) -> "a(usss)":
        """Reservations of an unspecified connector: (reservation_id, token, group_token, expires_at)."""
        return self.reservations_value()

    @dbus_property(access=PropertyAccess.READ)
    def EndedReservations(self) -> "a(uss)":
        """The last reservations that ended, of every connector and of the unspecified one, oldest first:
        (reservation_id, reason Used|Expired|Cancelled, ended_at UTC RFC 3339), a few per connector, kept
        across restarts: a client that missed a ReservationEnded (it was restarting) reads how it ended.
        Read on demand (no PropertiesChanged)."""
        ended = [e for rt in self._svc.connectors.values() for e in rt.core.ended_reservations]
        return [list(e) for e in sorted(ended + self._svc.station.ended, key=lambda e: e[2])]

    @signal()
    def ReservationEvent(self, event: str, detail: dict) -> "ss":
        """A reservation of an unspecified connector: Reserved {reservation_id, token, group_token, expires_at,
        replaced} or ReservationEnded {reservation_id, token, reason Expired|Cancelled} (its use is the
        connector's SessionEvent ReservationEnded, reason Used), JSON detail."""
        return [event, json.dumps(detail, sort_keys=True)]

    @method()
    def ListSessions(self, limit: "u") -> "aa{sv}":
        """The most recent sessions, newest first: running ones, then ended ones (up to limit; 0 = all kept)."""
        out = []
        for s in self._svc.sessions(limit):
            out.append({
                "session_id": Variant("s", s["id"]), "connector_id": Variant("u", s["connector_id"]),
                "token": Variant("s", s["token"]), "started_at": Variant("s", s["started_at"]),
                "ended_at": Variant("s", s["ended_at"]), "stop_reason": Variant("s", s["stop_reason"]),
                "energy_wh": Variant("d", float(s["energy_wh"])),
            })
        return out


class ConnectorInterface(ServiceInterface):
    def __init__(self, rt: "ConnectorRuntime") -> None:
        super().__init__(names.EVSE_CONNECTOR_IFACE)
        self._rt = rt

    @method()
    def RemoteStart(self, token: "s") -> "s":
        """Authorize the plugged EV (or the next plug-in within the connection timeout) with a backend token."""
        return self._remote_start(token, "")

    @method()
    def RemoteStartWithGroup(self, token: "s", group_token: "s") -> "s":
        """RemoteStart for a token the backend accepted as a member of group_token (OCPP groupIdToken, 1.6
        parentIdTag): it may also use a reservation made for that group."""
        if not group_token or len(group_token) > MAX_TOKEN_LEN:
            raise InvalidArgument(f"group_token must be 1..{MAX_TOKEN_LEN} characters, got {len(group_token)}")
        return self._remote_start(token, group_token)

    def _remote_start(self, token: str, group_token: str) -> str:
        if not token or len(token) > MAX_TOKEN_LEN:
            raise InvalidArgument(f"token must be 1..{MAX_TOKEN_LEN} characters, got {len(token)}")
        core = self._rt.core
        if not core.available:
            raise InvalidState(f"connector {core.connector_id} is Inoperative")
        if core.blocking_faults:
            raise InvalidState(f"connector {core.connector_id} is faulted: {', '.join(core.blocking_faults)}")
        if core.session is not None and core.session.authorized:
            raise InvalidState(f"connector {core.connector_id} already has an authorized session")
        if self._rt.token(token, "Central", group_token) == TokenOutcome.RESERVED:
            raise InvalidState(f"connector {core.connector_id} is reserved for another token")
        return core.session.id if core.session else ""

    @method()
    def Reserve(self, reservation_id: "u", token: "s", group_token: "s", expires_at: "s") -> "s":
        """Hold the connector for token (or any token of group_token, may be empty) until expires_at (UTC RFC 3339),
        kept across restarts. Accepted, Occupied (a session, a plugged EV, a held token or another reservation),
        Faulted, Unavailable, or Rejected (expires_at is past). The same reservation_id again replaces it."""
        check_reservation(reservation_id, token, group_token, expires_at)
        return self._rt.reserve(reservation_id, token, group_token, expires_at).value

    @method()
    def CancelReservation(self, reservation_id: "u") -> "b":
        """End the reservation with this id (SessionEvent ReservationEnded, reason Cancelled); false when this
        connector has no such reservation."""
        return self._rt.cancel_reservation(reservation_id)

    @dbus_property(access=PropertyAccess.READ)
    def ReservationId(self) -> "u":
        """The reservation holding this connector, 0 = none."""
        r = self._rt.core.reservation
        return r.id if r else 0

    @dbus_property(access=PropertyAccess.READ)
    def SessionReservationId(self) -> "u":
        """The reservation the running session's token used (OCPP reservationId), 0 = none."""
        s = self._rt.core.session
        return s.reservation_id if s else 0

    @dbus_property(access=PropertyAccess.READ)
    def ReservationToken(self) -> "s":
        """The token the connector is reserved for, or empty."""
        r = self._rt.core.reservation
        return r.token if r else ""

    @method()
    def Stop(self, reason: "s") -> None:
        """Stop the running session (reason: an OCPP stop reason, default Remote); it ends at unplug."""
        reason = reason or "Remote"
        if reason not in STOP_REASONS:
            raise InvalidArgument(f"reason must be one of {', '.join(sorted(STOP_REASONS))}; got {reason!r}")
        if not self._rt.stop(reason):
            raise InvalidState(f"connector {self._rt.core.connector_id} has no running session")

    @method()
    def Pause(self) -> None:
        if not self._rt.pause(True):
            raise InvalidState("only an authorized, running, unpaused session can be paused")

    @method()
    def Resume(self) -> None:
        if not self._rt.pause(False):
            raise InvalidState("only a paused session can be resumed")

    @method()
    def SetAvailability(self, operative: "b") -> None:
        """Operative or Inoperative; a running session finishes first (persists across restarts)."""
        self._rt.set_available(operative)

    @method()
    async def Unlock(self) -> "s":
        """Release the cable lock now (OCPP UnlockConnector): Unlocked, UnlockFailed (the board refused or still
        holds it, e.g. energised or welded contactor) or OngoingAuthorizedTransaction (nothing is done)."""
        return await self._rt.unlock()

    @method()
    def HlcStarted(self, protocol: "s", evcc_id: "s") -> None:
        """The V2G service set up an ISO 15118-2 ("iso2") or DIN 70121 ("din") session with the plugged EV."""
        require_choice("protocol", protocol, HLC_PROTOCOLS)
        if len(evcc_id) > 64:
            raise InvalidArgument(f"evcc_id must be at most 64 characters, got {len(evcc_id)}")
        if not self._rt.hlc("hlc_started", protocol, evcc_id):
            raise InvalidState(f"connector {self._rt.core.connector_id} has no running session served by HLC")

    @method()
    def HlcAuthorization(self) -> "s":
        """EIM for the V2G session: Accepted (the session is authorized), Ongoing (not yet) or Rejected."""
        return self._rt.hlc("hlc_authorization")

    @method()
    def HlcPowerDelivery(self, start: "b", current_a: "d") -> None:
        """PowerDelivery(Start) with the agreed current per phase (6..80 A), or PowerDelivery(Stop) (current_a 0)."""
        if start:
            require_range("current_a", current_a, 6.0, 80.0, " A")
        if not self._rt.hlc("hlc_power_delivery", start, current_a):
            raise InvalidState(f"connector {self._rt.core.connector_id}: no authorized HLC session to "
                               f"{'start' if start else 'stop'}")

    @method()
    def HlcStopped(self, reason: "s") -> None:
        """The V2G session ended (SessionStop, sequence timeout, error...): power stops, the session is stopped."""
        self._rt.hlc("hlc_stopped", reason[:200])

    @dbus_property(access=PropertyAccess.READ)
    def HlcProtocol(self) -> "s":
        """iso2 or din while an ISO 15118 / DIN 70121 session runs, else empty."""
        s = self._rt.core.session
        return s.hlc if s else ""

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorId(self) -> "u":
        """This connector."""
        return self._rt.core.connector_id

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> "s":
        """Available, Reserved, Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing, Faulted or Unavailable."""
        return self._rt.core.state.value

    @dbus_property(access=PropertyAccess.READ)
    def Available(self) -> "b":
        """False when set Inoperative."""
        return self._rt.core.available

    @dbus_property(access=PropertyAccess.READ)
    def SessionId(self) -> "s":
        """The running session (from plug-in to unplug), or empty."""
        s = self._rt.core.session
        return s.id if s else ""

    @dbus_property(access=PropertyAccess.READ)
    def SessionToken(self) -> "s":
        """The token that authorized the session, or empty."""
        s = self._rt.core.session
        return s.token if s else ""

    @dbus_property(access=PropertyAccess.READ)
    def SessionStartedAt(self) -> "s":
        """UTC RFC 3339 time of plug-in."""
        s = self._rt.core.session
        return s.started_at if s else ""

    @dbus_property(access=PropertyAccess.READ)
    def SessionEnergyWh(self) -> "d":
        """Energy delivered since authorization."""
        s = self._rt.core.session
        return s.energy_wh if s else 0.0

    @dbus_property(access=PropertyAccess.READ)
    def StopReason(self) -> "s":
        """OCPP stop reason once the session was stopped."""
        s = self._rt.core.session
        return s.stop_reason if s else ""

    @dbus_property(access=PropertyAccess.READ)
    def Paused(self) -> "b":
        """The session is paused (Pause)."""
        s = self._rt.core.session
        return bool(s and s.paused)

    @dbus_property(access=PropertyAccess.READ)
    def OfferedCurrentA(self) -> "d":
        """Current offered to the board now."""
        return self._rt.core.offer_a

    @dbus_property(access=PropertyAccess.READ)
    def AllocatedCurrentA(self) -> "d":
        """Current the energy service allocated to this connector."""
        return self._rt.core.allocation_a

    @dbus_property(access=PropertyAccess.READ)
    def MaxCurrentA(self) -> "d":
        """Configured maximum of the connector."""
        return self._rt.core.max_current_a

    @dbus_property(access=PropertyAccess.READ)
    def Faults(self) -> "as":
        """Faults the board reports for this connector."""
        return list(self._rt.core.board.faults)

    @signal()
    def SessionStarted(self, session_id: str, started_at: str) -> "ss":
        """An EV was plugged in: session id, start time."""
        return [session_id, started_at]

    @signal()
    def SessionEvent(self, session_id: str, event: str, detail: dict) -> "sss":
        """Something happened in a session: session id, event (Authorized, ChargingStarted, Paused,
        Resumed, Stopped, TokenRejected {status, ...; status Reserved: reservation_id}, PlugInRefused; before
        the cable (session id ""): TokenHeld {token, token_type, timeout_s, reservation_id} and TokenExpired
        {token, reason Timeout|Replaced|Inoperative}; reservations: Reserved {reservation_id, token, group_token,
        expires_at, replaced}, ReservationEnded {reservation_id, token, reason Used|Expired|Cancelled};
        HLC: HlcStarted, HlcPowerDelivery, HlcStopped, HlcFallback, SlacMatched, SlacFailed {reason,
        attempt, action retry|basic|stop}, SlacRetry), JSON detail."""
        return [session_id, event, json.dumps(detail, sort_keys=True)]

    @signal()
    def SessionEnded(self, session_id: str, reason: str, energy_wh: float, token: str) -> "ssds":
        """The EV was unplugged: session id, stop reason, energy (Wh), token."""
        return [session_id, reason, energy_wh, token]
