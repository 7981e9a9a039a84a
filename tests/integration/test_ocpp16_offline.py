"""OCPP 1.6J offline safety: transaction messages are stored before they are sent, survive
kill -9, and StopTransaction / MeterValues queued offline carry the transactionId the Central
System assigned (also when the StartTransaction itself was queued offline)."""

from __future__ import annotations

from evcharge.common import names
from evcharge.common.bus import get_all

CARD = "04A1B2C3"


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


def transaction_actions(csms16) -> list[str]:
    return [a for a in csms16.actions() if a in ("StartTransaction", "StopTransaction", "MeterValues")]


async def test_stop_offline_kill9_restart_delivers_once_in_order(start_ocpp16, csms16, supervisor):
    """Start a session online, take the Central System down, stop the session and unplug, kill -9
    the ocpp service, restart it and the Central System: StartTransaction, MeterValues and
    StopTransaction each arrive once, in order, and the StopTransaction and MeterValues use
    the transactionId the Central System assigned."""
    stack = await start_ocpp16(meter_sample_interval_s=1)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.sim(1, "SetEvReady", "b", True)
    (start,) = await csms16.wait_for("StartTransaction")
    tid = await csms16.transaction_id()
    await csms16.wait_for("MeterValues", where=lambda p: p.get("transactionId") == tid, timeout=10)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)

    await csms16.stop()
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], what_name="ocpp offline")
    online = len(transaction_actions(csms16))
    # offline: at least one sampled MeterValues is queued, then the stop
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] >= 1, timeout=10)
    await stack.tap(CARD)
    await stack.wait(lambda: stack.conn(1), lambda c: c["StopReason"] == "Local")
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "")
    props = await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] >= 2)
    queued = props["QueueLength"]

    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    assert (await ocpp_props(stack))["QueueLength"] == queued, "the queue survived kill -9"

    await csms16.start()
    await csms16.wait_for("StopTransaction", timeout=20)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=10)

    acts = transaction_actions(csms16)
    assert acts[0] == "StartTransaction" and acts.count("StartTransaction") == 1
    assert acts[-1] == "StopTransaction" and acts.count("StopTransaction") == 1
    assert len(acts) == online + queued, "each queued message arrived once"
    assert set(acts[1:-1]) == {"MeterValues"}
    stamps = [p["meterValue"][0]["timestamp"] for p in csms16.received("MeterValues")]
    assert stamps == sorted(stamps), "in order"
    assert all(p["transactionId"] == tid for p in csms16.received("MeterValues"))
    (stop,) = csms16.received("StopTransaction")
    assert stop["transactionId"] == tid and stop["reason"] == "Local" and stop["idTag"] == CARD
    assert stop["meterStop"] >= start["meterStart"]
    assert csms16.actions().count("BootNotification") == 2


async def test_transaction_entirely_offline_gets_its_id_on_delivery(start_ocpp16, csms16):
    """Both StartTransaction and StopTransaction are queued while offline: the StopTransaction
    is sent with the id from the StartTransaction.conf that precedes it."""
    stack = await start_ocpp16()
    assert (await csms16.call("ChangeConfiguration", {"key": "LocalAuthorizeOffline", "value": "true"}))["status"] \
        == "Accepted"
    await csms16.stop()
    await stack.wait(lambda: ocpp_props(stack), lambda p: not p["Connected"], what_name="ocpp offline")
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)                     # the local list authorizes offline
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionToken"] == CARD)
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] >= 2)
    csms16.next_transaction_id = 4242 - 1
    await csms16.start()
    (stop,) = await csms16.wait_for("StopTransaction", timeout=20)
    (start,) = csms16.received("StartTransaction")
    assert start["connectorId"] == 1 and start["idTag"] == CARD
    assert stop["transactionId"] == 4242 and stop["reason"] == "EVDisconnected"
    assert transaction_actions(csms16) == ["StartTransaction", "StopTransaction"]


async def test_transaction_message_retried_after_callerror(start_ocpp16, csms16):
    """TransactionMessageAttempts / RetryInterval: a StartTransaction answered with CALLERROR is
    resent; after the attempts it is given up and its StopTransaction dropped (no id)."""
    csms16.behaviour.transaction_event_errors = 2
    stack = await start_ocpp16(retry={"transaction_event_attempts": 3, "transaction_event_interval_s": 0.01})
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms16.wait_for("StartTransaction", 3)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)
    tid = await csms16.transaction_id()
    await stack.sim(1, "Unplug")
    (stop,) = await csms16.wait_for("StopTransaction")
    assert stop["transactionId"] == tid


async def test_session_ended_while_ocpp_not_running_is_reported_on_start(start_ocpp16, csms16, supervisor):
    from evcharge.sil.supervisor import ServiceSpec

    stack = await start_ocpp16()
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms16.wait_for("StartTransaction")
    tid = await csms16.transaction_id()
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0)

    await supervisor.stop("ocpp")
    await stack.evse(1, "Stop", "s", "Remote")
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["SessionId"] == "")
    await supervisor.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]))

    (stop,) = await csms16.wait_for("StopTransaction", timeout=20)
    assert stop["transactionId"] == tid and stop["reason"] == "Remote"


async def test_stop_while_start_transaction_is_unanswered_does_not_start_it_twice(start_ocpp16, csms16, supervisor):
    """A clean stop (SIGTERM) while StartTransaction waits for its answer: the service waits for
    the answer (and stores the transactionId) before it ends, so the restarted service does not
    send it again and the Central System assigns one transactionId, which StopTransaction uses."""
    import signal

    from evcharge.sil.supervisor import ServiceSpec

    stack = await start_ocpp16()
    csms16.behaviour.hold["StartTransaction"] = 1   # the Central System is slow to answer
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms16.wait_for("StartTransaction")
    supervisor.kill("ocpp", signal.SIGTERM)
    await supervisor.wait_stopping("ocpp")
    csms16.release()                                # the answer arrives while the service stops
    assert await supervisor.stop("ocpp") == 0

    await supervisor.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]))
    await stack.evse(1, "Stop", "s", "Remote")
    await stack.sim(1, "Unplug")
    (stop,) = await csms16.wait_for("StopTransaction", timeout=20)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=20)
    assert transaction_actions(csms16).count("StartTransaction") == 1
    assert len(csms16.assigned) == 1 and stop["transactionId"] == csms16.assigned[0]
