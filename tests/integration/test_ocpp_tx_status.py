"""The transaction message queue: GetTransactionStatus with messages still queued (OCA Part 6
TC_E_28/29/31/33), a retry after no answer (TC_E_42), meter values queued offline (TC_E_40).

The test CSMS leaves one TransactionEvent unanswered: the station keeps it queued until its
retry (MessageTimeout, then MessageAttemptInterval), which is when the CSMS asks.
"""

from __future__ import annotations

from evcharge.common import names
from evcharge.common.bus import get_all


async def queue_length(stack) -> int:
    return (await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP))["QueueLength"]


async def test_TC_E_28_CS_transaction_id_unknown(start_ocpp, csms):
    await start_ocpp()
    r = await csms.call("GetTransactionStatus", {"transactionId": "no-such-transaction"})
    assert r == {"messagesInQueue": False, "ongoingIndicator": False}


async def test_TC_E_29_CS_and_TC_E_33_CS_ongoing_with_message_in_queue(start_ocpp, csms):
    stack = await start_ocpp()
    csms.behaviour.ignore["TransactionEvent"] = 1
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    tx_id = ev["transactionInfo"]["transactionId"]
    assert await queue_length(stack) >= 1          # unanswered: still queued
    r = await csms.call("GetTransactionStatus", {"transactionId": tx_id})
    assert r == {"messagesInQueue": True, "ongoingIndicator": True}
    assert await csms.call("GetTransactionStatus", {}) == {"messagesInQueue": True}
    # the retry is answered: the queue empties
    await stack.wait(lambda: queue_length(stack), lambda n: n == 0, timeout=60, what_name="queue delivered")
    r = await csms.call("GetTransactionStatus", {"transactionId": tx_id})
    assert r == {"messagesInQueue": False, "ongoingIndicator": True}


async def test_TC_E_31_CS_ended_with_message_in_queue(start_ocpp, csms):
    stack = await start_ocpp()
    await stack.sim(1, "PlugIn", "d", 220.0)
    (ev,) = await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    tx_id = ev["transactionInfo"]["transactionId"]
    await stack.wait(lambda: queue_length(stack), lambda n: n == 0, timeout=20)
    csms.behaviour.ignore["TransactionEvent"] = 1
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    r = await csms.call("GetTransactionStatus", {"transactionId": tx_id})
    assert r == {"messagesInQueue": True, "ongoingIndicator": False}
    await stack.wait(lambda: queue_length(stack), lambda n: n == 0, timeout=60, what_name="queue delivered")
    ends = await csms.wait_for("TransactionEvent", 2, where=lambda p: p["eventType"] == "Ended", timeout=60)
    assert ends[0]["seqNo"] == ends[1]["seqNo"]    # the same message again, not a new one


async def test_TC_E_42_CS_retry_after_no_answer_succeeds(start_ocpp, csms):
    stack = await start_ocpp()
    csms.behaviour.ignore["TransactionEvent"] = 1
    await stack.sim(1, "PlugIn", "d", 220.0)
    started = await csms.wait_for("TransactionEvent", 2, where=lambda p: p["eventType"] == "Started", timeout=60)
    assert started[0] == started[1]   # the same message, sent again after MessageTimeout
    await stack.wait(lambda: queue_length(stack), lambda n: n == 0, timeout=60, what_name="queue delivered")


async def test_TC_E_40_CS_connection_loss_during_transaction_queues_meter_values(start_ocpp, csms):
    stack = await start_ocpp(meter_sample_interval_s=1)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap("04A1B2C3")
    await stack.sim(1, "SetEvReady", "b", True)
    await csms.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "MeterValuePeriodic", timeout=20)
    await csms.stop()
    await stack.wait(lambda: get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP),
                     lambda p: not p["Connected"], what_name="offline", timeout=20)
    # (one message may have been in flight when the connection went: at least 2 more are offline ones)
    await stack.wait(lambda: queue_length(stack), lambda n: n >= 3, timeout=30, what_name="samples queued offline")
    await csms.start()
    offline = await csms.wait_for("TransactionEvent", 2, where=lambda p: p.get("offline") is True, timeout=60)
    for ev in offline:
        assert ev["eventType"] == "Updated" and ev["triggerReason"] == "MeterValuePeriodic" and ev["meterValue"]
    await stack.wait(lambda: queue_length(stack), lambda n: n == 0, timeout=60, what_name="queue delivered")
