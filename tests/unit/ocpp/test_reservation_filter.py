"""Which remote start may use a connector: free ones, or the one reserved for that very token (H03, 1.6 5.13)."""

from evcharge.ocpp.bridge import reserved_for


def test_free_connector_takes_any_token():
    assert reserved_for({}, "ANY")
    assert reserved_for({"ReservationId": 0, "ReservationToken": ""}, "ANY")


def test_connector_held_for_an_unspecified_evse_reservation_takes_only_those_tokens():
    held = {"ReservationId": 0, "ReservationToken": "", "State": "Reserved"}
    assert reserved_for(held, "cafe01", ["CAFE01", "BEEF02"])
    assert not reserved_for(held, "SOMEONE", ["CAFE01"])
    assert not reserved_for(held, "SOMEONE")
    assert reserved_for({"ReservationId": 0, "State": "Available"}, "SOMEONE", ["CAFE01"])


def test_reserved_connector_takes_only_its_token_case_insensitively():
    props = {"ReservationId": 7, "ReservationToken": "04A1B2C3"}
    assert reserved_for(props, "04a1b2c3")
    assert not reserved_for(props, "SOMEONE")
    assert not reserved_for({"ReservationId": 7}, "SOMEONE")
