"""Which reservation a reserved token used, until the TransactionEvent that names it (H03): pure."""

import sqlite3

import pytest
from evcharge.ocpp.queue import MessageQueue
from evcharge.ocpp.reservations import ReservationUse, connector_type_matches, names_reservation, note_use, still_valid

HELD = ReservationUse(7, "CAFE01", "")
SESSION = ReservationUse(7, "CAFE01", "s1")


def test_authorized_or_held_with_a_reservation_records_its_use():
    assert note_use(None, "Authorized", "s1", {"token": "CAFE01", "reservation_id": 7}) == SESSION
    assert note_use(None, "TokenHeld", "", {"token": "CAFE01", "reservation_id": 7}) == HELD


def test_authorized_without_a_reservation_replaces_an_old_use():
    # a token held for a reservation expired unseen, then another card authorized the next session
    assert note_use(HELD, "Authorized", "s2", {"token": "BEEF02"}) is None
    assert note_use(SESSION, "TokenHeld", "", {"token": "BEEF02", "reservation_id": 0}) is None


def test_token_expired_drops_only_a_held_use():
    assert note_use(HELD, "TokenExpired", "", {"token": "CAFE01"}) is None
    assert note_use(SESSION, "TokenExpired", "", {"token": "OTHER"}) == SESSION


def test_other_events_leave_it():
    assert note_use(SESSION, "Stopped", "s1", {"reason": "Local"}) == SESSION
    assert note_use(None, "ReservationEnded", "", {"reservation_id": 7}) is None


def test_only_a_transaction_event_with_the_reserved_token_names_it():
    assert names_reservation(SESSION, "cafe01")
    assert not names_reservation(SESSION, "BEEF02")
    assert not names_reservation(SESSION, "")
    assert not names_reservation(None, "CAFE01")


@pytest.mark.parametrize("use,session,token,keep", [
    (SESSION, "s1", "CAFE01", True),    # the same session still runs
    (SESSION, "s2", "CAFE01", False),   # it ended meanwhile; a new session runs
    (SESSION, "", "", False),           # it ended meanwhile
    (HELD, "", "", True),               # still held (or expired: the next Authorized replaces it)
    (HELD, "s3", "cafe01", True),       # the plug-in came while we were away: its session
    (HELD, "s3", "BEEF02", False),      # another card's session: the held token expired
])
def test_after_a_restart_it_stays_with_its_session_or_held_token(use, session, token, keep):
    assert still_valid(use, session, token) is keep


def test_connector_type_absent_or_equal():
    assert connector_type_matches(None, "sType2")
    assert connector_type_matches("", "sType2")
    assert connector_type_matches("sType2", "sType2")
    assert not connector_type_matches("cCCS2", "sType2")


def test_message_and_more_state_commit_together(tmp_path):
    q = MessageQueue(tmp_path / "q.sqlite")
    q.put_state("reservations_used", {"1": {"reservation_id": 7}})
    q.enqueue("TransactionEvent", {"reservationId": 7}, state={"seq": 1}, more_state={"reservations_used": {}})
    q.close()
    q = MessageQueue(tmp_path / "q.sqlite")
    assert q.get_state("reservations_used") == {} and q.get_state("tx") == {"seq": 1} and len(q) == 1
    q.db.execute("CREATE TRIGGER fail BEFORE INSERT ON kv WHEN NEW.key = 'reservations_used' "
                  "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError):
        q.enqueue("TransactionEvent", {"reservationId": 8}, more_state={"reservations_used": {"2": {}}})
    assert len(q) == 1   # neither the message nor the state
