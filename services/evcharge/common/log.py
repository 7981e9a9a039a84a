"""Logging to the journal with structured fields, or to stderr outside systemd.

Fields such as EVCHARGE_CONNECTOR and EVCHARGE_SESSION let one session be followed across
services (`journalctl EVCHARGE_SESSION=...`). Pass them as `extra=fields(connector=1, ...)`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


def fields(*, connector: int | None = None, session: str | None = None,
           transaction: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if connector is not None:
        out["EVCHARGE_CONNECTOR"] = connector
    if session:
        out["EVCHARGE_SESSION"] = session
    if transaction:
        out["EVCHARGE_TRANSACTION"] = transaction
    return out


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k.removeprefix('EVCHARGE_').lower()}={v}" for k, v in record.__dict__.items()
                  if k.startswith("EVCHARGE_")]
        return f"{line} [{' '.join(extras)}]" if extras else line


def setup_logging(service: str, level: str | None = None) -> None:
    level = (level or os.environ.get("EVCHARGE_LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    handler: logging.Handler | None = None
    # JOURNAL_STREAM is set by systemd when stderr goes to the journal: then native journal
    # messages keep our structured fields instead of flattening them into text.
    if os.environ.get("JOURNAL_STREAM"):
        try:
            from systemd.journal import JournalHandler  # type: ignore[import-not-found]

            handler = JournalHandler(SYSLOG_IDENTIFIER=f"evcharge-{service}")
        except ImportError:
            handler = None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_StderrFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
