"""One delivery attempt of the queue's head: what each outcome does to the stored queue."""

from __future__ import annotations

import pytest
import websockets
from evcharge.ocpp import delivery
from evcharge.ocpp.queue import MessageQueue, RetryPolicy
from ocpp.exceptions import InternalError

POLICY = RetryPolicy(attempts=3, interval_s=10.0)


@pytest.fixture
def queue(tmp_path):
    q = MessageQueue(tmp_path / "queue.db")
    q.enqueue("TransactionEvent", {"seqNo": 0})
    q.enqueue("TransactionEvent", {"seqNo": 1})
    yield q
    q.close()


def answer(value=None, error: BaseException | None = None):
    async def send():
        if error is not None:
            raise error
        return value
    return send


def seq_nos(q: MessageQueue) -> list[int]:
    return [m.payload["seqNo"] for m in q.all()]


async def test_an_answered_message_stays_queued_for_the_caller(queue):
    head = queue.head()
    out = await delivery.attempt(queue, head, answer("conf"), POLICY, lambda: True)
    assert out == delivery.Delivered("conf")
    assert seq_nos(queue) == [0, 1] and queue.head().attempts == 0


async def test_an_unbuildable_payload_is_dropped(queue):
    out = await delivery.attempt(queue, queue.head(), answer(error=TypeError("bad field")), POLICY, lambda: True)
    assert out == delivery.NotDelivered()
    assert seq_nos(queue) == [1]


@pytest.mark.parametrize("error, connected", [
    (websockets.ConnectionClosed(None, None), True),
    (TimeoutError(), False),               # the connection went away while the call waited
    (InternalError("x"), False),
])
async def test_a_lost_connection_is_not_an_attempt(queue, error, connected):
    out = await delivery.attempt(queue, queue.head(), answer(error=error), POLICY, lambda: connected)
    assert out == delivery.NotDelivered(connection_closed=True)
    assert seq_nos(queue) == [0, 1] and queue.head().attempts == 0


async def test_failures_on_a_live_connection_count_then_give_up(queue):
    waits = []
    for error in (TimeoutError(), InternalError("rejected"), TimeoutError()):
        out = await delivery.attempt(queue, queue.head(), answer(error=error), POLICY, lambda: True)
        waits.append(out)
    # E13: interval x attempts so far, then the message is given up and the next one is the head
    assert waits == [delivery.NotDelivered(retry_in_s=10.0), delivery.NotDelivered(retry_in_s=20.0),
                     delivery.NotDelivered()]
    assert seq_nos(queue) == [1]


async def test_attempts_survive_a_reopen(tmp_path):
    q = MessageQueue(tmp_path / "queue.db")
    q.enqueue("TransactionEvent", {"seqNo": 0})
    await delivery.attempt(q, q.head(), answer(error=TimeoutError()), POLICY, lambda: True)
    q.close()
    q = MessageQueue(tmp_path / "queue.db")
    out = await delivery.attempt(q, q.head(), answer(error=TimeoutError()), POLICY, lambda: True)
    assert out == delivery.NotDelivered(retry_in_s=20.0)
    q.close()
