"""Reservations on the OCPP side (2.0.1 block H): the decisions the adapter makes. Pure.

evse holds the reservations themselves (persisted with the connector). What this side keeps is
which reservation a reserved token used, until the first TransactionEvent with that token names
it (H03): with TxStartPoint PowerPathClosed or EnergyTransfer that event comes long after the
authorization, so the use is stored (the service keeps it in the queue's database) and must be
matched to the right session after a restart of either service.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReservationUse:
    reservation_id: int
    token: str       # the reserved token (or one of its group) that used it
    session: str     # the evse session it authorized; "" while held before the cable (TokenHeld)


def note_use(current: ReservationUse | None, event: str, session_id: str,
             detail: dict) -> ReservationUse | None:
    """The use after an evse event. Authorized / TokenHeld say which reservation (if any) the token
    used, so each replaces what was there; TokenExpired drops a held token's use (not a session's:
    a session authorized before has nothing to do with the token that expired)."""
    if event == "TokenExpired":
        return current if current is not None and current.session else None
    if event not in ("Authorized", "TokenHeld"):
        return current
    rid = int(detail.get("reservation_id") or 0)
    if not rid:
        return None
    return ReservationUse(rid, str(detail.get("token", "")), session_id)


def names_reservation(use: ReservationUse | None, id_token: str) -> bool:
    """Does a TransactionEvent with this idToken carry the use's reservationId?"""
    return use is not None and bool(id_token) and id_token.casefold() == use.token.casefold()


def still_valid(use: ReservationUse, session: str, session_token: str) -> bool:
    """After a restart: the use still belongs to evse's current session of the connector, or to
    the token still held before the cable (no session yet), or to the session that token
    authorized meanwhile. Otherwise that session ended, or the held token expired: drop it."""
    if use.session:
        return use.session == session
    return not session or session_token.casefold() == use.token.casefold()


def connector_type_matches(requested: str | None, actual: str) -> bool:
    """ReserveNow's connectorType (H01.FR.?): absent, or the type of the EVSE's connector."""
    return not requested or requested == actual
