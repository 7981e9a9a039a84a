"""Offline safety: transaction messages are stored before they are sent and survive kill -9.

TC_E_43/TC_E_44 (transaction stopped during the offline period) with the station's process
killed while offline; a session that ends while the OCPP service is not running at all; and a
clean stop (SIGTERM) while the CSMS has not yet answered a TransactionEvent.
"""

from __future__ import annotations

import signal

from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sil.supervisor import ServiceSpec

CARD = "04A1B2C3"


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


def tx_events(csms, tx_id: str) -> list[dict]:
    return [p for p in csms.received("TransactionEvent") if p["transactionInfo"]["transactionId"] == tx_id]


async def test_TC_E_44_CS_stop_offline_kill9_restart_delivers_in_order(start_ocpp, csms, supervisor):
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"]["chargingState"] == "Charging")
    tx_id = ev["transactionInfo"]["transactionId"]
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    online_count = len(tx_events(csms, tx_id))

    await csms.stop()   # the CSMS goes down and refuses reconnects
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], what_name="ocpp offline")
    await stack.tap(CARD)                      # stop with the same card
    await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] == "Local")
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "")
    props = await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] >= 2)
    queued = props["QueueLength"]

    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")                    # SIGKILL: no chance to flush anything
    await supervisor.wait_restarted("ocpp", starts)
    assert (await ocpp_props(stack))["QueueLength"] == queued, "the queue survived kill -9"

    await csms.start()
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)

    events = tx_events(csms, tx_id)
    assert [e["seqNo"] for e in events] == list(range(len(events))), "each once, in order, no gap"
    assert len(events) == online_count + queued
    offline = events[online_count:]
    assert all(e.get("offline") is True for e in offline)
    assert offline[-1]["eventType"] == "Ended" and offline[-1]["transactionInfo"]["stoppedReason"] == "Local"
    assert any(e["triggerReason"] == "StopAuthorized" for e in offline)
    # After the restart the station booted again, then delivered the queue.
    actions = csms.actions()
    assert actions.count("BootNotification") == 2
    last_boot = len(actions) - 1 - actions[::-1].index("BootNotification")
    assert "TransactionEvent" in actions[last_boot:]


async def test_session_ended_while_ocpp_not_running_is_reported_on_start(start_ocpp, csms, supervisor):
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    (auth,) = await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    tx_id = auth["transactionInfo"]["transactionId"]
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)

    await supervisor.stop("ocpp")
    await stack.evse(1, "Stop", "s", "Remote")
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "")
    await supervisor.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]))

    (end,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    assert end["transactionInfo"]["transactionId"] == tx_id
    assert end["transactionInfo"]["stoppedReason"] == "Remote"
    events = tx_events(csms, tx_id)
    assert [e["seqNo"] for e in events] == list(range(len(events)))


async def test_stop_while_a_transaction_event_is_unanswered_does_not_send_it_twice(start_ocpp, csms, supervisor):
    """A clean stop (SIGTERM) while a TransactionEvent waits for its answer: the service waits for
    the answer before it ends, so the restarted service does not send the message again.
    (Under kill -9 the same message may arrive twice, at-least-once: the CSMS recognises it by
    transactionId + seqNo. A clean stop has no such excuse.)"""
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    tx_id = ev["transactionInfo"]["transactionId"]
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)

    csms.behaviour.hold["TransactionEvent"] = 1   # the CSMS is slow to answer the next one
    await stack.tap(CARD)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Authorized")
    supervisor.kill("ocpp", signal.SIGTERM)
    await supervisor.wait_stopping("ocpp")
    csms.release()                                # the answer arrives while the service stops
    assert await supervisor.stop("ocpp") == 0

    await supervisor.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]))
    await stack.evse(1, "Stop", "s", "Remote")
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=20)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=20)
    events = tx_events(csms, tx_id)
    assert [e["seqNo"] for e in events] == list(range(len(events))), "each once, in order"
    assert [e["triggerReason"] for e in events].count("Authorized") == 1
