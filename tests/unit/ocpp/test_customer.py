"""Customer information (N09/N10): which identification is accepted, what is reported, how it is split."""

from __future__ import annotations

import pytest
from evcharge.ocpp import customer
from evcharge.ocpp.authcache import AuthCache
from evcharge.ocpp.customer import MAX_PART, NO_DATA, Request

TOKEN = {"idToken": "CAFE0002", "type": "ISO14443"}


@pytest.mark.parametrize("req, status", [
    (Request(True, False, id_token=TOKEN), "Accepted"),
    (Request(False, True, customer_identifier="OpenChargeAlliance"), "Accepted"),
    (Request(True, True, customer_certificate={"hashAlgorithm": "SHA256"}), "Accepted"),
    (Request(True, False), "Rejected"),                                              # none given
    (Request(True, False, id_token=TOKEN, customer_identifier="x"), "Rejected"),     # two given
    (Request(False, False, id_token=TOKEN), "Rejected"),                             # nothing to do
])
def test_check(req, status):
    got, why = customer.check(req)
    assert got == status
    assert (why is None) == (status == "Accepted")


def test_collect_cache_entry_and_transactions_case_insensitively():
    cache = AuthCache()
    cache.put("CAFE0002", "Accepted", 1000.0, 60.0)
    cache.put("OTHER", "Accepted", 1000.0, 60.0)
    lines = customer.collect(Request(True, False, id_token={"idToken": "cafe0002", "type": "ISO14443"}),
                             cache.entries, {"tx-b": TOKEN, "tx-a": {"idToken": "OTHER", "type": "ISO14443"}})
    assert len(lines) == 2
    assert lines[0].startswith("AuthorizationCache idToken=cafe0002 status=Accepted")
    assert lines[1] == "Transaction tx-b idToken=cafe0002 type=ISO14443"


def test_collect_nothing_for_identifiers_not_stored():
    assert customer.collect(Request(True, True, customer_identifier="OpenChargeAlliance"), {"x": {}}, {}) == []
    assert customer.collect(Request(True, False, id_token=TOKEN), {}, {}) == []


def test_parts_and_notifications():
    assert customer.to_parts([]) == [NO_DATA]
    parts = customer.to_parts(["a" * 300, "b" * 300])
    assert [len(p) for p in parts] == [MAX_PART, 601 - MAX_PART]
    assert "".join(parts) == "a" * 300 + "\n" + "b" * 300
    msgs = customer.notifications(parts, 7, "2026-01-01T00:00:00.000Z")
    assert [(m["seqNo"], m["tbc"], m["requestId"]) for m in msgs] == [(0, True, 7), (1, False, 7)]


def test_cache_remove():
    cache = AuthCache()
    cache.put("CAFE0002", "Accepted", 0.0, 0.0)
    assert cache.remove("cafe0002") is True
    assert cache.remove("cafe0002") is False
    assert cache.entries == {}
