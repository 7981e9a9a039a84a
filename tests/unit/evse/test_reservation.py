"""Reservations on one connector (OCPP 2.0.1 H01-H04, 1.6 ReserveNow): pure, with explicit wall and monotonic time."""

from datetime import UTC, datetime, timedelta

import pytest
from evcharge.evse.session import BoardView, ConnectorSessions, ConnectorState, ReserveStatus, TokenOutcome, parse_utc

T = 1000.0
WALL = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LATER = "2026-11-23T02:10:00Z"


def plugged(cp="B", contactor=False, faults=(), online=True):
    return BoardView(cp_state=cp, contactor_closed=contactor, faults=tuple(faults), online=online)


def evs(c):
    return [(d.get("event"), d.get("detail", {})) for k, d in c.drain_events() if k == "SessionEvent"]


def reserved(token="CAFE01", group="", rid=7):
    c = ConnectorSessions(connector_id=1, max_current_a=32)
    assert c.reserve(rid, token, group, LATER, WALL) is ReserveStatus.ACCEPTED
    c.drain_events()
    return c


def test_reserve_makes_the_connector_reserved_and_says_so():
    c = ConnectorSessions(connector_id=1)
    assert c.reserve(7, "CAFE01", "", LATER, WALL) is ReserveStatus.ACCEPTED
    assert c.state is ConnectorState.RESERVED
    assert evs(c) == [("Reserved", {"reservation_id": 7, "token": "CAFE01", "group_token": "",
                                    "expires_at": LATER, "replaced": False})]


def test_other_token_is_rejected_with_status_reserved():
    c = reserved()
    assert c.present_token("BEEF02", "ISO14443", T, wall=WALL) is TokenOutcome.RESERVED
    assert evs(c) == [("TokenRejected", {"status": "Reserved", "token": "BEEF02", "reservation_id": 7})]
    assert c.pending is None and c.reservation is not None and c.state is ConnectorState.RESERVED


def test_plug_in_without_token_does_not_charge_and_other_token_cannot_authorize():
    c = reserved()
    c.update_board(plugged(), T)
    assert c.state is ConnectorState.RESERVED and c.demand_a == 0   # G03.FR.09: still Reserved
    assert c.present_token("BEEF02", "ISO14443", T, wall=WALL) is TokenOutcome.RESERVED
    assert not c.session.authorized and c.demand_a == 0


def test_reserved_token_after_plug_in_uses_the_reservation():
    c = reserved()
    c.update_board(plugged(), T)
    c.drain_events()
    assert c.present_token("cafe01", "ISO14443", T, wall=WALL) is TokenOutcome.AUTHORIZED
    assert c.session.authorized and c.session.reservation_id == 7 and c.reservation is None
    got = evs(c)
    assert got[0] == ("ReservationEnded", {"reservation_id": 7, "reason": "Used", "token": "cafe01"})
    assert got[1][0] == "Authorized" and got[1][1]["reservation_id"] == 7


def test_reserved_token_before_plug_in_is_held_and_carries_the_reservation_into_the_session():
    c = reserved()
    assert c.present_token("CAFE01", "ISO14443", T, wall=WALL) is TokenOutcome.AUTHORIZED
    got = evs(c)
    assert got[0][1]["reason"] == "Used"
    assert got[1] == ("TokenHeld", {"token": "CAFE01", "token_type": "ISO14443", "timeout_s": 60.0,
                                    "reservation_id": 7})
    assert c.state is ConnectorState.AVAILABLE
    c.update_board(plugged(), T + 5)
    assert c.session.authorized and c.session.reservation_id == 7


def test_group_token_may_use_the_reservation():
    c = reserved(group="FLEET")
    assert c.present_token("OTHER", "ISO14443", T, group_token="fleet", wall=WALL) is TokenOutcome.AUTHORIZED
    assert c.reservation is None and c.pending.reservation_id == 7
    c2 = reserved(group="FLEET")
    assert c2.present_token("OTHER", "ISO14443", T, group_token="NOPE", wall=WALL) is TokenOutcome.RESERVED


def test_expiry_on_tick_frees_the_connector():
    c = reserved()
    c.tick(T, WALL + timedelta(minutes=9))
    assert c.state is ConnectorState.RESERVED and evs(c) == []
    c.tick(T, WALL + timedelta(minutes=10))
    assert c.state is ConnectorState.AVAILABLE and c.reservation is None
    assert evs(c) == [("ReservationEnded", {"reservation_id": 7, "reason": "Expired", "token": "CAFE01"})]
    assert c.present_token("BEEF02", "ISO14443", T, wall=WALL + timedelta(minutes=10)) is TokenOutcome.AUTHORIZED


def test_expired_reservation_does_not_block_a_token_before_the_tick():
    c = reserved()
    assert c.present_token("BEEF02", "ISO14443", T, wall=WALL + timedelta(hours=1)) is TokenOutcome.AUTHORIZED
    assert [e for e, _ in evs(c)] == ["ReservationEnded", "TokenHeld"]


def test_cancel():
    c = reserved()
    assert not c.cancel_reservation(8)
    assert c.cancel_reservation(7)
    assert c.state is ConnectorState.AVAILABLE
    assert evs(c) == [("ReservationEnded", {"reservation_id": 7, "reason": "Cancelled", "token": "CAFE01"})]
    assert not c.cancel_reservation(7)


@pytest.mark.parametrize("setup,status", [
    (lambda c: c.update_board(plugged(faults=["RcdTrip"]), T), ReserveStatus.FAULTED),
    (lambda c: c.set_available(False, T), ReserveStatus.UNAVAILABLE),
    (lambda c: c.update_board(plugged(), T), ReserveStatus.OCCUPIED),
    (lambda c: c.present_token("BEEF02", "ISO14443", T), ReserveStatus.OCCUPIED),
    (lambda c: c.reserve(3, "X", "", LATER, WALL), ReserveStatus.OCCUPIED),
])
def test_refusals(setup, status):
    c = ConnectorSessions(connector_id=1)
    setup(c)
    c.drain_events()
    assert c.reserve(7, "CAFE01", "", LATER, WALL) is status
    assert all(e != "Reserved" for e, _ in evs(c))
    assert c.reservation is None or c.reservation.id == 3


def test_past_expiry_is_rejected_and_same_id_replaces():
    c = ConnectorSessions(connector_id=1)
    assert c.reserve(7, "CAFE01", "", "2026-11-23T01:59:59Z", WALL) is ReserveStatus.REJECTED
    assert c.reservation is None
    c = reserved()
    assert c.reserve(7, "BEEF02", "", "2026-11-23T04:00:00+01:00", WALL) is ReserveStatus.ACCEPTED
    assert c.reservation.token == "BEEF02" and evs(c)[0][1]["replaced"] is True


def test_faulted_or_unavailable_reserved_connector_shows_that_state():
    c = reserved()
    c.update_board(plugged(cp="A", faults=["RcdTrip"]), T)
    assert c.state is ConnectorState.FAULTED
    c.update_board(plugged(cp="A"), T)
    assert c.state is ConnectorState.RESERVED


def test_reservation_survives_persistence():
    c = reserved(group="FLEET")
    data = c.to_json()
    c2 = ConnectorSessions(connector_id=1)
    c2.load_json(data)
    assert c2.reservation == c.reservation and c2.state is ConnectorState.RESERVED
    c3 = ConnectorSessions(connector_id=1)
    c3.load_json({"available": True, "session": None})  # state written before reservations existed
    assert c3.reservation is None


def test_session_reservation_id_persists():
    c = reserved()
    c.update_board(plugged(), T)
    c.present_token("CAFE01", "ISO14443", T, wall=WALL)
    c2 = ConnectorSessions(connector_id=1)
    c2.load_json(c.to_json())
    assert c2.session.reservation_id == 7


def test_parse_utc_needs_an_offset():
    assert parse_utc("2026-11-23T02:10:00Z") == datetime(2026, 11, 23, 2, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_utc("2026-11-23T02:10:00")
    with pytest.raises(ValueError):
        parse_utc("tomorrow")


def test_ended_reservations_are_kept_with_the_connector_and_bounded():
    from evcharge.evse.session import ENDED_RESERVATIONS_KEPT
    c = ConnectorSessions(connector_id=1)
    for rid in range(1, ENDED_RESERVATIONS_KEPT + 3):
        c.reserve(rid, "CAFE01", "", LATER, WALL)
        c.cancel_reservation(rid)
    c.reserve(99, "CAFE01", "", LATER, WALL)
    c.tick(T, WALL + timedelta(minutes=10))
    assert len(c.ended_reservations) == ENDED_RESERVATIONS_KEPT
    assert [(i, r) for i, r, _ in c.ended_reservations[-2:]] == [(ENDED_RESERVATIONS_KEPT + 2, "Cancelled"),
                                                                 (99, "Expired")]
    again = ConnectorSessions(connector_id=1)
    again.load_json(c.to_json())
    assert again.ended_reservations == c.ended_reservations
