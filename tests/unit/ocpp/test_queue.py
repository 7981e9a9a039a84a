import asyncio
import sqlite3

from evcharge.ocpp.queue import MessageQueue, RetryPolicy, drain_in_flight


def test_fifo_and_durable_reopen(tmp_path):
    q = MessageQueue(tmp_path / "q.sqlite")
    a = q.enqueue("TransactionEvent", {"seqNo": 0}, transaction_id="t1", state={"n": 1})
    q.enqueue("TransactionEvent", {"seqNo": 1}, transaction_id="t1", state={"n": 2})
    assert q.head().id == a and len(q) == 2
    q.close()  # as after kill -9: a new connection sees what was committed
    q = MessageQueue(tmp_path / "q.sqlite")
    assert [m.payload["seqNo"] for m in q.all()] == [0, 1]
    assert q.get_state("tx") == {"n": 2}
    assert q.has_transaction("t1") and not q.has_transaction("t2")
    q.remove(a)
    assert q.head().payload == {"seqNo": 1}
    assert q.count_attempt(q.head().id) == 1


def test_wal_and_full_sync(tmp_path):
    q = MessageQueue(tmp_path / "q.sqlite")
    assert q.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert q.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_message_and_state_commit_together(tmp_path):
    q = MessageQueue(tmp_path / "q.sqlite")
    q.enqueue("TransactionEvent", {"seqNo": 0}, state={"seq": 1})
    try:
        q.enqueue("TransactionEvent", {"x": object()}, state={"seq": 2})  # not JSON: fails before the commit
    except TypeError:
        pass
    assert len(q) == 1 and q.get_state("tx") == {"seq": 1}
    other = sqlite3.connect(tmp_path / "q.sqlite")
    assert other.execute("SELECT COUNT(*) FROM queue").fetchone()[0] == 1


def test_several_messages_and_state_commit_together(tmp_path):
    q = MessageQueue(tmp_path / "q.sqlite")
    q.enqueue_many([("FirmwareStatusNotification", {"status": "Installed"}),
                    ("SecurityEventNotification", {"type": "FirmwareUpdated"})], state={"n": 1}, state_key="fw")
    try:   # the second one is not JSON: neither is stored, nor the state
        q.enqueue_many([("A", {"ok": 1}), ("B", {"x": object()})], state={"n": 2}, state_key="fw")
    except TypeError:
        pass
    assert [m.action for m in q.all()] == ["FirmwareStatusNotification", "SecurityEventNotification"]
    assert q.get_state("fw") == {"n": 1}


def test_retry_policy():
    p = RetryPolicy(attempts=3, interval_s=10)
    assert p.after_failure(1) == 10
    assert p.after_failure(2) == 20
    assert p.after_failure(3) is None


async def test_drain_in_flight_waits_for_the_answer_then_gives_up():
    idle = asyncio.Event()
    idle.set()
    assert await drain_in_flight(idle, 0.01)            # nothing in flight: returns at once
    idle.clear()                                         # a message waits for its answer
    waiter = asyncio.create_task(drain_in_flight(idle, 60))
    await asyncio.sleep(0)
    assert not waiter.done()
    idle.set()                                           # answered and deleted
    assert await waiter
    idle.clear()
    assert not await drain_in_flight(idle, 0.01)        # never answered: stays queued
