"""Reservations of an unspecified connector (OCPP 2.0.1 H01 without evseId, H01.FR.04/FR.20): pure."""

from datetime import UTC, datetime, timedelta

from evcharge.evse.session import BoardView, ConnectorSessions, ConnectorState, ReserveStatus, StationReservations, TokenOutcome

T = 1000.0
WALL = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LATER = "2026-11-23T02:10:00Z"


def station(n=2):
    return [ConnectorSessions(connector_id=i + 1) for i in range(n)], StationReservations()


def apply(st, cs):
    held = st.held(cs)
    for c in cs:
        c.station_reservations, c.station_held = tuple(st.items), c.connector_id in held


def evs(c):
    return [(d.get("event"), d.get("detail", {})) for k, d in c.drain_events() if k == "SessionEvent"]


def test_no_connector_is_reserved_while_more_are_usable_than_reservations():
    cs, st = station()
    assert st.reserve(5, "CAFE01", "", LATER, WALL, cs) is ReserveStatus.ACCEPTED
    apply(st, cs)
    assert [c.state for c in cs] == [ConnectorState.AVAILABLE] * 2
    # another card takes connector 1: the last usable one is held for the reservation (H01.FR.20)
    assert cs[0].present_token("BEEF02", "ISO14443", T, wall=WALL) is TokenOutcome.AUTHORIZED
    apply(st, cs)
    assert cs[0].state is ConnectorState.AVAILABLE and cs[1].state is ConnectorState.RESERVED
    assert cs[1].present_token("D00D03", "ISO14443", T, wall=WALL) is TokenOutcome.RESERVED
    assert evs(cs[1]) == [("TokenRejected", {"status": "Reserved", "token": "D00D03", "reservation_id": 5})]


def test_the_reserved_token_uses_it_on_any_usable_connector():
    cs, st = station()
    st.reserve(5, "CAFE01", "FLEET", LATER, WALL, cs)
    apply(st, cs)
    assert cs[1].present_token("OTHER", "ISO14443", T, group_token="fleet", wall=WALL) is TokenOutcome.AUTHORIZED
    assert cs[1].station_used == [5] and cs[1].pending.reservation_id == 5
    assert evs(cs[1])[0] == ("ReservationEnded", {"reservation_id": 5, "reason": "Used", "token": "OTHER"})
    assert [r.id for r in st.used(cs[1].station_used)] == [5] and st.items == []
    apply(st, cs)
    assert cs[0].state is ConnectorState.AVAILABLE


def test_a_plugged_ev_waiting_for_a_token_counts_as_usable_and_is_held_too():
    cs, st = station()
    st.reserve(5, "CAFE01", "", LATER, WALL, cs)
    cs[0].update_board(BoardView(cp_state="B", online=True), T)
    cs[1].present_token("BEEF02", "ISO14443", T, wall=WALL)
    apply(st, cs)
    assert cs[0].station_held and cs[0].state is ConnectorState.RESERVED and cs[0].demand_a == 0
    assert cs[0].present_token("D00D03", "ISO14443", T, wall=WALL) is TokenOutcome.RESERVED
    assert cs[0].present_token("CAFE01", "ISO14443", T, wall=WALL) is TokenOutcome.AUTHORIZED
    assert cs[0].session.reservation_id == 5 and cs[0].station_used == [5]


def test_accepted_only_with_a_spare_usable_connector_each():
    cs, st = station()
    assert st.reserve(1, "A", "", LATER, WALL, cs) is ReserveStatus.ACCEPTED
    assert st.reserve(2, "B", "", LATER, WALL, cs) is ReserveStatus.ACCEPTED
    assert st.reserve(3, "C", "", LATER, WALL, cs) is ReserveStatus.OCCUPIED
    assert st.reserve(2, "B2", "", LATER, WALL, cs) is ReserveStatus.ACCEPTED   # the same id replaces it
    assert [(r.id, r.token) for r in st.items] == [(1, "A"), (2, "B2")]
    apply(st, cs)
    assert all(c.state is ConnectorState.RESERVED for c in cs)


def test_refusals_unavailable_faulted_rejected():
    cs, st = station()
    for c in cs:
        c.set_available(False, T)
    assert st.reserve(1, "A", "", LATER, WALL, cs) is ReserveStatus.UNAVAILABLE
    for c in cs:
        c.set_available(True, T)
        c.update_board(BoardView(faults=("RcdTrip",), online=True), T)
    assert st.reserve(1, "A", "", LATER, WALL, cs) is ReserveStatus.FAULTED
    cs, st = station()
    assert st.reserve(1, "A", "", "2026-11-23T01:59:59Z", WALL, cs) is ReserveStatus.REJECTED
    assert st.items == []


def test_expiry_cancel_and_persistence():
    cs, st = station()
    st.reserve(1, "A", "G", LATER, WALL, cs)
    st.reserve(2, "B", "", "2026-11-23T02:20:00Z", WALL, cs)
    again = StationReservations()
    again.load_json(st.to_json())
    assert again.items == st.items
    assert [r.id for r in st.expire(WALL + timedelta(minutes=10))] == [1]
    assert st.cancel(7) is None and st.cancel(2).token == "B" and st.items == []
