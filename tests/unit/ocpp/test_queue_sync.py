from evcharge.ocpp.queue import MessageQueue

FULL = 2


def test_remove_leaves_later_commits_durable(tmp_path):
    """remove() skips its own fsync; every other commit stays synchronous=FULL."""
    q = MessageQueue(tmp_path / "q.sqlite")
    a = q.enqueue("TransactionEvent", {"seqNo": 0}, transaction_id="t1")
    q.remove(a)
    assert q.db.execute("PRAGMA synchronous").fetchone()[0] == FULL
    b = q.enqueue("TransactionEvent", {"seqNo": 1}, transaction_id="t1")
    q.close()
    q = MessageQueue(tmp_path / "q.sqlite")
    assert [m.id for m in q.all()] == [b]
    q.close()
