"""OCPP 2.0.1 reservations (functional block H, H01-H04) with the real stack and the test CSMS.

Part 6 (v1.3) has no H test cases yet ("intentionally blank"); the steps follow its reusable state
"Reserved" (ReserveNow Accepted, then StatusNotification and NotifyEvent AvailabilityState Reserved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def reserve(csms, rid: int, evse_id: int | None = 1, token: str = CARD, seconds: float = 600) -> str:
    payload = {"id": rid, "expiryDateTime": at(seconds), "idToken": {"idToken": token, "type": "ISO14443"}}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return (await csms.call("ReserveNow", payload))["status"]


async def reported(csms, evse_id: int, status: str) -> None:
    await csms.wait_for("StatusNotification", where=lambda p: p["evseId"] == evse_id
                        and p["connectorStatus"] == status)
    await csms.wait_for("NotifyEvent", where=lambda p: p["eventData"][0]["actualValue"] == status
                        and p["eventData"][0]["component"]["evse"]["id"] == evse_id)


async def test_H01_reserve_evse_reported_reserved_and_reserved_card_starts_with_reservation_id(start_ocpp, csms):
    stack = await start_ocpp()
    assert await reserve(csms, 17) == "Accepted"
    await reported(csms, 1, "Reserved")
    assert (await stack.conn(1))["ReservationId"] == 17
    # H03: the reserved card, then the cable; the transaction names the reservation.
    await stack.tap(CARD)
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: "idToken" in p)
    assert ev["idToken"]["idToken"] == CARD and ev["reservationId"] == 17
    assert all("reservationId" not in p for p in csms.received("TransactionEvent") if p is not ev)
    await reported(csms, 1, "Occupied")
    assert (await stack.conn(1))["ReservationId"] == 0
    assert csms.received("ReservationStatusUpdate") == []


async def test_H01_started_transaction_carries_reservation_id_with_tx_start_point_authorized(start_ocpp, csms):
    stack = await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": "Authorized"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert await reserve(csms, 5, evse_id=2) == "Accepted"
    await reported(csms, 2, "Reserved")
    await stack.sim(2, "PlugIn", "d", 220.0)
    await stack.tap(CARD)   # the EV waits on the reserved connector 2: the shared reader's card goes there
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    assert ev["evse"]["id"] == 2 and ev["idToken"]["idToken"] == CARD and ev["reservationId"] == 5


async def test_H03_request_start_with_another_token_is_rejected_on_the_reserved_evse(start_ocpp, csms):
    stack = await start_ocpp()
    assert await reserve(csms, 50, evse_id=1) == "Accepted"
    await reported(csms, 1, "Reserved")
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "SOMEONE", "type": "Central"},
                                                    "remoteStartId": 1, "evseId": 1})
    assert r["status"] == "Rejected"
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": CARD, "type": "ISO14443"},
                                                    "remoteStartId": 2, "evseId": 1})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: stack.conn(1), lambda c: c["ReservationId"] == 0)
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: "idToken" in p)
    assert ev["idToken"]["idToken"] == CARD and ev["reservationId"] == 50


async def test_H04_reservation_expires_with_status_update(start_ocpp, csms):
    stack = await start_ocpp()
    assert await reserve(csms, 8, seconds=6) == "Accepted"
    await reported(csms, 1, "Reserved")
    (upd,) = await csms.wait_for("ReservationStatusUpdate", timeout=30)
    assert upd == {"reservationId": 8, "reservationUpdateStatus": "Expired"}
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")
    await csms.wait_for("StatusNotification", where=lambda p: p["evseId"] == 1 and p["connectorStatus"] == "Available"
                        and p is not csms.received("StatusNotification")[0])


async def test_H02_cancel_reservation(start_ocpp, csms):
    stack = await start_ocpp()
    assert await reserve(csms, 21, evse_id=2) == "Accepted"
    await reported(csms, 2, "Reserved")
    assert (await csms.call("CancelReservation", {"reservationId": 22}))["status"] == "Rejected"
    assert (await csms.call("CancelReservation", {"reservationId": 21}))["status"] == "Accepted"
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Available" and c["ReservationId"] == 0)
    await csms.wait_for("StatusNotification", 2, where=lambda p: p["evseId"] == 2 and p["connectorStatus"] == "Available")
    assert csms.received("ReservationStatusUpdate") == []   # cancelled by the CSMS: nothing to tell it


async def test_H01_refusals_occupied_unavailable_no_evse_unknown_evse(start_ocpp, csms):
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    assert await reserve(csms, 1, evse_id=1) == "Occupied"
    r = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Unavailable")
    assert await reserve(csms, 2, evse_id=2) == "Unavailable"
    assert await reserve(csms, 3, evse_id=None) == "Accepted"   # the EV waiting on 1 may be its driver's
    assert await reserve(csms, 5, evse_id=None) == "Occupied"   # no EVSE left for a second one
    assert await reserve(csms, 4, evse_id=9) == "Rejected"
    assert (await stack.conn(1))["ReservationId"] == 0 and (await stack.conn(2))["ReservationId"] == 0


async def test_H01_same_id_moves_the_reservation_and_controller_variables(start_ocpp, csms):
    stack = await start_ocpp()
    assert await reserve(csms, 30, evse_id=1) == "Accepted"
    await reported(csms, 1, "Reserved")
    assert await reserve(csms, 30, evse_id=2) == "Accepted"   # H01.FR.02: replaces the one on EVSE 1
    await stack.wait(lambda: stack.conn(1), lambda c: c["ReservationId"] == 0 and c["State"] == "Available")
    assert (await stack.conn(2))["ReservationId"] == 30
    r = await csms.call("GetVariables", {"getVariableData": [
        {"component": {"name": "ReservationCtrlr"}, "variable": {"name": n}}
        for n in ("Available", "Enabled", "NonEvseSpecific")]})
    assert [v["attributeValue"] for v in r["getVariableResult"]] == ["true", "true", "true"]
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "ReservationCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "false"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert await reserve(csms, 31, evse_id=1) == "Rejected"


async def test_reservation_survives_kill_of_evse_and_of_ocpp(start_ocpp, csms):
    stack = await start_ocpp()
    assert await reserve(csms, 40, evse_id=1) == "Accepted"
    await reported(csms, 1, "Reserved")
    for name in ("evse", "ocpp"):
        starts = stack.sup.starts(name)
        stack.sup.kill(name)
        await stack.sup.wait_restarted(name, starts)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Reserved")
    assert conn["ReservationId"] == 40
    await csms.wait_for("BootNotification", 2)
    assert (await csms.call("CancelReservation", {"reservationId": 40}))["status"] == "Accepted"


async def ocpp_props(stack) -> dict:
    from evcharge.common import names
    from evcharge.common.bus import get_all
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


async def test_H03_reservation_id_survives_an_ocpp_restart_between_authorization_and_transaction_start(
        start_ocpp, csms):
    stack = await start_ocpp()
    r = await csms.call("SetVariables", {"setVariableData": [{
        "component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": "EnergyTransfer"}]})
    assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert await reserve(csms, 61) == "Accepted"
    await reported(csms, 1, "Reserved")
    await stack.sim(1, "SetEvReady", "b", False)   # the EV does not take energy yet: no transaction
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] != "" and c["State"] == "Reserved")
    await stack.tap(CARD)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == CARD and c["ReservationId"] == 0)
    # evse sent Authorized before its properties changed; a call to ocpp queues behind that signal, so
    # once it is answered ocpp has handled (and stored) the reservation's use.
    await ocpp_props(stack)
    assert csms.received("TransactionEvent") == []   # TxStartPoint EnergyTransfer: not started yet

    starts = stack.sup.starts("ocpp")
    stack.sup.kill("ocpp")
    await stack.sup.wait_restarted("ocpp", starts)
    await csms.wait_for("BootNotification", 2)
    await stack.sim(1, "SetEvReady", "b", True)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=30)
    assert ev["idToken"]["idToken"] == CARD and ev["reservationId"] == 61
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    assert [p["reservationId"] for p in csms.received("TransactionEvent") if "reservationId" in p] == [61]


async def test_H03_a_held_card_that_expired_leaves_no_reservation_id_for_the_next_session(start_ocpp, csms):
    stack = await start_ocpp()
    await stack.evse(2, "SetAvailability", "b", False)   # the shared reader's cards go to connector 1
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Unavailable")
    from evcharge.common import names
    from evcharge.common.bus import call
    await call(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "SetConnectionTimeout", "d", [2.0])
    assert await reserve(csms, 62) == "Accepted"
    await reported(csms, 1, "Reserved")
    await stack.tap(CARD)   # before the cable: uses the reservation, then no EV comes
    await stack.wait(lambda: stack.conn(1), lambda c: c["ReservationId"] == 0 and c["State"] == "Available",
                     timeout=30)
    await stack.wait(lambda: _session_events(stack, 1, "TokenExpired"), bool, timeout=30)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    await stack.tap("0DDBA110")   # another card, unknown locally: the CSMS authorizes it
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: (p.get("idToken") or {}).get("idToken")
                                == "0DDBA110", timeout=30)
    assert "reservationId" not in ev


async def _session_events(stack, cid: int, name: str) -> list:
    import json
    path = f"/org/evcharge/Evse1/Connector/{cid}"
    return [json.loads(s[2][2]) for s in stack.signals_named("SessionEvent") if s[0] == path and s[2][1] == name]


async def test_H04_expiry_while_the_csms_is_down_is_reported_after_a_restart_and_reconnect(start_ocpp, csms):
    stack = await start_ocpp()
    await csms.stop()   # the CSMS goes down and refuses reconnects
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], what_name="ocpp offline")
    queued = (await ocpp_props(stack))["QueueLength"]
    # A reservation made while offline (evse holds them; who made it does not matter to the report).
    (status,) = await stack.evse(1, "Reserve", "usss", 63, CARD, "", at(3))
    assert status == "Accepted"
    await stack.wait(lambda: _session_events(stack, 1, "ReservationEnded"), bool, timeout=30)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == queued + 1)

    starts = stack.sup.starts("ocpp")
    stack.sup.kill("ocpp")   # SIGKILL while the update waits in the queue
    await stack.sup.wait_restarted("ocpp", starts)
    assert (await ocpp_props(stack))["QueueLength"] == queued + 1

    await csms.start()
    (upd,) = await csms.wait_for("ReservationStatusUpdate", timeout=30)
    assert upd == {"reservationId": 63, "reservationUpdateStatus": "Expired"}
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=30)
    assert len(csms.received("ReservationStatusUpdate")) == 1


async def test_H01_connector_type_other_than_the_evses_is_rejected(start_ocpp, csms):
    stack = await start_ocpp()
    base = {"expiryDateTime": at(600), "idToken": {"idToken": CARD, "type": "ISO14443"}, "evseId": 1}
    r = await csms.call("ReserveNow", {"id": 70, "connectorType": "cCCS2", **base})
    assert r["status"] == "Rejected"
    assert (await stack.conn(1))["ReservationId"] == 0
    r = await csms.call("ReserveNow", {"id": 71, "connectorType": "sType2", **base})
    assert r["status"] == "Accepted"
    await reported(csms, 1, "Reserved")
    assert (await stack.conn(1))["ReservationId"] == 71


async def reserve_for_group(csms, rid: int, token: str, group: str, evse_id: int = 1) -> str:
    return (await csms.call("ReserveNow", {"id": rid, "expiryDateTime": at(600), "evseId": evse_id,
                                           "idToken": {"idToken": token, "type": "Central"},
                                           "groupIdToken": {"idToken": group, "type": "Central"}}))["status"]


async def test_H03_a_card_the_csms_puts_in_the_reservations_group_uses_it(start_ocpp, csms):
    stack = await start_ocpp()
    csms.behaviour.groups.update({CARD: "FLEET", "0DDBA110": "OTHERS"})
    await stack.evse(2, "SetAvailability", "b", False)   # the shared reader's cards go to connector 1
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Unavailable")
    assert await reserve_for_group(csms, 80, "DRIVER1", "FLEET") == "Accepted"
    await reported(csms, 1, "Reserved")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] != "" and c["State"] == "Reserved")

    # A card unknown locally whose group is another one: the CSMS accepts it, the reservation does not.
    await stack.tap("0DDBA110")
    await csms.wait_for("Authorize", where=lambda p: p["idToken"]["idToken"] == "0DDBA110")
    # CARD is in the local list (evse refuses it as Reserved): H03.FR.08, Authorize for its groupIdToken.
    await stack.tap(CARD)
    await csms.wait_for("Authorize", where=lambda p: p["idToken"]["idToken"] == CARD)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == CARD)
    assert conn["ReservationId"] == 0
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: "idToken" in p)
    assert ev["idToken"]["idToken"] == CARD and ev["reservationId"] == 80
    refused = [d for d in await _session_events(stack, 1, "TokenRejected") if d.get("status") == "Reserved"]
    assert CARD in [d["token"] for d in refused]   # by evse, before ocpp asked the CSMS for its group


async def test_H03_an_unknown_card_of_the_group_uses_the_reservation_before_the_cable(start_ocpp, csms):
    stack = await start_ocpp()
    csms.behaviour.groups["0DDBA110"] = "FLEET"
    await stack.evse(2, "SetAvailability", "b", False)
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Unavailable")
    assert await reserve_for_group(csms, 81, "DRIVER1", "FLEET") == "Accepted"
    await reported(csms, 1, "Reserved")
    await stack.tap("0DDBA110")
    held = await stack.wait(lambda: _session_events(stack, 1, "TokenHeld"), bool, timeout=30)
    assert held[0]["token"] == "0DDBA110" and held[0]["reservation_id"] == 81
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: "idToken" in p)
    assert ev["idToken"]["idToken"] == "0DDBA110" and ev["reservationId"] == 81


async def test_H01_reservation_of_an_unspecified_evse_holds_the_last_available_one(start_ocpp, csms):
    stack = await start_ocpp()
    assert await reserve(csms, 90, evse_id=None) == "Accepted"
    assert (await stack.conn(1))["State"] == "Available" and (await stack.conn(2))["State"] == "Available"
    # EVSE 2 is taken by a remote start: the one EVSE left is kept for the reservation (H01.FR.20)
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "SOMEONE", "type": "Central"},
                                                    "remoteStartId": 3, "evseId": 2})
    assert r["status"] == "Accepted"
    await reported(csms, 1, "Reserved")
    r = await csms.call("RequestStartTransaction", {"idToken": {"idToken": "ANOTHER", "type": "Central"},
                                                    "remoteStartId": 4, "evseId": 1})
    assert r["status"] == "Rejected"   # EVSE 1 is kept for the reservation's token
    await stack.tap(CARD)   # the reserved card takes it, using the reservation
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available", timeout=30)
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: (p.get("idToken") or {}).get("idToken") == CARD)
    assert ev["reservationId"] == 90
    started = [p for p in csms.received("TransactionEvent") if p["eventType"] == "Started"
               and p["transactionInfo"]["transactionId"] == ev["transactionInfo"]["transactionId"]]
    assert started[0]["evse"]["id"] == 1
    assert (await csms.call("CancelReservation", {"reservationId": 90}))["status"] == "Rejected"   # used


async def test_H04_reservation_of_an_unspecified_evse_expires_and_H02_cancel(start_ocpp, csms):
    stack = await start_ocpp()
    r = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Unavailable")
    assert await reserve(csms, 91, evse_id=None, seconds=6) == "Accepted"
    await reported(csms, 1, "Reserved")
    assert await reserve(csms, 92, evse_id=None) == "Occupied"   # EVSE 1 is kept for 91 already
    (upd,) = await csms.wait_for("ReservationStatusUpdate", timeout=30)
    assert upd == {"reservationId": 91, "reservationUpdateStatus": "Expired"}
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")

    assert await reserve(csms, 93, evse_id=None) == "Accepted"
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Reserved")
    assert (await csms.call("CancelReservation", {"reservationId": 93}))["status"] == "Accepted"
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")
    assert await reserve(csms, 93, evse_id=1) == "Accepted"   # the same id on an EVSE: moved there
    assert await reserve(csms, 93, evse_id=None) == "Accepted"   # and back to the station
    await stack.wait(lambda: stack.conn(1), lambda c: c["ReservationId"] == 0 and c["State"] == "Reserved")


async def test_H04_expiry_while_ocpp_is_not_running_is_reported_when_it_starts(start_ocpp, csms):
    from evcharge.sil.supervisor import ServiceSpec
    stack = await start_ocpp()
    assert await reserve(csms, 64) == "Accepted"
    await reported(csms, 1, "Reserved")
    await stack.sup.stop("ocpp")
    # While ocpp is down evse moves the reservation's expiry close (the same id replaces it), and it expires.
    (status,) = await stack.evse(1, "Reserve", "usss", 64, CARD, "", at(2))
    assert status == "Accepted"
    await stack.wait(lambda: _session_events(stack, 1, "ReservationEnded"), bool, timeout=30)
    await stack.sup.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]))
    (upd,) = await csms.wait_for("ReservationStatusUpdate", timeout=30)
    assert upd == {"reservationId": 64, "reservationUpdateStatus": "Expired"}
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=30)
    assert len(csms.received("ReservationStatusUpdate")) == 1


async def test_H03_reservation_used_while_ocpp_is_not_running_is_named_when_it_starts(start_ocpp, csms):
    from evcharge.sil.supervisor import ServiceSpec
    stack = await start_ocpp()
    assert await reserve(csms, 65) == "Accepted"
    await reported(csms, 1, "Reserved")
    await stack.sup.stop("ocpp")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == CARD and c["SessionReservationId"] == 65)
    await stack.sup.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]))
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: "idToken" in p, timeout=30)
    assert ev["idToken"]["idToken"] == CARD and ev["reservationId"] == 65
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=30)
    assert csms.received("ReservationStatusUpdate") == []   # it was used, not expired
