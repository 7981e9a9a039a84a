"""A03 timing: when the station asks for a new certificate by itself."""

from __future__ import annotations

from evcharge.ocpp.renewal import RENEW_CHECK_S, RENEW_RETRY_S, RenewalTimer
from evcharge.sim.pki import Authority


class Store:
    def __init__(self, days: int | None) -> None:
        self.reads = 0
        self.chain = [] if days is None else [Authority.create("root").issue("CS001", days=days).cert]

    def station_chain(self):
        self.reads += 1
        return self.chain


def test_an_expiring_certificate_is_due_then_retried_hourly():
    t, store = RenewalTimer(renew_days=30), Store(days=10)
    assert t.due(store, 100.0) == store.chain[0].not_valid_after_utc
    assert t.due(store, 100.0 + RENEW_RETRY_S - 1) is None
    assert t.due(store, 100.0 + RENEW_RETRY_S) is not None


def test_a_certificate_far_from_expiry_is_looked_at_once_a_minute():
    t, store = RenewalTimer(renew_days=30), Store(days=90)
    assert t.due(store, 0.0) is None
    assert t.due(store, RENEW_CHECK_S - 1) is None
    assert store.reads == 1
    assert t.due(store, RENEW_CHECK_S) is None and store.reads == 2


def test_nothing_to_renew_without_a_store_a_certificate_or_while_busy():
    t = RenewalTimer(renew_days=30)
    assert t.due(None, 0.0) is None
    assert t.due(Store(days=None), 0.0) is None
    busy = RenewalTimer(renew_days=30)
    store = Store(days=1)
    assert busy.due(store, 0.0, busy=True) is None and store.reads == 0
    assert busy.due(store, 0.0) is not None
