import random

from evcharge.ocpp.authcache import AuthCache, offline_decision, online_cache_decision
from evcharge.ocpp.boot import ACCEPTED, PENDING, REJECTED, Backoff, BootMachine, report_all_after_offline


def test_backoff_doubles_up_to_repeat_times_plus_random():
    b = Backoff(3, 0, 2)
    assert [b.next_delay() for _ in range(5)] == [3, 6, 12, 12, 12]
    b.reset()
    assert b.next_delay() == 3
    r = Backoff(1, 10, 0, rng=random.Random(1))
    assert all(1 <= r.next_delay() <= 11 for _ in range(50))


def test_boot_pending_then_accepted_and_heartbeat_timer():
    m = BootMachine(heartbeat_s=300)
    assert m.connected(0, "c")
    assert not m.may_send("StatusNotification") and m.may_send("BootNotification")
    m.boot_response(1, PENDING, 5, "c")
    assert m.state == PENDING and not m.boot_due(5.9) and m.boot_due(6)
    assert m.may_answer()
    m.boot_response(6, ACCEPTED, 60, "c")
    assert m.may_send("TransactionEvent") and m.heartbeat_s == 60
    assert not m.heartbeat_due(65) and m.heartbeat_due(66)
    m.message_sent(50)
    assert not m.heartbeat_due(100) and m.heartbeat_due(110)


def test_rejected_refuses_and_retries():
    m = BootMachine(heartbeat_s=300)
    m.connected(0, "c")
    m.boot_response(0, REJECTED, 0, "c")
    assert not m.may_answer() and m.boot_due(30)


def test_no_boot_on_reconnect_unless_content_changed():
    m = BootMachine(heartbeat_s=300)
    m.connected(0, "c")
    m.boot_response(0, ACCEPTED, 300, "c")
    m.disconnected()
    assert m.connected(10, "c") is False and m.state == ACCEPTED
    m.disconnected()
    assert m.connected(20, "c2") is True


def test_auth_cache_and_offline_rules(tmp_path):
    c = AuthCache()
    c.put("Card1", "Accepted", 1000, 60)
    assert c.lookup("CARD1", 1059) == "Accepted"
    assert c.lookup("card1", 1060) == "Expired"
    c.put("card2", "Blocked", 1000, 0)
    assert c.lookup("card2", 10**9) == "Blocked"
    d = AuthCache()
    d.load_json(c.to_json())
    assert d.lookup("card2", 0) == "Blocked"
    assert offline_decision("Accepted", local_authorize_offline=True, unknown_id_enabled=False)
    assert not offline_decision("Accepted", local_authorize_offline=False, unknown_id_enabled=True)
    assert offline_decision(None, local_authorize_offline=True, unknown_id_enabled=True)
    assert not offline_decision("Blocked", local_authorize_offline=True, unknown_id_enabled=True)


def test_reconnect_reports_all_connectors_only_after_the_offline_threshold():
    """B04.FR.01: offline longer than OfflineThreshold, every connector; FR.02: shorter, only changes."""
    assert report_all_after_offline(301.0, 300)
    assert not report_all_after_offline(299.0, 300)
    assert not report_all_after_offline(300.0, 300)
    assert report_all_after_offline(0.5, 0)


def test_online_cache_decision():
    """C12.FR.02 (accept), C12.FR.05 (ask the CSMS), C12.FR.06 (refuse), C10.FR.11 (cache not used)."""
    def d(cached, pre=True, disable_post=False):
        return online_cache_decision(cached, local_pre_authorize=pre, disable_post_authorize=disable_post)

    assert d("Accepted") is True
    assert d("Accepted", pre=False) is None
    assert d(None) is None and d(None, disable_post=True) is None
    for status in ("Invalid", "Blocked", "Expired"):
        assert d(status) is None
        assert d(status, disable_post=True) is False
        assert d(status, pre=False, disable_post=True) is None
