"""OCPP 1.6J Reservation profile (5.13 ReserveNow, 5.5 CancelReservation) against the 1.6 test Central System:
the connector reports Reserved, only the reserved idTag starts there, its StartTransaction names the reservation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


async def reserve(csms16, rid: int, connector_id: int = 1, id_tag: str = CARD, seconds: float = 600) -> str:
    return (await csms16.call("ReserveNow", {"connectorId": connector_id, "expiryDate": at(seconds), "idTag": id_tag,
                                             "reservationId": rid}))["status"]


async def status(csms16, connector_id: int, value: str, count: int = 1) -> None:
    await csms16.wait_for("StatusNotification", count,
                          where=lambda p: p["connectorId"] == connector_id and p["status"] == value)


async def test_reserve_now_reserved_card_starts_with_reservation_id(start_ocpp16, csms16):
    stack = await start_ocpp16()
    r = await csms16.call("GetConfiguration", {"key": ["SupportedFeatureProfiles", "ReserveConnectorZeroSupported"]})
    values = {k["key"]: (k["value"], k["readonly"]) for k in r["configurationKey"]}
    assert "Reservation" in values["SupportedFeatureProfiles"][0].split(",")
    assert values["ReserveConnectorZeroSupported"] == ("false", True)
    assert await reserve(csms16, 0, connector_id=0) == "Rejected"   # ReserveConnectorZeroSupported false
    assert await reserve(csms16, 0) == "Rejected"   # evse's id 0 means "none": reservation ids start at 1
    assert await reserve(csms16, 12) == "Accepted"
    await status(csms16, 1, "Reserved")
    assert (await stack.conn(1))["ReservationId"] == 12
    await stack.sim(1, "PlugIn", "d", 220.0)   # stays Reserved: only the reservation's idTag leaves it (G2)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] != "" and c["State"] == "Reserved")
    await stack.tap(CARD)
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["connectorId"] == 1 and start["idTag"] == CARD and start["reservationId"] == 12
    assert (await stack.conn(1))["ReservationId"] == 0
    await status(csms16, 1, "Charging")
    assert "Preparing" not in [p["status"] for p in csms16.received("StatusNotification") if p["connectorId"] == 1]


async def test_other_id_tag_cannot_remote_start_on_a_reserved_connector(start_ocpp16, csms16):
    stack = await start_ocpp16()
    assert await reserve(csms16, 3, connector_id=2) == "Accepted"
    await status(csms16, 2, "Reserved")
    await stack.sim(2, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(2), lambda c: c["SessionId"] != "" and c["State"] == "Reserved")
    r = await csms16.call("RemoteStartTransaction", {"idTag": "SOMEONE", "connectorId": 2})
    assert r["status"] == "Rejected"
    r = await csms16.call("RemoteStartTransaction", {"idTag": CARD, "connectorId": 2})
    assert r["status"] == "Accepted"
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["connectorId"] == 2 and start["idTag"] == CARD and start["reservationId"] == 3
    assert len(csms16.received("StartTransaction")) == 1


async def test_expiry_and_cancel_make_the_connector_available(start_ocpp16, csms16):
    stack = await start_ocpp16()
    assert await reserve(csms16, 5, seconds=6) == "Accepted"
    await status(csms16, 1, "Reserved")
    await status(csms16, 1, "Available", 2)   # boot, then expiry
    assert (await stack.conn(1))["ReservationId"] == 0
    assert await reserve(csms16, 6, connector_id=2) == "Accepted"
    await status(csms16, 2, "Reserved")
    assert (await csms16.call("CancelReservation", {"reservationId": 7}))["status"] == "Rejected"
    assert (await csms16.call("CancelReservation", {"reservationId": 6}))["status"] == "Accepted"
    await status(csms16, 2, "Available", 2)


async def test_refusals_occupied_unavailable_faulted(start_ocpp16, csms16):
    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await status(csms16, 1, "Preparing")
    assert await reserve(csms16, 1, connector_id=1) == "Occupied"
    r = await csms16.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert r["status"] == "Accepted"
    await status(csms16, 2, "Unavailable")
    assert await reserve(csms16, 2, connector_id=2) == "Unavailable"
    r = await csms16.call("ChangeAvailability", {"connectorId": 2, "type": "Operative"})
    await status(csms16, 2, "Available", 2)
    await stack.sim(2, "SetRcdTripped", "b", True)
    await status(csms16, 2, "Faulted")
    assert await reserve(csms16, 2, connector_id=2) == "Faulted"
    assert await reserve(csms16, 2, connector_id=3) == "Rejected"   # no such connector
    assert (await stack.conn(1))["ReservationId"] == 0 and (await stack.conn(2))["ReservationId"] == 0


async def test_a_card_whose_parent_id_tag_is_the_reservations_uses_it(start_ocpp16, csms16):
    stack = await start_ocpp16()
    csms16.behaviour.groups.update({"0DDBA110": "FLEET", "CAFE0099": "OTHERS"})
    await stack.evse(2, "SetAvailability", "b", False)   # the shared reader's cards go to connector 1
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Unavailable")
    r = await csms16.call("ReserveNow", {"connectorId": 1, "expiryDate": at(600), "idTag": "DRIVER1",
                                         "parentIdTag": "FLEET", "reservationId": 15})
    assert r["status"] == "Accepted"
    await status(csms16, 1, "Reserved")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] != "" and c["State"] == "Reserved")
    await stack.tap("CAFE0099")   # accepted by the Central System, but its parentIdTag is another one
    await csms16.wait_for("Authorize", where=lambda p: p["idTag"] == "CAFE0099")
    await stack.tap("0DDBA110")
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["idTag"] == "0DDBA110" and start["reservationId"] == 15
    assert (await stack.conn(1))["ReservationId"] == 0
