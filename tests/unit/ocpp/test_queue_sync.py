from evcharge.ocpp.queue import MessageQueue

FULL = 2


def test_every_commit_is_synchronous_full_and_survives_reopen(tmp_path):
    """Enqueue and remove both commit with synchronous=FULL; a removed message stays removed."""
    q = MessageQueue(tmp_path / "q.sqlite")
    a = q.enqueue("TransactionEvent", {"seqNo": 0}, transaction_id="t1")
    q.remove(a)
    assert q.db.execute("PRAGMA synchronous").fetchone()[0] == FULL
    b = q.enqueue("TransactionEvent", {"seqNo": 1}, transaction_id="t1")
    q.close()
    q = MessageQueue(tmp_path / "q.sqlite")
    assert [m.id for m in q.all()] == [b]
    q.close()
