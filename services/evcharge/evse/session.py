"""One connector's sessions as a pure state machine.

A session runs from plug-in to unplug. A token (RFID, remote start, free vend) authorizes it;
the connector then asks the energy service for current and offers what it is given to the
board; a stop (local token, remote, fault) withdraws the offer and the session ends when the
cable is removed. The adapter feeds board state, tokens, requests, allocations and meter
readings, and carries out `offer_a`, `demand_a` and `lock` and publishes `events`.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

# Board faults that end a session, and the OCPP 2.0.1 stop reason each maps to.
FAULT_STOP_REASONS = {
    "RcdTrip": "GroundFault",
    "ContactorWelded": "Other",
    "ContactorFailedToClose": "Other",
    "DiodeFault": "Other",
    "CpShortCircuit": "Other",
    "CpInvalid": "Other",
    "VentilationNotAvailable": "Other",
    "HardwareLinkLost": "Other",
}
# The evse service's own absence (HeartbeatLost) is not the session's fault: it resumes.
TRANSIENT_FAULTS = frozenset({"HeartbeatLost"})
# After a failed SLAC matching, state F this long (the E/F wake-up, ISO 15118-3 T_step_EF >= 4 s)
# before 5 % again: the EV starts SLAC over.
SLAC_RETRY_EF_S = 4.0
# Ended reservations kept (with the connector's state) so that a service that missed their
# ReservationEnded (the OCPP client restarting) can still learn how they ended.
ENDED_RESERVATIONS_KEPT = 16


class ConnectorState(str, enum.Enum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"          # EV plugged, waiting for authorization
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"     # offered, the EV does not take it
    SUSPENDED_EVSE = "SuspendedEVSE"  # paused, or no current allocated
    FINISHING = "Finishing"          # stopped, cable still in
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    RESERVED = "Reserved"            # no session, held for a reservation's token


class TokenOutcome(str, enum.Enum):
    AUTHORIZED = "Authorized"        # authorized the current or the next session
    STOPPED = "Stopped"              # the same token stopped the running session
    IGNORED = "Ignored"
    RESERVED = "Reserved"            # the connector is reserved for another token


class ReserveStatus(str, enum.Enum):
    ACCEPTED = "Accepted"
    OCCUPIED = "Occupied"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    REJECTED = "Rejected"            # already expired


def parse_utc(text: str) -> datetime:
    """An RFC 3339 time with an offset (Z or +hh:mm) as an aware datetime; ValueError otherwise."""
    t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return t


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Session:
    id: str
    connector_id: int
    started_at: str
    token: str = ""
    token_type: str = ""
    authorized_at: str = ""
    energy_start_wh: float | None = None
    energy_wh: float = 0.0
    stop_reason: str = ""
    stopped_at: str = ""
    ended_at: str = ""
    paused: bool = False
    charged: bool = False            # the contactor closed at least once
    hlc: str = ""                    # ISO 15118 / DIN 70121 session: "iso2" or "din" (V2G service)
    hlc_power: bool = False          # HLC: between PowerDelivery(Start) and PowerDelivery(Stop)
    hlc_current_a: float = 0.0       # HLC: the current agreed at PowerDelivery(Start)
    slac: str = ""                   # HLC: last SLAC result, "matched" or "failed"
    slac_failures: int = 0           # HLC: failed matchings in this session
    hlc_basic: bool = False          # HLC gave up (SLAC failed): basic charging with nominal PWM
    slac_retry_at: float | None = None   # HLC: the E/F wake-up ends (a new matching) at this monotonic time
    slac_matched_at: float | None = None  # HLC: matched, waiting for the V2G session since then
    reservation_id: int = 0          # the reservation this session used (OCPP reservationId), 0 = none

    @property
    def authorized(self) -> bool:
        return bool(self.authorized_at)

    @property
    def stopped(self) -> bool:
        return bool(self.stop_reason)


@dataclass
class PendingToken:
    token: str
    token_type: str
    expires: float
    reservation_id: int = 0


@dataclass
class Reservation:
    """The connector is held for `token` (or any token of `group_token`) until `expires_at` (UTC, wall clock:
    the CSMS's expiry is an absolute time that outlives a restart)."""
    id: int
    token: str
    expires_at: str
    group_token: str = ""

    def expired(self, wall: datetime) -> bool:
        return wall >= parse_utc(self.expires_at)

    def matches(self, token: str, group_token: str) -> bool:
        if token.casefold() == self.token.casefold():
            return True
        return bool(self.group_token and group_token and group_token.casefold() == self.group_token.casefold())


@dataclass
class BoardView:
    cp_state: str = "A"
    contactor_closed: bool = False
    faults: tuple[str, ...] = ()
    online: bool = False

    @property
    def plugged(self) -> bool:
        return self.cp_state in ("B", "C", "D")


@dataclass
class ConnectorSessions:
    connector_id: int
    max_current_a: float = 32.0
    connection_timeout_s: float = 60.0
    hlc_enabled: bool = False        # an ISO 15118 / DIN 70121 SECC serves this connector (5 % PWM)
    # SLAC failed (or matched without a V2G session): retry this many times, each after an E/F
    # wake-up of SLAC_RETRY_EF_S (the board shows F), then fall back: "basic" (nominal PWM, IEC 61851-1 charging after the
    # board's 3 s of X1) or "stop" (the session stops; PWM stays X1 until unplug).
    slac_retries: int = 1
    slac_fallback: str = "basic"
    v2g_after_match_s: float = 20.0  # a SLAC match without SessionSetup within this counts as a failure
    # A V2G session that ends in an error (not SessionStop): "stop" the session (X1 until unplug)
    # or go on as "basic" charging (nominal PWM after the board's 3 s of X1, IEC 61851-1).
    hlc_error_fallback: str = "stop"
    available: bool = True
    ef_pulses: int = 0               # E/F wake-ups asked for (the adapter sends each once to the board)
    session: Session | None = None
    board: BoardView = field(default_factory=BoardView)
    allocation_a: float = 0.0
    meter_wh: float | None = None
    pending: PendingToken | None = None
    reservation: Reservation | None = None
    # Reservations of an unspecified connector (StationReservations), set by the service before each
    # decision: a token of one of them may use this connector; while `station_held` the connector is
    # one of the last ones these reservations need, and other tokens are refused.
    station_reservations: tuple[Reservation, ...] = ()
    station_held: bool = False
    station_used: list[int] = field(default_factory=list)   # ids of those used here, for the service to drop
    ended_reservations: list[tuple[int, str, str]] = field(default_factory=list)  # (id, reason, ended_at)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    # --- outputs ---------------------------------------------------------------------------
    @property
    def demand_a(self) -> float:
        s = self.session
        # Not gated on availability: Inoperative while a transaction runs is "Scheduled" (OCPP
        # G03.FR.05, G04.FR.06), the running session charges on and availability applies after it.
        if s and s.authorized and not s.stopped and not s.paused:
            if s.hlc:  # power only between PowerDelivery(Start) and (Stop)
                return min(self.max_current_a, s.hlc_current_a) if s.hlc_power else 0.0
            return self.max_current_a
        return 0.0

    @property
    def offer_a(self) -> float:
        if self.demand_a == 0 or self.allocation_a < 6.0:
            return 0.0
        return min(self.allocation_a, self.demand_a)  # demand <= max_current_a

    @property
    def lock(self) -> bool:
        s = self.session
        return bool(s and s.authorized and not (s.stopped and not self.board.contactor_closed))

    @property
    def digital_communication(self) -> bool:
        """5 % PWM: HLC configured, the session neither stopped (then X1 until unplug, the safe state
        the EV understands) nor fallen back to basic charging (then nominal PWM after the board's X1)."""
        s = self.session
        if s is None:
            return self.hlc_enabled
        return self.hlc_enabled and not s.stopped and not s.hlc_basic

    @property
    def available_now(self) -> bool:
        return self.available

    @property
    def blocking_faults(self) -> tuple[str, ...]:
        return tuple(f for f in self.board.faults if f not in TRANSIENT_FAULTS)

    @property
    def state(self) -> ConnectorState:
        s = self.session
        if self.blocking_faults:
            return ConnectorState.FAULTED
        if s is None:
            if not self.available:
                return ConnectorState.UNAVAILABLE
            if self.board.plugged:
                return ConnectorState.PREPARING
            held = self.reservation is not None or (self.station_held and self.pending is None)
            return ConnectorState.RESERVED if held else ConnectorState.AVAILABLE
        if s.stopped:
            return ConnectorState.FINISHING
        if not s.authorized:
            # An EV plugged in without the reserved token does not end the reservation: the connector
            # stays Reserved until that token comes or the reservation ends (OCPP 2.0.1 errata
            # G03.FR.09; 1.6 leaves Reserved only when the reservation's idTag is presented, G2).
            held = self.reservation is not None or self.station_held
            return ConnectorState.RESERVED if held else ConnectorState.PREPARING
        if self.board.contactor_closed:
            return ConnectorState.CHARGING
        if self.offer_a == 0:
            return ConnectorState.SUSPENDED_EVSE
        return ConnectorState.SUSPENDED_EV

    # --- inputs ----------------------------------------------------------------------------
    def update_board(self, view: BoardView, now: float) -> None:
        was_plugged = self.board.plugged
        self.board = view
        if not view.online:
            return  # the board's absence is not an unplug: keep everything until it is back
        s = self.session
        if view.plugged and not was_plugged and s is None:
            self._start_session(now)
        elif not view.plugged and s is not None:
            self._end_session("EVDisconnected")
        s = self.session
        if s is not None:
            if view.contactor_closed and not s.charged:
                s.charged = True
                self._event("ChargingStarted", {})
            for fault in self.blocking_faults:
                if not s.stopped:
                    self._stop(FAULT_STOP_REASONS.get(fault, "Other"), detail=fault)

    def present_token(self, token: str, token_type: str, now: float, group_token: str = "",
                      wall: datetime | None = None) -> TokenOutcome:
        """A token that the auth service accepted (group_token: its group, where known)."""
        s = self.session
        if s is not None and s.authorized and not s.stopped:
            if s.token.casefold() == token.casefold():
                self._stop("Local")
                return TokenOutcome.STOPPED
            return TokenOutcome.IGNORED
        if not self.available or self.blocking_faults:
            return TokenOutcome.IGNORED
        if wall is not None:
            self._expire_reservation(wall)
        r = self.reservation
        if r is not None and not r.matches(token, group_token):
            self._event("TokenRejected", {"status": "Reserved", "token": token, "reservation_id": r.id})
            return TokenOutcome.RESERVED
        if r is None and (s is None or not s.authorized) and self.pending is None:
            r = next((x for x in self.station_reservations if x.matches(token, group_token)), None)
            if r is None and self.station_held:
                held_by = self.station_reservations[0].id if self.station_reservations else 0
                self._event("TokenRejected", {"status": "Reserved", "token": token, "reservation_id": held_by})
                return TokenOutcome.RESERVED
            if r is not None:
                self.station_used.append(r.id)
        reservation_id = r.id if r else 0
        if r is not None:
            if r is self.reservation:
                self.reservation = None
                self._ended(r, "Used")
            self._event("ReservationEnded", {"reservation_id": r.id, "reason": "Used", "token": token})
        if s is not None and not s.authorized:
            s.reservation_id = reservation_id
            self._authorize(token, token_type)
            return TokenOutcome.AUTHORIZED
        if s is None:
            # Token first, cable second: hold it for the connection timeout. Said on the bus so that
            # OCPP can begin its transaction at authorization (TxStartPoint Authorized, E03 / TC_E_39).
            if self.pending and self.pending.token.casefold() != token.casefold():
                self._event_noses("TokenExpired", {"token": self.pending.token, "reason": "Replaced"})
            self.pending = PendingToken(token, token_type, now + self.connection_timeout_s, reservation_id)
            held = {"token": token, "token_type": token_type, "timeout_s": self.connection_timeout_s}
            self._event_noses("TokenHeld", held | ({"reservation_id": reservation_id} if reservation_id else {}))
            return TokenOutcome.AUTHORIZED
        return TokenOutcome.IGNORED

    # --- reservations (OCPP 2.0.1 H, 1.6 Reservation profile) -------------------------------------
    def reserve(self, reservation_id: int, token: str, group_token: str, expires_at: str,
                wall: datetime) -> ReserveStatus:
        """Hold the connector for a token until expires_at. The same id again replaces the reservation
        (OCPP H01.FR.02: the CSMS updates it); another one while reserved is Occupied."""
        if self.blocking_faults:
            return ReserveStatus.FAULTED
        if not self.available:
            return ReserveStatus.UNAVAILABLE
        self._expire_reservation(wall)
        busy = self.session is not None or self.board.plugged or self.pending is not None
        if busy or (self.reservation is not None and self.reservation.id != reservation_id):
            return ReserveStatus.OCCUPIED
        if wall >= parse_utc(expires_at):
            return ReserveStatus.REJECTED
        replaced = self.reservation is not None
        self.reservation = Reservation(reservation_id, token, expires_at, group_token)
        self._event_noses("Reserved", {"reservation_id": reservation_id, "token": token, "group_token": group_token,
                                       "expires_at": expires_at, "replaced": replaced})
        return ReserveStatus.ACCEPTED

    def cancel_reservation(self, reservation_id: int) -> bool:
        r = self.reservation
        if r is None or r.id != reservation_id:
            return False
        self.reservation = None
        self._ended(r, "Cancelled")
        self._event_noses("ReservationEnded", {"reservation_id": r.id, "reason": "Cancelled", "token": r.token})
        return True

    def _expire_reservation(self, wall: datetime) -> None:
        r = self.reservation
        if r is not None and r.expired(wall):
            self.reservation = None
            self._ended(r, "Expired")
            self._event_noses("ReservationEnded", {"reservation_id": r.id, "reason": "Expired", "token": r.token})

    def _ended(self, r: Reservation, reason: str) -> None:
        self.ended_reservations = (self.ended_reservations + [(r.id, reason, utc_now())])[-ENDED_RESERVATIONS_KEPT:]

    def stop(self, reason: str) -> bool:
        s = self.session
        if s is None or s.stopped:
            return False
        self._stop(reason)
        return True

    def pause(self, paused: bool) -> bool:
        s = self.session
        if s is None or not s.authorized or s.stopped or s.paused == paused:
            return False
        s.paused = paused
        self._event("Paused" if paused else "Resumed", {})
        return True

    def set_available(self, available: bool, now: float) -> None:
        # A running session finishes; availability applies to the next one (OCPP "Scheduled").
        self.available = available
        if not available and self.pending:
            self._event_noses("TokenExpired", {"token": self.pending.token, "reason": "Inoperative"})
            self.pending = None
        elif self.session is None and self.board.online and self.board.plugged:
            self._start_session(now)

    # --- ISO 15118 / DIN 70121 (the V2G service) ---------------------------------------------
    def hlc_started(self, protocol: str, evcc_id: str) -> bool:
        s = self.session
        if s is None or s.stopped or not self.hlc_enabled or s.hlc_basic:
            return False
        s.hlc, s.hlc_power, s.slac_matched_at = protocol, False, None
        self._event("HlcStarted", {"protocol": protocol, "evcc_id": evcc_id})
        return True

    def hlc_authorization(self) -> str:
        """EIM (ExternalPayment): Accepted once the session is authorized the usual way (RFID, remote
        start, free vend), Ongoing until then, Rejected when it cannot be."""
        s = self.session
        if s is None or s.stopped or not self.available or self.blocking_faults:
            return "Rejected"
        return "Accepted" if s.authorized else "Ongoing"

    def hlc_power_delivery(self, start: bool, current_a: float) -> bool:
        s = self.session
        if s is None or not s.hlc or (start and (not s.authorized or s.stopped)):
            return False
        s.hlc_power, s.hlc_current_a = start, current_a if start else 0.0
        self._event("HlcPowerDelivery", {"start": start, "current_a": current_a})
        return True

    def hlc_stopped(self, reason: str) -> None:
        s = self.session
        if s is None or not s.hlc:
            return
        s.hlc_power = False
        self._event("HlcStopped", {"reason": reason})
        if s.stopped:
            return
        if reason.startswith("SessionStop"):
            self._stop("StoppedByEV", detail=reason)
        elif self.hlc_error_fallback == "basic" and s.authorized and self.available_now and not self.blocking_faults:
            s.hlc, s.hlc_basic = "", True
            self._event("HlcFallback", {"reason": reason, "action": "basic"})
        else:
            self._stop("Other", detail=reason)

    def slac_result(self, result: str, reason: str, now: float) -> None:
        """The SLAC service's verdict for this connector (ISO 15118-3): matched -> wait for the V2G
        session; failed -> retry after an E/F wake-up, then fall back to basic charging or stop."""
        s = self.session
        if s is None or s.stopped or not self.hlc_enabled or s.hlc_basic or s.hlc:
            return  # nothing to match for, or the V2G session already runs (SLAC is history)
        s.slac = result
        if result == "matched":
            s.slac_matched_at = now
            self._event("SlacMatched", {})
            return
        self._slac_failed(reason or "SLAC failed", now)

    def _slac_failed(self, reason: str, now: float) -> None:
        s = self.session
        assert s is not None
        s.slac, s.slac_matched_at = "failed", None
        s.slac_failures += 1
        if s.slac_failures <= self.slac_retries:
            s.slac_retry_at = now + SLAC_RETRY_EF_S
            self.ef_pulses += 1
            action = "retry"
        elif self.slac_fallback == "basic":
            s.hlc_basic = True
            action = "basic"
        else:
            action = "stop"
        self._event("SlacFailed", {"reason": reason, "attempt": s.slac_failures, "action": action})
        if action == "stop":
            self._stop("Other", detail=f"SLAC failed: {reason}")

    def set_allocation(self, amps: float) -> None:
        self.allocation_a = amps

    def update_meter(self, energy_wh: float) -> None:
        self.meter_wh = energy_wh
        s = self.session
        if s is not None and s.authorized and not s.ended_at:
            if s.energy_start_wh is None:
                s.energy_start_wh = energy_wh
            if not s.stopped or self.board.contactor_closed:
                s.energy_wh = max(0.0, energy_wh - s.energy_start_wh)

    def tick(self, now: float, wall: datetime | None = None) -> None:
        if wall is not None:
            self._expire_reservation(wall)
        s = self.session
        if s is not None and not s.stopped:
            if s.slac_retry_at is not None and now >= s.slac_retry_at:
                s.slac_retry_at = None  # the board is back at 5 %: the SLAC service matches again
                self._event("SlacRetry", {"attempt": s.slac_failures + 1})
            if s.slac_matched_at is not None and not s.hlc and now - s.slac_matched_at >= self.v2g_after_match_s:
                self._slac_failed(f"no V2G session {self.v2g_after_match_s:g} s after the SLAC match", now)
        if self.pending and now >= self.pending.expires:
            self._event_noses("TokenExpired", {"token": self.pending.token, "reason": "Timeout"})
            self.pending = None

    # --- internals -------------------------------------------------------------------------
    def _start_session(self, now: float) -> None:
        if not self.available:
            self._event_noses("PlugInRefused", {"reason": "Unavailable"})
            return
        s = Session(id=uuid.uuid4().hex, connector_id=self.connector_id, started_at=utc_now())
        self.session = s
        self.events.append(("SessionStarted", {"session_id": s.id, "started_at": s.started_at}))
        if self.pending and now < self.pending.expires:
            s.reservation_id = self.pending.reservation_id
            self._authorize(self.pending.token, self.pending.token_type)
        self.pending = None

    def _authorize(self, token: str, token_type: str) -> None:
        s = self.session
        assert s is not None
        s.token, s.token_type, s.authorized_at = token, token_type, utc_now()
        if self.meter_wh is not None:
            s.energy_start_wh = self.meter_wh
        detail: dict[str, Any] = {"token": token, "token_type": token_type}
        if s.reservation_id:
            detail["reservation_id"] = s.reservation_id
        self._event("Authorized", detail)

    def _stop(self, reason: str, detail: str = "") -> None:
        s = self.session
        assert s is not None
        s.stop_reason, s.stopped_at = reason, utc_now()
        self._event("Stopped", {"reason": reason, "detail": detail})

    def _end_session(self, reason_if_running: str) -> None:
        s = self.session
        assert s is not None
        if not s.stopped:
            s.stop_reason, s.stopped_at = reason_if_running, utc_now()
        s.ended_at = utc_now()
        self.events.append(("SessionEnded", {"session": asdict(s)}))
        self.session = None

    def _event(self, name: str, detail: dict[str, Any]) -> None:
        s = self.session
        self.events.append(("SessionEvent", {"session_id": s.id if s else "", "event": name, "detail": detail}))

    def _event_noses(self, name: str, detail: dict[str, Any]) -> None:
        self.events.append(("SessionEvent", {"session_id": "", "event": name, "detail": detail}))

    def drain_events(self) -> list[tuple[str, dict[str, Any]]]:
        out, self.events = self.events, []
        return out

    # --- persistence -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"available": self.available, "session": asdict(self.session) if self.session else None,
                "reservation": asdict(self.reservation) if self.reservation else None,
                "ended_reservations": [list(e) for e in self.ended_reservations]}

    def load_json(self, data: dict[str, Any]) -> None:
        self.available = bool(data.get("available", True))
        if data.get("reservation"):
            self.reservation = Reservation(**data["reservation"])
        self.ended_reservations = [(int(i), str(r), str(t)) for i, r, t in data.get("ended_reservations", [])]
        if data.get("session"):
            self.session = Session(**data["session"])
            # Until the board says otherwise, the EV is where we left it: no spurious plug-in.
            self.board = BoardView(cp_state="B", online=False)


# --- reservations of an unspecified connector (OCPP 2.0.1 H01 without evseId) -------------------------
def usable_by_a_new_token(c: ConnectorSessions) -> bool:
    """Could a token presented now start on this connector (the ones a station reservation counts on)?
    Operative, not faulted, not reserved itself, and neither a token held nor an authorized or
    stopped session: free, or an EV plugged in that waits for a token."""
    s = c.session
    return (c.available and not c.blocking_faults and c.reservation is None and c.pending is None
            and (s is None or not (s.authorized or s.stopped)))


@dataclass
class StationReservations:
    """Reservations of an unspecified connector (H01.FR.04): each keeps one connector for its token.

    No connector is picked: while more connectors are usable than there are reservations, any
    token may take one; once they are as many (H01.FR.20), each of them is held (`Reserved`) and
    only a reservation's token (or group) may start there, using that reservation."""
    items: list[Reservation] = field(default_factory=list)
    ended: list[tuple[int, str, str]] = field(default_factory=list)   # (id, reason, ended_at), the last few

    def _ended(self, gone: list[Reservation], reason: str) -> list[Reservation]:
        self.ended = (self.ended + [(r.id, reason, utc_now()) for r in gone])[-ENDED_RESERVATIONS_KEPT:]
        return gone

    def ids(self) -> list[int]:
        return [r.id for r in self.items]

    def held(self, connectors: list[ConnectorSessions]) -> set[int]:
        """The connectors (ids) held for these reservations."""
        usable = [c.connector_id for c in connectors if usable_by_a_new_token(c)]
        return set(usable) if self.items and len(usable) <= len(self.items) else set()

    def reserve(self, reservation_id: int, token: str, group_token: str, expires_at: str, wall: datetime,
                connectors: list[ConnectorSessions]) -> ReserveStatus:
        """Accepted when a usable connector is left for it besides those the others need. The same id
        again replaces the reservation (the CSMS updates it)."""
        others = [r for r in self.items if r.id != reservation_id]
        usable = [c for c in connectors if usable_by_a_new_token(c)]
        if len(usable) <= len(others):
            operative = [c for c in connectors if c.available]
            if not operative:
                return ReserveStatus.UNAVAILABLE
            if all(c.blocking_faults for c in operative):
                return ReserveStatus.FAULTED
            return ReserveStatus.OCCUPIED
        if wall >= parse_utc(expires_at):
            return ReserveStatus.REJECTED
        self.items = others + [Reservation(reservation_id, token, expires_at, group_token)]
        return ReserveStatus.ACCEPTED

    def cancel(self, reservation_id: int) -> Reservation | None:
        found = next((r for r in self.items if r.id == reservation_id), None)
        if found is not None:
            self.items.remove(found)
            self._ended([found], "Cancelled")
        return found

    def expire(self, wall: datetime) -> list[Reservation]:
        gone = [r for r in self.items if r.expired(wall)]
        self.items = [r for r in self.items if not r.expired(wall)]
        return self._ended(gone, "Expired")

    def used(self, ids: list[int]) -> list[Reservation]:
        gone = [r for r in self.items if r.id in ids]
        self.items = [r for r in self.items if r.id not in ids]
        return self._ended(gone, "Used")

    def to_json(self) -> dict[str, Any]:
        return {"reservations": [asdict(r) for r in self.items], "ended": [list(e) for e in self.ended]}

    def load_json(self, data: dict[str, Any] | None) -> None:
        self.items = [Reservation(**r) for r in (data or {}).get("reservations", [])]
        self.ended = [(int(i), str(r), str(t)) for i, r, t in (data or {}).get("ended", [])]
