"""OCPP 2.0.1 block C (authorization cache): the real stack against the test CSMS.

Tests are named after the OCA Part 6 charging-station test cases they follow. Tokens named CAFE...
are not in the auth service's local list, so only the CSMS (or the cache) can accept them. The
cache is filled the way the station fills it in the field: a token presented once and answered by
the CSMS (C10.FR.01).
"""

from __future__ import annotations

import asyncio

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


def cv(component: str, variable: str, value: str) -> dict:
    return {"component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


async def set_vars(csms, *items: dict) -> None:
    r = await csms.call("SetVariables", {"setVariableData": list(items)})
    assert [x["attributeStatus"] for x in r["setVariableResult"]] == ["Accepted"] * len(items), r


async def plug_in(stack, csms, evse_id: int = 1) -> str:
    """Plug in on `evse_id`; the transactionId of the new transaction (TxStartPoint EVConnected)."""
    def is_start(p):
        return p["eventType"] == "Started" and p["evse"]["id"] == evse_id

    before = len([p for p in csms.received("TransactionEvent") if is_start(p)])
    await stack.sim(evse_id, "PlugIn", "d", 220.0)
    got = await csms.wait_for("TransactionEvent", before + 1, where=is_start, timeout=15)
    return got[-1]["transactionInfo"]["transactionId"]


async def session_with(stack, csms, token: str, evse_id: int = 1) -> str:
    """Plug in on `evse_id`, present `token`, wait for the TransactionEvent Authorized; its transactionId."""
    tx_id = await plug_in(stack, csms, evse_id)
    await stack.tap(token)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized"
                        and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    return tx_id


async def end_session(stack, csms, tx_id: str, evse_id: int = 1) -> None:
    await stack.sim(evse_id, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended"
                        and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    await stack.wait(lambda: stack.conn(evse_id), lambda c: c["SessionId"] == "", timeout=15,
                     what_name="session over")


async def prime_cache(stack, csms, token: str) -> None:
    """One full session with `token` authorized by the CSMS: the cache now holds it as Accepted."""
    tx_id = await session_with(stack, csms, token)
    await end_session(stack, csms, tx_id)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)


async def test_TC_C_08_CS_authorization_through_cache_accepted(start_ocpp, csms):
    """C12.FR.02 (TC_C_08); TC_C_33: the AuthorizeResponse Accepted is cached, so the same token in the next
    session is authorized online without an AuthorizeRequest and charges."""
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0008")
    assert len(csms.received("Authorize")) == 1
    tx_id = await session_with(stack, csms, "CAFE0008")
    (auth,) = [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id
               and p["triggerReason"] == "Authorized"]
    assert auth["idToken"] == {"idToken": "CAFE0008", "type": "ISO14443"}
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "Charging", timeout=15)
    assert len(csms.received("Authorize")) == 1, "the cached token was not sent to the CSMS again"


@pytest.mark.parametrize(("token", "cached", "answer"), [("CAFE0009", "Invalid", "Invalid"),
                                                          ("CAFE0010", "Blocked", "Blocked"),
                                                          ("CAFE0011", "Expired", "Expired"),
                                                          ("CAFE0012", "Invalid", "Accepted")])
async def test_TC_C_09_CS_to_TC_C_12_CS_cache_not_valid_goes_to_csms(start_ocpp, csms, token, cached, answer):
    """C12.FR.05: a token the cache holds as not valid is sent to the CSMS (AuthorizeRequest): TC_C_09 (Invalid),
    TC_C_10 (Blocked), TC_C_11 (Expired) are refused again; TC_C_12 (Invalid, now Accepted) is authorized."""
    csms.behaviour.authorize[token] = cached
    stack = await start_ocpp()
    await plug_in(stack, csms)
    await stack.tap(token)
    await csms.wait_for("Authorize", timeout=15)           # the cache now holds `cached`
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    assert (await stack.conn(1))["SessionToken"] == ""
    csms.behaviour.authorize[token] = answer
    await stack.tap(token)
    (_, again) = await csms.wait_for("Authorize", 2, timeout=15)
    assert again["idToken"] == {"idToken": token, "type": "ISO14443"}
    if answer == "Accepted":
        (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized",
                                      timeout=15)
        assert auth["idToken"] == {"idToken": token, "type": "ISO14443"}
        await stack.sim(1, "SetEvReady", "b", True)
        await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState")
                            == "Charging", timeout=15)
    else:
        await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
        assert (await stack.conn(1))["SessionToken"] == ""
        assert not [p for p in csms.received("TransactionEvent") if p["triggerReason"] == "Authorized"]


async def test_TC_C_34_CS_cache_updated_on_transaction_response(start_ocpp, csms):
    """C10.FR.05: a cached Accepted token starts without AuthorizeRequest; the TransactionEventResponse says
    Invalid: the transaction is deauthorized (StopTxOnInvalidId) and the cache updated, so next time the token
    goes to the CSMS (AuthorizeRequest)."""
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0034")
    csms.behaviour.authorize["CAFE0034"] = "Invalid"
    tx_id = await session_with(stack, csms, "CAFE0034")
    assert len(csms.received("Authorize")) == 1
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                                 and p["triggerReason"] == "Deauthorized", timeout=15)
    await end_session(stack, csms, tx_id)
    await plug_in(stack, csms)
    await stack.tap("CAFE0034")
    (_, req) = await csms.wait_for("Authorize", 2, timeout=15)
    assert req["idToken"] == {"idToken": "CAFE0034", "type": "ISO14443"}


async def test_TC_C_32_CS_auth_cache_persistent_over_reboot(start_ocpp, csms, supervisor):
    """C10.FR.02: the cache survives a restart of the OCPP service (kill -9): the token is accepted from it
    after the reboot, without an AuthorizeRequest."""
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0032")
    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await csms.wait_for("BootNotification", 2, timeout=20)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["Connected"] and p["BootStatus"] == "Accepted", timeout=20,
                     what_name="ocpp online and booted")
    tx_id = await session_with(stack, csms, "CAFE0032")
    (auth,) = [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id
               and p["triggerReason"] == "Authorized"]
    assert auth["idToken"] == {"idToken": "CAFE0032", "type": "ISO14443"}
    assert len(csms.received("Authorize")) == 1


async def test_TC_C_36_CS_local_pre_authorize_false_ignores_cache(start_ocpp, csms):
    """C10.FR.11: with AuthCtrlr.LocalPreAuthorize false a cached token is sent to the CSMS; Invalid refuses it."""
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0036")
    await set_vars(csms, cv("AuthCtrlr", "LocalPreAuthorize", "false"))
    csms.behaviour.authorize["CAFE0036"] = "Invalid"
    await plug_in(stack, csms)
    await stack.tap("CAFE0036")
    (_, req) = await csms.wait_for("Authorize", 2, timeout=15)
    assert req["idToken"] == {"idToken": "CAFE0036", "type": "ISO14443"}
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    assert (await stack.conn(1))["SessionToken"] == ""
    assert len([p for p in csms.received("TransactionEvent") if p["triggerReason"] == "Authorized"]) == 1


async def test_TC_C_38_CS_clear_cache_rejected_when_cache_disabled(start_ocpp, csms):
    """C11.FR.04: ClearCache while AuthCacheCtrlr.Enabled is false is Rejected; enabled again, Accepted."""
    await start_ocpp()
    await set_vars(csms, cv("AuthCacheCtrlr", "Enabled", "false"))
    assert (await csms.call("ClearCache", {}))["status"] == "Rejected"
    await set_vars(csms, cv("AuthCacheCtrlr", "Enabled", "true"))
    assert (await csms.call("ClearCache", {}))["status"] == "Accepted"


async def test_TC_C_04_CS_local_stop_different_id_token(start_ocpp, csms):
    """TC_C_04: during charging another card (accepted by the CSMS) neither stops nor re-authorizes the
    transaction: no TransactionEvent with the other idToken, no StopAuthorized."""
    stack = await start_ocpp()
    tx_id = await session_with(stack, csms, CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=15)
    await stack.tap("CAFE0004")
    await csms.wait_for("Authorize", where=lambda p: p["idToken"]["idToken"] == "CAFE0004", timeout=15)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    conn = await stack.conn(1)
    assert conn["SessionId"] == tx_id and conn["SessionToken"] == CARD and conn["StopReason"] == ""
    events = [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id]
    assert not [p for p in events if p.get("idToken", {}).get("idToken") == "CAFE0004"]
    assert not [p for p in events if p["triggerReason"] in ("StopAuthorized", "Deauthorized")]


@pytest.mark.parametrize(("token", "status", "plugged"), [("CAFE0005", "Invalid", False),
                                                          ("CAFE0006", "Blocked", True),
                                                          ("CAFE0007", "Expired", True)])
async def test_TC_C_05_CS_to_TC_C_07_CS_local_start_refused(start_ocpp, csms, token, status, plugged):
    """TC_C_05 (Invalid, no cable yet), TC_C_06 (Blocked) and TC_C_07 (Expired) with the EV connected: the
    AuthorizeRequest is answered with a refusal; no TransactionEvent follows it."""
    csms.behaviour.authorize[token] = status
    stack = await start_ocpp()
    if plugged:
        await plug_in(stack, csms)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    await stack.tap(token)
    (req,) = await csms.wait_for("Authorize", timeout=15)
    assert req["idToken"] == {"idToken": token, "type": "ISO14443"}
    n = len(csms.received())
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    assert (await stack.conn(1))["SessionToken"] == ""
    assert not [p for p in csms.received()[n:] if "idToken" in p], "no TransactionEvent with the idToken"


async def test_TC_C_13_CS_cache_accepted_before_cable(start_ocpp, csms):
    """TC_C_13: a cached token presented before the cable (TxStartPoint EVConnected): no AuthorizeRequest; on
    plug-in the transaction starts and is Authorized with the token, and charges."""
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0013")
    await stack.tap("CAFE0013")
    tx_id = await plug_in(stack, csms)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    assert auth["idToken"] == {"idToken": "CAFE0013", "type": "ISO14443"}
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "Charging", timeout=15)
    assert len(csms.received("Authorize")) == 1


async def test_TC_C_46_CS_auth_cache_lifetime(start_ocpp, csms):
    """C10.FR.08: AuthCacheCtrlr.LifeTime: once it has passed since the CSMS's last answer the cached token is
    no longer used; presenting it sends an AuthorizeRequest again."""
    stack = await start_ocpp()
    await set_vars(csms, cv("AuthCacheCtrlr", "LifeTime", "1"))
    await prime_cache(stack, csms, "CAFE0046")
    await asyncio.sleep(2.0)   # lets LifeTime pass (wall clock); not a synchronisation
    await plug_in(stack, csms)
    await stack.tap("CAFE0046")
    (_, req) = await csms.wait_for("Authorize", 2, timeout=15)
    assert req["idToken"] == {"idToken": "CAFE0046", "type": "ISO14443"}
    await csms.wait_for("TransactionEvent", 2, where=lambda p: p["triggerReason"] == "Authorized", timeout=15)


async def test_TC_C_57_CS_cache_disable_post_authorize(start_ocpp, csms):
    """C12.FR.06: with AuthCacheCtrlr.DisablePostAuthorize true a token the cache holds as Invalid is refused
    without an AuthorizeRequest."""
    csms.behaviour.authorize["CAFE0057"] = "Invalid"
    stack = await start_ocpp()
    await plug_in(stack, csms)
    await stack.tap("CAFE0057")
    await csms.wait_for("Authorize", timeout=15)           # the cache now holds Invalid
    await set_vars(csms, cv("AuthCacheCtrlr", "DisablePostAuthorize", "true"))
    csms.behaviour.authorize["CAFE0057"] = "Accepted"       # would be accepted if asked
    await stack.tap(CARD)                                   # a local-list card: proves the taps are handled
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized", timeout=15)
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "", timeout=15, what_name="session over")
    tx_id = await plug_in(stack, csms)
    await stack.tap("CAFE0057")
    await stack.tap(CARD)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized"
                        and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    assert len(csms.received("Authorize")) == 1, "no AuthorizeRequest for the cached Invalid token"
    assert (await stack.conn(1))["SessionToken"] == CARD


async def test_TC_C_16_CS_cached_token_offline_then_invalid_stops(start_ocpp, csms):
    """TC_C_16 (StopTxOnInvalidId true): offline, a cached Accepted token authorizes locally (offline
    TransactionEvent Authorized); back online the CSMS answers Invalid and the station sends Deauthorized."""
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0016")
    tx_id = await plug_in(stack, csms)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    await csms.stop()
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], timeout=15, what_name="ocpp offline")
    await stack.tap("CAFE0016")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == "CAFE0016", timeout=15,
                     what_name="authorized offline")
    csms.behaviour.authorize["CAFE0016"] = "Invalid"
    await csms.start()
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=20)
    assert auth["offline"] is True and auth["idToken"] == {"idToken": "CAFE0016", "type": "ISO14443"}
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Deauthorized"
                        and p["transactionInfo"]["transactionId"] == tx_id, timeout=20)
    await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] != "", timeout=15, what_name="stopped")


async def test_TC_E_43_CS_transaction_during_offline_period(start_ocpp, csms):
    """TC_E_43: a whole transaction while the CSMS is unreachable (local-list card, TransactionEventsInQueueEnded);
    back online the queue is delivered: every event offline, Started to Ended, seqNo without gap."""
    stack = await start_ocpp()
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    await csms.stop()
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], timeout=15, what_name="ocpp offline")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == CARD, timeout=15, what_name="authorized")
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", timeout=15, what_name="charging")
    tx_id = (await stack.conn(1))["SessionId"]
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "", timeout=15, what_name="session over")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] >= 2, timeout=15)
    assert not [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id]
    await csms.start()
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended"
                        and p["transactionInfo"]["transactionId"] == tx_id, timeout=20)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    events = [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id]
    assert all(e.get("offline") is True for e in events)
    assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert any(e["triggerReason"] == "Authorized" and e["idToken"]["idToken"] == CARD for e in events)


async def offline_authorized_then_invalid(stack, csms, token: str, *, hold_answer: bool = False) -> str:
    """EVConnectedPreSession, the CSMS goes away, `token` is presented and the EV charges; the CSMS comes back
    answering Invalid for it. The transactionId, once the offline Authorized event is delivered (with
    `hold_answer`, its Invalid answer waits for `csms.release()`)."""
    tx_id = await plug_in(stack, csms)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    await csms.stop()
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], timeout=15, what_name="ocpp offline")
    await stack.tap(token)
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == token, timeout=15,
                     what_name="authorized offline")
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", timeout=15, what_name="charging")
    csms.behaviour.authorize[token] = "Invalid"
    if hold_answer:   # the queue's head after the reconnect is the offline Authorized event
        csms.behaviour.hold["TransactionEvent"] = 1
    await csms.start()
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=20)
    assert auth["offline"] is True and auth["idToken"] == {"idToken": token, "type": "ISO14443"}
    return tx_id


async def test_TC_C_17_CS_cached_token_offline_then_invalid_suspends(start_ocpp, csms):
    """TC_C_17 (StopTxOnInvalidId false): as TC_C_16, but the Invalid answer only suspends the energy transfer
    (SuspendedEVSE); the transaction is not deauthorized."""
    stack = await start_ocpp()
    await set_vars(csms, cv("TxCtrlr", "StopTxOnInvalidId", "false"))
    await prime_cache(stack, csms, "CAFE0017")
    tx_id = await offline_authorized_then_invalid(stack, csms, "CAFE0017")
    await stack.wait(lambda: stack.conn(1), lambda c: c["Paused"] and c["State"] == "SuspendedEVSE", timeout=15,
                     what_name="suspended")
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "SuspendedEVSE" and not p.get("offline"),
                        timeout=20)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    assert (await stack.conn(1))["StopReason"] == ""
    assert not [p for p in csms.received("TransactionEvent") if p["triggerReason"] == "Deauthorized"]


async def test_TC_C_26_CS_offline_unknown_id(start_ocpp, csms):
    """TC_C_26 (OfflineTxForUnknownIdEnabled, StopTxOnInvalidId false): offline, a token no one knows starts
    charging; back online the CSMS answers Invalid: the energy transfer is suspended, the transaction goes on.
    The token is presented again (the OCTT's configured token in both places): StopAuthorized with it, and the
    transaction ends at unplug."""
    stack = await start_ocpp()
    await set_vars(csms, cv("TxCtrlr", "StopTxOnInvalidId", "false"),
                   cv("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true"))
    tx_id = await offline_authorized_then_invalid(stack, csms, "CAFE0026")
    await stack.wait(lambda: stack.conn(1), lambda c: c["Paused"], timeout=15, what_name="suspended")
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "SuspendedEVSE", timeout=20)
    offline = [p for p in csms.received("TransactionEvent") if p.get("offline")]
    assert offline and all(p["transactionInfo"]["transactionId"] == tx_id for p in offline)
    await stack.tap("CAFE0026")
    (stop,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "StopAuthorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=30)
    # The same idToken as the start: not repeated (it is only sent when it is new or differs).
    assert "idToken" not in stop and "offline" not in stop
    await end_session(stack, csms, tx_id)
    assert not [p for p in csms.received("TransactionEvent") if p["triggerReason"] == "Deauthorized"]


async def group_session(stack, csms) -> str:
    """CAFE0391 (group GROUP1) starts charging; its transactionId."""
    csms.behaviour.groups.update({"CAFE0391": "GROUP1", "CAFE0392": "GROUP1", "CAFE0421": "GROUP2"})
    tx_id = await session_with(stack, csms, "CAFE0391")
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "Charging", timeout=15)
    return tx_id


async def test_TC_C_39_CS_authorization_by_group_id(start_ocpp, csms):
    """TC_C_39 (C09.FR.03): another card the CSMS accepts with the same groupIdToken stops the transaction:
    TransactionEvent StopAuthorized with that card's idToken; stoppedReason Local."""
    stack = await start_ocpp()
    tx_id = await group_session(stack, csms)
    await stack.tap("CAFE0392")
    (req,) = await csms.wait_for("Authorize", where=lambda p: p["idToken"]["idToken"] == "CAFE0392", timeout=15)
    (stop,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "StopAuthorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    assert stop["idToken"] == {"idToken": "CAFE0392", "type": "ISO14443"}
    await stack.sim(1, "Unplug")
    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended"
                                 and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    assert end["transactionInfo"]["stoppedReason"] == "Local"


async def test_group_id_stop_after_a_restart_of_the_ocpp_service(start_ocpp, csms, supervisor):
    """C09.FR.03 across a kill -9 of the OCPP service mid-session: the GroupId of the card that started
    the session is kept, so another card of the group still stops it (StopAuthorized with that card)."""
    stack = await start_ocpp()
    tx_id = await group_session(stack, csms)
    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await csms.wait_for("BootNotification", 2, timeout=30)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["Connected"] and p["BootStatus"] == "Accepted", timeout=30,
                     what_name="ocpp online and booted")
    await stack.tap("CAFE0392")
    (stop,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "StopAuthorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=30)
    assert stop["idToken"] == {"idToken": "CAFE0392", "type": "ISO14443"}


async def test_TC_C_42_CS_not_stopped_by_other_group_id(start_ocpp, csms):
    """TC_C_42: a card accepted with a different groupIdToken does not stop the transaction."""
    stack = await start_ocpp()
    tx_id = await group_session(stack, csms)
    await stack.tap("CAFE0421")
    await csms.wait_for("Authorize", where=lambda p: p["idToken"]["idToken"] == "CAFE0421", timeout=15)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    conn = await stack.conn(1)
    assert conn["SessionId"] == tx_id and conn["StopReason"] == "" and conn["SessionToken"] == "CAFE0391"
    assert not [p for p in csms.received("TransactionEvent") if p["triggerReason"] == "StopAuthorized"]


async def test_TC_C_41_CS_group_id_with_cache(start_ocpp, csms):
    """TC_C_41: both cards of GROUP1 in the cache; the first starts from the cache, the second (also from the
    cache, no AuthorizeRequest) stops the transaction: StopAuthorized with its idToken."""
    csms.behaviour.groups.update({"CAFE0411": "GROUP1", "CAFE0412": "GROUP1"})
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0411")
    await prime_cache(stack, csms, "CAFE0412")
    assert len(csms.received("Authorize")) == 2
    tx_id = await session_with(stack, csms, "CAFE0411")
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "Charging", timeout=15)
    await stack.tap("CAFE0412")
    (stop,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "StopAuthorized"
                                  and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    assert stop["idToken"] == {"idToken": "CAFE0412", "type": "ISO14443"}
    assert len(csms.received("Authorize")) == 2


async def test_TC_C_44_CS_group_id_invalid_with_cache(start_ocpp, csms):
    """TC_C_44: a card of the same group the cache holds as Invalid is asked at the CSMS (Invalid, with the
    group): it does not stop the transaction, no TransactionEvent with it."""
    csms.behaviour.groups.update({"CAFE0441": "GROUP1", "CAFE0442": "GROUP1"})
    csms.behaviour.authorize["CAFE0442"] = "Invalid"
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0441")
    tx_id = await plug_in(stack, csms)
    await stack.tap("CAFE0442")                             # the cache now holds it as Invalid
    await csms.wait_for("Authorize", 2, timeout=15)
    await stack.tap("CAFE0441")
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized"
                        and p["transactionInfo"]["transactionId"] == tx_id, timeout=15)
    await stack.tap("CAFE0442")
    (*_, req) = await csms.wait_for("Authorize", 3, timeout=15)
    assert req["idToken"] == {"idToken": "CAFE0442", "type": "ISO14443"}
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    conn = await stack.conn(1)
    assert conn["SessionId"] == tx_id and conn["StopReason"] == "" and conn["SessionToken"] == "CAFE0441"
    assert not [p for p in csms.received("TransactionEvent") if p.get("idToken", {}).get("idToken") == "CAFE0442"]


async def test_TC_E_45_CS_stop_offline_same_group_id(start_ocpp, csms):
    """TC_E_45: offline, a cached card of the group of the card that started the transaction stops it
    (StopAuthorized with its idToken); after unplug and reconnect the queued events are all offline, Ended
    with stoppedReason Local."""
    csms.behaviour.groups.update({"CAFE0451": "GROUP1", "CAFE0452": "GROUP1"})
    stack = await start_ocpp()
    await prime_cache(stack, csms, "CAFE0452")
    tx_id = await session_with(stack, csms, "CAFE0451")
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "Charging", timeout=15)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    online = len([p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id])
    await csms.stop()
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], timeout=15, what_name="ocpp offline")
    await stack.tap("CAFE0452")
    await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] == "Local", timeout=15, what_name="stopped")
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "", timeout=15, what_name="session over")
    await csms.start()
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended"
                        and p["transactionInfo"]["transactionId"] == tx_id, timeout=20)
    events = [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id]
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    offline = events[online:]
    assert offline and all(e.get("offline") is True for e in offline)
    stop = next(e for e in offline if e["triggerReason"] == "StopAuthorized")
    assert stop["idToken"] == {"idToken": "CAFE0452", "type": "ISO14443"}
    assert offline[-1]["eventType"] == "Ended" and offline[-1]["transactionInfo"]["stoppedReason"] == "Local"


async def test_TC_C_15_CS_invalid_answer_charges_up_to_max_energy_on_invalid_id(start_ocpp, csms):
    """TC_C_15 (StopTxOnInvalidId false, MaxEnergyOnInvalidId > 0; C-03): offline, a cached token authorizes and
    the EV charges (offline Authorized and ChargingStateChanged); back online the CSMS answers Invalid. The
    transaction is not deauthorized and charging goes on; once the transaction delivered MaxEnergyOnInvalidId Wh
    the energy transfer stops (SuspendedEVSE): "only MaxEnergyOnInvalidId amount of energy is delivered".
    While the Invalid answer is held, the cap is set a little above the energy delivered so far (the errata's
    10000 Wh would take half an hour to reach), so both the charging past the answer and the stop are seen."""
    stack = await start_ocpp()
    await set_vars(csms, cv("TxCtrlr", "StopTxOnInvalidId", "false"), cv("TxCtrlr", "MaxEnergyOnInvalidId", "10000"))
    await prime_cache(stack, csms, "CAFE0015")
    tx_id = await offline_authorized_then_invalid(stack, csms, "CAFE0015", hold_answer=True)
    energy = (await stack.conn(1))["SessionEnergyWh"]
    cap = int(energy) + 40
    await set_vars(csms, cv("TxCtrlr", "MaxEnergyOnInvalidId", str(cap)))
    csms.release()
    paused = await stack.wait(lambda: stack.conn(1), lambda c: c["Paused"], timeout=90,
                              what_name="energy transfer suspended at MaxEnergyOnInvalidId")
    assert paused["SessionEnergyWh"] >= cap, "suspended before the transaction delivered MaxEnergyOnInvalidId"
    assert paused["StopReason"] == "" and paused["SessionId"] == tx_id
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["transactionId"] == tx_id
                        and p["transactionInfo"].get("chargingState") == "SuspendedEVSE", timeout=30)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    events = [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id]
    assert any(p["triggerReason"] == "ChargingStateChanged" and p.get("offline") for p in events)
    assert not [p for p in events if p["triggerReason"] == "Deauthorized"]
    await end_session(stack, csms, tx_id)


async def test_TC_C_18_CS_stop_tx_on_invalid_id_wins_over_max_energy(start_ocpp, csms):
    """TC_C_18 (StopTxOnInvalidId true, MaxEnergyOnInvalidId 500): the steps of the test above, but the Invalid
    answer stops the transaction at once: TransactionEvent Deauthorized (not offline), and the energy flow
    stops."""
    stack = await start_ocpp()
    await set_vars(csms, cv("TxCtrlr", "StopTxOnInvalidId", "true"), cv("TxCtrlr", "MaxEnergyOnInvalidId", "500"))
    await prime_cache(stack, csms, "CAFE0018")
    tx_id = await offline_authorized_then_invalid(stack, csms, "CAFE0018")
    (deauth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Deauthorized"
                                    and p["transactionInfo"]["transactionId"] == tx_id, timeout=20)
    assert not deauth.get("offline")
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] == "DeAuthorized"
                            and c["State"] != "Charging", timeout=15, what_name="energy flow stopped")
    assert not conn["Paused"]


MASTER = "CAFE0049"          # the CSMS gives it the Master Pass group
MASTER_GROUP = "MASTERGROUP"


async def test_TC_C_45_CS_master_pass_does_not_start_a_transaction(start_ocpp, csms):
    """TC_C_45 (C16.FR.03; TxStartPoint Authorized): the Master Pass is presented before the EV; the CSMS
    accepts it with groupIdToken MasterPassGroupId: no transaction starts, and after the EV is plugged in and
    ready nothing charges. A normal card afterwards starts the first transaction of the test."""
    csms.behaviour.groups[MASTER] = MASTER_GROUP
    stack = await start_ocpp()
    await set_vars(csms, cv("TxCtrlr", "TxStartPoint", "Authorized"),
                   cv("AuthCtrlr", "MasterPassGroupId", MASTER_GROUP))
    r = await csms.call("GetVariables", {"getVariableData": [{"component": {"name": "AuthCtrlr"},
                                                              "variable": {"name": "MasterPassGroupId"}}]})
    assert r["getVariableResult"][0]["attributeValue"] == MASTER_GROUP
    await stack.tap(MASTER)
    (req,) = await csms.wait_for("Authorize", timeout=15)
    assert req["idToken"] == {"idToken": MASTER, "type": "ISO14443"}
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.sim(1, "SetEvReady", "b", True)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] != "", timeout=15,
                            what_name="EV connected")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=15)
    assert conn["SessionToken"] == "" and conn["State"] != "Charging"
    assert not csms.received("TransactionEvent"), "no transaction for the Master Pass"
    await stack.tap(CARD)
    (started,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=15)
    assert started["idToken"]["idToken"] == CARD
    await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        timeout=15)
    assert not [p for p in csms.received("TransactionEvent") if p.get("idToken", {}).get("idToken") == MASTER]


@pytest.mark.parametrize("evses", [(1, 2), (1,)], ids=["both-evses", "one-evse"])
async def test_TC_C_49_CS_master_pass_stops_all_transactions_without_ui(start_ocpp, csms, evses):
    """TC_C_49 (C16.FR.02, no UI): transactions charge on EVSE 1 and 2 (valid_idtoken, valid_idtoken2); the
    Master Pass is presented and the CSMS accepts it with groupIdToken MasterPassGroupId: every transaction is
    stopped, TransactionEvent StopAuthorized with stoppedReason MasterPass and the Master Pass idToken; the
    energy flow stops; at unplug Ended with stoppedReason MasterPass. With every connector busy evse has no
    connector for the card, so the station asks the CSMS itself; with one free it goes through evse."""
    csms.behaviour.groups[MASTER] = MASTER_GROUP
    stack = await start_ocpp()
    await set_vars(csms, cv("AuthCtrlr", "MasterPassGroupId", MASTER_GROUP))
    txs = {}
    for evse in evses:
        txs[evse] = tx_id = await session_with(stack, csms, f"CAFE049{evse}", evse)
        await stack.sim(evse, "SetEvReady", "b", True)
        await csms.wait_for("TransactionEvent", where=lambda p, t=tx_id: p["transactionInfo"]["transactionId"] == t
                            and p["transactionInfo"].get("chargingState") == "Charging", timeout=15)
    await stack.tap(MASTER)
    await csms.wait_for("Authorize", where=lambda p: p["idToken"]["idToken"] == MASTER, timeout=15)
    for evse, tx_id in txs.items():
        (stop,) = await csms.wait_for("TransactionEvent", where=lambda p, t=tx_id: p["triggerReason"] ==
                                      "StopAuthorized" and p["transactionInfo"]["transactionId"] == t, timeout=15)
        assert stop["transactionInfo"]["stoppedReason"] == "MasterPass"
        assert stop["idToken"] == {"idToken": MASTER, "type": "ISO14443"}
        await stack.wait(lambda e=evse: stack.conn(e), lambda c: c["StopReason"] == "MasterPass"
                         and c["State"] != "Charging", timeout=15, what_name=f"EVSE {evse} stopped")
    for evse, tx_id in txs.items():
        await stack.sim(evse, "Unplug")
        (end,) = await csms.wait_for("TransactionEvent", where=lambda p, t=tx_id: p["eventType"] == "Ended"
                                     and p["transactionInfo"]["transactionId"] == t, timeout=15)
        assert end["transactionInfo"]["stoppedReason"] == "MasterPass"
    assert not [p for p in csms.received("TransactionEvent") if p["eventType"] == "Started"
                and p.get("idToken", {}).get("idToken") == MASTER]


async def restart_ocpp(stack, csms, supervisor) -> None:
    """kill -9 of the OCPP service; back online and booted again."""
    boots = len(csms.received("BootNotification"))
    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await csms.wait_for("BootNotification", boots + 1, timeout=30)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["Connected"] and p["BootStatus"] == "Accepted", timeout=30,
                     what_name="ocpp online and booted")


async def test_max_energy_on_invalid_id_limit_survives_a_restart_of_the_ocpp_service(start_ocpp, csms, supervisor):
    """C-03 across a kill -9: the limit a deauthorized transaction got (MaxEnergyOnInvalidId) is kept in the
    queue database, so the restarted service still suspends the energy transfer once it is reached."""
    stack = await start_ocpp()
    await set_vars(csms, cv("TxCtrlr", "StopTxOnInvalidId", "false"))
    await prime_cache(stack, csms, "CAFE0315")
    tx_id = await offline_authorized_then_invalid(stack, csms, "CAFE0315", hold_answer=True)
    cap = int((await stack.conn(1))["SessionEnergyWh"]) + 80
    await set_vars(csms, cv("TxCtrlr", "MaxEnergyOnInvalidId", str(cap)))
    n = len(csms.received("TransactionEvent"))
    csms.release()
    # The answer is handled (and the limit stored) before the next queued event goes out.
    await csms.wait_for("TransactionEvent", n + 1, timeout=20)
    await restart_ocpp(stack, csms, supervisor)
    paused = await stack.wait(lambda: stack.conn(1), lambda c: c["Paused"], timeout=90,
                              what_name="energy transfer suspended at MaxEnergyOnInvalidId")
    assert paused["SessionEnergyWh"] >= cap and paused["StopReason"] == "" and paused["SessionId"] == tx_id


async def test_master_pass_known_from_the_cache_after_a_restart(start_ocpp, csms, supervisor):
    """C16 with the authorization cache: the Master Pass answered once by the CSMS (it stops a transaction) is
    cached with its groupIdToken; after a kill -9 of the OCPP service it is accepted from the cache (no second
    AuthorizeRequest) and still recognised as a Master Pass: it stops the next transaction too (so the
    MasterPassGroupId set with SetVariables before the restart is kept as well)."""
    csms.behaviour.groups[MASTER] = MASTER_GROUP
    stack = await start_ocpp()
    await set_vars(csms, cv("AuthCtrlr", "MasterPassGroupId", MASTER_GROUP))
    for restart in (False, True):
        if restart:
            await restart_ocpp(stack, csms, supervisor)
        tx_id = await session_with(stack, csms, CARD)
        await stack.tap(MASTER)
        (stop,) = await csms.wait_for("TransactionEvent", where=lambda p, t=tx_id: p["triggerReason"] ==
                                      "StopAuthorized" and p["transactionInfo"]["transactionId"] == t, timeout=20)
        assert stop["transactionInfo"]["stoppedReason"] == "MasterPass"
        assert stop["idToken"] == {"idToken": MASTER, "type": "ISO14443"}
        await end_session(stack, csms, tx_id)
    assert len(csms.received("Authorize")) == 1
