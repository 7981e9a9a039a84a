"""The offline message queue: transaction messages, security events and reservation status
updates, durable before sent.

SQLite in WAL mode with `synchronous=FULL`: a commit is on disk (fsync of the WAL) when
`enqueue` returns, so a message the station decided to send survives kill -9 and a power cut.
Messages leave in insertion order; one is deleted only after the CSMS answered it (or after its
delivery attempts are used up, as OCPP 2.0.1 E13 / MessageAttemptsTransactionEvent allow).

The transaction builder's state (transaction ids, next seqNo) is stored in the same database
and the same commit as the message it produced, so seqNo stays continuous across a restart:
either both the message and the advanced counter are on disk, or neither.

Delivery policy (attempts, interval) is the pure `RetryPolicy`; this module only stores.
The senders (2.0.1 and 1.6) deliver one message at a time, from one task, and on a clean stop
let the answer to the message in flight come in first (`drain_in_flight`): a duplicate can then
only follow a crash, kill -9 or power cut between the CSMS's receipt and the delete.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("evcharge.ocpp")

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    transaction_id TEXT
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Queued:
    id: int
    action: str
    payload: dict[str, Any]
    attempts: int
    transaction_id: str | None


class MessageQueue:
    synchronous = "FULL"  # fsync on every commit; benchmarks lower it to NORMAL to take the disk out

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={self.synchronous}")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def enqueue(self, action: str, payload: dict[str, Any], *, transaction_id: str | None = None,
                state: dict[str, Any] | None = None, state_key: str = "tx",
                more_state: dict[str, Any] | None = None) -> int:
        """Store a message (and, atomically with it, the producer's state and any `more_state`
        key -> value); durable on return."""
        with self._tx():
            cur = self.db.execute("INSERT INTO queue (action, payload, transaction_id) VALUES (?, ?, ?)",
                                  (action, json.dumps(payload, separators=(",", ":")), transaction_id))
            if state is not None:
                self._put(state_key, state)
            for key, value in (more_state or {}).items():
                self._put(key, value)
            return int(cur.lastrowid)

    def enqueue_many(self, messages: list[tuple[str, dict[str, Any]]], *, state: dict[str, Any] | None = None,
                     state_key: str = "tx") -> None:
        """Store several messages (action, payload), in order, and the producer's state, in one
        transaction: all or none of them survive a crash."""
        with self._tx():
            for action, payload in messages:
                self.db.execute("INSERT INTO queue (action, payload, transaction_id) VALUES (?, ?, NULL)",
                                (action, json.dumps(payload, separators=(",", ":"))))
            if state is not None:
                self._put(state_key, state)

    def head(self) -> Queued | None:
        row = self.db.execute("SELECT id, action, payload, attempts, transaction_id FROM queue "
                              "ORDER BY id LIMIT 1").fetchone()
        return Queued(row[0], row[1], json.loads(row[2]), row[3], row[4]) if row else None

    def all(self) -> list[Queued]:
        rows = self.db.execute("SELECT id, action, payload, attempts, transaction_id FROM queue ORDER BY id")
        return [Queued(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def remove(self, msg_id: int) -> None:
        """Drop a delivered message. The delete is fsynced like every other commit: a power cut
        right after a delivery must not bring the message back (the issue asks for every
        TransactionEvent once, and a CSMS need not de-duplicate). The fleet benchmark measures
        without fsync (`--fsync off`), so this costs the charger, not the figures."""
        with self._tx():
            self.db.execute("DELETE FROM queue WHERE id = ?", (msg_id,))

    def count_attempt(self, msg_id: int) -> int:
        with self._tx():
            self.db.execute("UPDATE queue SET attempts = attempts + 1 WHERE id = ?", (msg_id,))
        row = self.db.execute("SELECT attempts FROM queue WHERE id = ?", (msg_id,)).fetchone()
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

    def count_action(self, action: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM queue WHERE action = ?", (action,)).fetchone()[0])

    def has_transaction(self, transaction_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM queue WHERE transaction_id = ? LIMIT 1",
                               (transaction_id,)).fetchone() is not None

    # --- small durable state ---------------------------------------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put_state(self, key: str, value: Any) -> None:
        with self._tx():
            self._put(key, value)

    def _put(self, key: str, value: Any) -> None:
        self.db.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                        "excluded.value", (key, json.dumps(value, separators=(",", ":"))))

    def _tx(self):
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


@dataclass(frozen=True)
class RetryPolicy:
    """What to do with a queued message whose delivery failed (pure).

    `attempts` counts deliveries the CSMS did not accept (no answer within MessageTimeout, or a
    CALLERROR). A lost connection is not an attempt: the message waits for the next one.
    """

    attempts: int = 3
    interval_s: float = 10.0

    def after_failure(self, attempts_so_far: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give the message up."""
        if attempts_so_far >= self.attempts:
            return None
        return self.interval_s * attempts_so_far  # OCPP E13: interval x number of attempts so far


async def drain_in_flight(idle: asyncio.Event, timeout_s: float) -> bool:
    """On a clean stop: wait (bounded) until the sender is idle, i.e. the message it sent is
    answered and deleted, or its failure counted. False if it was still unanswered at the end:
    it stays queued and is sent again after the restart (at-least-once)."""
    if idle.is_set():
        return True
    log.info("stopping: waiting up to %.1f s for the answer to the message in flight", timeout_s)
    try:
        await asyncio.wait_for(idle.wait(), timeout_s)
    except TimeoutError:
        log.warning("stopping: the message in flight was not answered; it is sent again after the restart")
        return False
    return True
