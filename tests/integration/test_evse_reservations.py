"""Reservations in the evse service over D-Bus (org.evcharge.Evse1.Connector Reserve / CancelReservation):
the real board, auth and evse on the private bus, cards tapped on the shared simulated reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from dbus_fast import DBusError

CARD = "04A1B2C3"
OTHER = "0DDBA110"
AUTH = {"allow_list": [{"token": CARD, "token_type": "ISO14443"}, {"token": OTHER, "token_type": "ISO14443"}]}


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def events(stack, cid: int, name: str) -> list[dict]:
    path = f"/org/evcharge/Evse1/Connector/{cid}"
    return [json.loads(s[2][2]) for s in stack.signals_named("SessionEvent") if s[0] == path and s[2][1] == name]


async def wait_event(stack, cid: int, name: str, where=lambda d: True) -> dict:
    async def found():
        return [d for d in events(stack, cid, name) if where(d)]
    (d, *_) = await stack.wait(found, bool, what_name=f"SessionEvent {name} on connector {cid}")
    return d


async def test_reserved_connector_refuses_other_cards_and_the_reserved_card_uses_it(stack):
    await stack.start(auth_extra=AUTH)
    (status,) = await stack.evse(1, "Reserve", "usss", 7, CARD, "", at(600))
    assert status == "Accepted"
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Reserved")
    assert conn["ReservationId"] == 7
    assert (await stack.conn(2))["State"] == "Available"
    await stack.evse(2, "SetAvailability", "b", False)  # the shared reader has nowhere else to send OTHER

    await stack.sim(1, "PlugIn", "d", 220.0)   # an EV without a card: it does not charge for someone else
    # and the connector stays Reserved until the reserved card comes (OCPP 2.0.1 errata G03.FR.09)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] != "" and c["State"] == "Reserved")
    await stack.tap(OTHER)
    rejected = await wait_event(stack, 1, "TokenRejected")
    assert rejected["status"] == "Reserved" and rejected["reservation_id"] == 7
    conn = await stack.conn(1)
    assert conn["SessionToken"] == "" and conn["OfferedCurrentA"] == 0 and conn["ReservationId"] == 7

    await stack.tap(CARD)
    used = await wait_event(stack, 1, "ReservationEnded")
    assert used == {"reservation_id": 7, "reason": "Used", "token": CARD}
    auth = await wait_event(stack, 1, "Authorized")
    assert auth["reservation_id"] == 7
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == CARD)
    assert conn["ReservationId"] == 0
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")


async def test_card_before_cable_goes_to_the_connector_reserved_for_it(stack):
    await stack.start(auth_extra=AUTH)
    (status,) = await stack.evse(2, "Reserve", "usss", 9, CARD, "", at(600))
    assert status == "Accepted"
    await stack.tap(CARD)
    held = await wait_event(stack, 2, "TokenHeld")
    assert held["token"] == CARD and held["reservation_id"] == 9
    assert events(stack, 1, "TokenHeld") == []
    await stack.sim(2, "PlugIn", "d", 220.0)
    auth = await wait_event(stack, 2, "Authorized")
    assert auth["reservation_id"] == 9
    # OTHER tapped now finds connector 1, free: it is held there, not refused.
    await stack.tap(OTHER)
    assert (await wait_event(stack, 1, "TokenHeld"))["token"] == OTHER


async def test_reservation_expires_and_cancel(stack):
    await stack.start(auth_extra=AUTH)
    (status,) = await stack.evse(1, "Reserve", "usss", 3, CARD, "", at(6))
    assert status == "Accepted"
    ended = await wait_event(stack, 1, "ReservationEnded")
    assert ended == {"reservation_id": 3, "reason": "Expired", "token": CARD}
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available" and c["ReservationId"] == 0)

    (status,) = await stack.evse(1, "Reserve", "usss", 4, CARD, "", at(600))
    assert status == "Accepted"
    assert (await stack.evse(1, "CancelReservation", "u", 5)) == [False]
    assert (await stack.evse(1, "CancelReservation", "u", 4)) == [True]
    assert (await wait_event(stack, 1, "ReservationEnded", lambda d: d["reservation_id"] == 4))["reason"] == "Cancelled"
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available" and c["ReservationId"] == 0)


async def test_refusals_occupied_unavailable_faulted_and_rejected(stack):
    await stack.start(auth_extra=AUTH)
    assert (await stack.evse(1, "Reserve", "usss", 1, CARD, "", at(-1))) == ["Rejected"]
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    assert (await stack.evse(1, "Reserve", "usss", 1, CARD, "", at(600))) == ["Occupied"]
    await stack.evse(2, "SetAvailability", "b", False)
    assert (await stack.evse(2, "Reserve", "usss", 2, CARD, "", at(600))) == ["Unavailable"]
    await stack.evse(2, "SetAvailability", "b", True)
    await stack.sim(2, "SetRcdTripped", "b", True)
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Faulted")
    assert (await stack.evse(2, "Reserve", "usss", 2, CARD, "", at(600))) == ["Faulted"]
    assert (await stack.conn(2))["ReservationId"] == 0
    assert events(stack, 1, "Reserved") == [] and events(stack, 2, "Reserved") == []


@pytest.mark.parametrize("args,message", [
    ((0, CARD, "", "2030-01-01T00:00:00Z"), "reservation_id"),
    ((1, "", "", "2030-01-01T00:00:00Z"), "token"),
    ((1, CARD, "G" * 37, "2030-01-01T00:00:00Z"), "group_token"),
    ((1, CARD, "", "2030-01-01T00:00:00"), "expires_at"),
    ((1, CARD, "", "soon"), "expires_at"),
])
async def test_bad_arguments_are_refused_with_a_named_error(stack, args, message):
    await stack.start(("board", "evse"))
    with pytest.raises(DBusError) as e:
        await stack.evse(1, "Reserve", "usss", *args)
    assert e.value.type == "org.evcharge.Error.InvalidArgument" and message in e.value.text
    assert (await stack.conn(1))["ReservationId"] == 0


async def test_reservation_survives_kill_of_evse(stack):
    await stack.start(auth_extra=AUTH)
    await stack.evse(2, "SetAvailability", "b", False)
    (status,) = await stack.evse(1, "Reserve", "usss", 11, CARD, "FLEET", at(600))
    assert status == "Accepted"
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Reserved")
    starts = stack.sup.starts("evse")
    stack.sup.kill("evse")
    await stack.sup.wait_restarted("evse", starts)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Reserved")
    assert conn["ReservationId"] == 11
    await stack.tap(OTHER)   # still refused after the restart
    assert (await wait_event(stack, 1, "TokenRejected"))["status"] == "Reserved"


async def test_remote_start_with_the_reservations_group_uses_it(stack):
    await stack.start(auth_extra=AUTH)
    (status,) = await stack.evse(1, "Reserve", "usss", 12, "DRIVER1", "FLEET", at(600))
    assert status == "Accepted"
    with pytest.raises(DBusError) as e:   # a backend token of another group
        await stack.evse(1, "RemoteStartWithGroup", "ss", "DRIVER2", "OTHERS")
    assert e.value.type == "org.evcharge.Error.InvalidState" and "reserved" in e.value.text
    with pytest.raises(DBusError) as e:
        await stack.evse(1, "RemoteStartWithGroup", "ss", "DRIVER2", "")
    assert e.value.type == "org.evcharge.Error.InvalidArgument" and "group_token" in e.value.text
    assert (await stack.conn(1))["ReservationId"] == 12
    await stack.evse(1, "RemoteStartWithGroup", "ss", "DRIVER2", "fleet")
    used = await wait_event(stack, 1, "ReservationEnded")
    assert used == {"reservation_id": 12, "reason": "Used", "token": "DRIVER2"}
    assert (await wait_event(stack, 1, "TokenHeld"))["reservation_id"] == 12


async def test_an_expiry_is_announced_once_across_a_restart_of_evse(stack):
    await stack.start(auth_extra=AUTH)
    (status,) = await stack.evse(1, "Reserve", "usss", 13, CARD, "", at(3))
    assert status == "Accepted"
    await wait_event(stack, 1, "ReservationEnded")
    starts = stack.sup.starts("evse")
    stack.sup.kill("evse")
    await stack.sup.wait_restarted("evse", starts)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available" and c["ReservationId"] == 0)
    # Reserve expires what it finds first: an expiry not on disk would be announced before this one.
    (status,) = await stack.evse(1, "Reserve", "usss", 14, CARD, "", at(600))
    assert status == "Accepted"
    await wait_event(stack, 1, "Reserved", lambda d: d["reservation_id"] == 14)
    assert [d["reservation_id"] for d in events(stack, 1, "ReservationEnded")] == [13]


async def evse_station(stack) -> dict:
    from evcharge.common import names
    from evcharge.common.bus import get_all
    return await get_all(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE)


async def station_call(stack, member: str, sig: str, *args):
    from evcharge.common import names
    from evcharge.common.bus import call
    return await call(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE, member, sig, list(args))


def station_events(stack, name: str) -> list[dict]:
    return [json.loads(s[2][1]) for s in stack.signals_named("ReservationEvent") if s[2][0] == name]


async def test_a_reservation_of_an_unspecified_connector_holds_the_last_usable_one(stack):
    await stack.start(auth_extra=AUTH)
    until = at(600)
    assert await station_call(stack, "Reserve", "usss", 21, CARD, "", until) == ["Accepted"]
    assert [list(r) for r in (await evse_station(stack))["Reservations"]] == [[21, CARD, "", until]]
    assert (await stack.conn(1))["State"] == "Available" and (await stack.conn(2))["State"] == "Available"
    await stack.sim(1, "PlugIn", "d", 220.0)    # an EV waits on 1: with OTHER it takes 1
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    await stack.tap(OTHER)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == OTHER)
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Reserved")   # the one left is held
    assert await station_call(stack, "Reserve", "usss", 22, "SOMEONE", "", at(600)) == ["Occupied"]

    starts = stack.sup.starts("evse")
    stack.sup.kill("evse")
    await stack.sup.wait_restarted("evse", starts)
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Reserved")
    assert [r[0] for r in (await evse_station(stack))["Reservations"]] == [21]

    await stack.tap(CARD)   # the reserved card goes to the held connector and uses the reservation
    used = await wait_event(stack, 2, "ReservationEnded")
    assert used == {"reservation_id": 21, "reason": "Used", "token": CARD}
    assert (await wait_event(stack, 2, "TokenHeld"))["reservation_id"] == 21
    await stack.wait(lambda: evse_station(stack), lambda p: p["Reservations"] == [])


async def test_unspecified_connector_reservation_expires_and_cancel(stack):
    await stack.start(auth_extra=AUTH)
    await stack.evse(2, "SetAvailability", "b", False)   # one usable connector: one reservation holds it
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Unavailable")
    assert await station_call(stack, "Reserve", "usss", 23, CARD, "", at(3)) == ["Accepted"]
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Reserved")
    async def ended():
        return station_events(stack, "ReservationEnded")
    await stack.wait(ended, bool, timeout=30)
    assert station_events(stack, "ReservationEnded") == [{"reservation_id": 23, "reason": "Expired", "token": CARD}]
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")

    assert await station_call(stack, "Reserve", "usss", 24, CARD, "", at(600)) == ["Accepted"]
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Reserved")
    assert await station_call(stack, "CancelReservation", "u", 25) == [False]
    assert await station_call(stack, "CancelReservation", "u", 24) == [True]
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")
    with pytest.raises(DBusError) as e:
        await station_call(stack, "Reserve", "usss", 0, CARD, "", at(600))
    assert e.value.type == "org.evcharge.Error.InvalidArgument"
