"""Pure parts of Reset (reset.decide), SetNetworkProfile (netprofile) and the CSMS local list (auth.locallist)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from evcharge.auth.locallist import LocalList
from evcharge.ocpp.netprofile import check_profile
from evcharge.ocpp.reset import ResetState, decide


@pytest.mark.parametrize(("kind", "evse", "tx", "expected"), [
    ("OnIdle", None, 0, ("Accepted", True, False, "RemoteReset")),
    ("OnIdle", None, 1, ("Scheduled", False, False, "ScheduledReset")),
    ("Immediate", None, 2, ("Accepted", True, True, "RemoteReset")),
    ("Immediate", None, 0, ("Accepted", True, True, "RemoteReset")),
    ("OnIdle", 1, 0, ("Rejected", False, False, "")),
    ("Immediate", 1, 1, ("Rejected", False, False, "")),
])
def test_reset_decision(kind, evse, tx, expected):
    p = decide(kind, evse, tx)
    assert (p.status, p.now, p.end_transactions, p.boot_reason) == expected


def test_reset_state_round_trip():
    s = ResetState(True, "ScheduledReset", ["a"])
    assert ResetState.from_json(s.to_json()) == s
    assert ResetState.from_json(None) == ResetState()


def profile(url="ws://csms.example/ocpp", sp=1, **kw):
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
            "securityProfile": sp, "ocppInterface": "Wired0", **kw}


def test_network_profile_checks():
    ok = dict(active_slot=0, current_security_profile=1)
    assert check_profile(1, profile(), **ok) is None
    assert check_profile(2, profile("wss://csms.example/ocpp", 3), **ok) is None
    assert "configurationSlot" in check_profile(999, profile(), **ok)
    assert "in use" in check_profile(0, profile(), **ok)
    assert "below" in check_profile(1, profile("ws://x", 1), active_slot=0, current_security_profile=2)
    assert "wss://" in check_profile(1, profile("ws://x", 2), **ok)
    assert "ws://" in check_profile(1, profile("wss://x", 1), **ok)
    assert check_profile(1, profile(ocppVersion="OCPP16"), **ok)
    assert check_profile(1, profile(vpn={"server": "x"}), **ok)
    assert check_profile(1, profile(messageTimeout=0), **ok)


def e(token, status="Accepted", **info):
    d = {"idToken": {"idToken": token, "type": "ISO14443"}}
    if status is not None:
        d["idTokenInfo"] = {"status": status, **info}
    return d


def test_local_list_rules():
    now = datetime(2030, 1, 1, tzinfo=UTC)
    ll = LocalList(max_entries=2)
    assert ll.update(2, True, [e("0a0b0c0d"), e("01020304", "Blocked")]) == ("Accepted", "")
    assert ll.decide("0A0B0C0D", "ISO14443", now) == ("Accepted", "CSMS local list")
    assert ll.decide("01020304", "ISO14443", now)[0] == "Blocked"
    assert ll.decide("0A0B0C0D", "ISO15693", now) is None
    assert ll.update(2, False, [e("05060708")])[0] == "VersionMismatch"
    assert ll.update(3, False, [e("05060708")])[0] == "Failed"  # 3 entries > max 2
    assert ll.update(3, False, [e("01020304", None), e("05060708")]) == ("Accepted", "")
    assert ll.version == 3 and len(ll) == 2
    assert ll.update(4, True, [e("01020304", None)])[0] == "Failed"  # full update needs idTokenInfo
    assert ll.update(4, True, [e("0a0b0c0d"), e("0A0B0C0D")])[0] == "Failed"  # twice
    assert ll.update(4, True, [e("0a0b0c0d", "Maybe")])[0] == "Failed"
    assert ll.version == 3 and len(ll) == 2
    assert ll.update(5, True, [e("0a0b0c0d", cacheExpiryDateTime="2029-01-01T00:00:00Z")])[0] == "Accepted"
    assert ll.decide("0A0B0C0D", "ISO14443", now)[0] == "Expired"
    copy = LocalList()
    copy.load_json(ll.to_json())
    assert copy.to_json() == ll.to_json()
    ll.enabled = False
    assert ll.decide("0A0B0C0D", "ISO14443", now) is None
    assert ll.update(6, True, []) == ("Accepted", "") and len(ll) == 0


def test_network_slot_selection():
    from evcharge.ocpp.netprofile import NetworkProfiles, Selector, target

    profiles = NetworkProfiles()
    profiles.store(1, profile("ws://new.example/ocpp/", 1))
    assert Selector.order("1,0", profiles) == [1, 0]
    assert Selector.order("2,1", profiles) == [1]     # slot 2 holds no profile
    assert Selector.order("", profiles) == [0]
    sel = Selector()
    order = [1, 0]
    assert sel.current(order) == 1
    assert sel.failed(2, order) is False and sel.current(order) == 1
    assert sel.failed(2, order) is True and sel.current(order) == 0
    sel.succeeded()
    assert sel.failures == 0
    t = target(1, profiles, station_id="cs1", default_url="ws://old/cs1", default_profile=0, default_timeout_s=5)
    assert (t.url, t.security_profile, t.message_timeout_s) == ("ws://new.example/ocpp/cs1", 1, 30.0)
    assert target(0, profiles, station_id="cs1", default_url="ws://old/cs1", default_profile=0,
                  default_timeout_s=5).url == "ws://old/cs1"
