"""Logging to the journal with structured fields, or to stderr outside systemd.

Fields such as EVCHARGE_CONNECTOR and EVCHARGE_SESSION let one session be followed across
services (`journalctl EVCHARGE_SESSION=...`). Pass them as `extra=fields(connector=1, ...)`.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import sys
from typing import Any

JOURNAL_SOCKET = "/run/systemd/journal/socket"
_FIELD = re.compile(r"[A-Z0-9][A-Z0-9_]*")   # a journal field name a client may set
_SYSLOG_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


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


def _journal_field(name: str, value: object) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
    if b"\n" in data:   # the native protocol's binary form: name, newline, 64-bit LE length, data
        return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"


class JournalHandler(logging.Handler):
    """Structured entries to journald over its native protocol (one datagram per record).

    The fields python-systemd's JournalHandler sends (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, LOGGER,
    THREAD_NAME, CODE_FILE/LINE/FUNC, EXCEPTION_TEXT and every `extra` whose name is a journal field,
    e.g. EVCHARGE_SESSION), without loading python-systemd: its modules and libsystemd cost each
    service ~0.4 MiB (benchmarks/memory.py, issue 7) for a datagram socket's work. A record the
    socket refuses (larger than a datagram, journald gone) goes to stderr, which systemd also
    connects to the journal (JOURNAL_STREAM), so it is not lost.
    """

    def __init__(self, identifier: str, path: str = JOURNAL_SOCKET) -> None:
        super().__init__()
        self.identifier = identifier
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.fallback = logging.StreamHandler(sys.stderr)
        self.fallback.setFormatter(_StderrFormatter(f"{identifier} %(levelname)s %(name)s: %(message)s"))

    @staticmethod
    def priority(levelno: int) -> int:
        return next((p for level, p in _SYSLOG_PRIORITY if levelno >= level), 7)

    def encode(self, record: logging.LogRecord) -> bytes:
        msg = self.format(record)   # with the traceback, as python-systemd sends it
        parts = [_journal_field("MESSAGE", msg), _journal_field("PRIORITY", self.priority(record.levelno)),
                 _journal_field("SYSLOG_IDENTIFIER", self.identifier), _journal_field("LOGGER", record.name),
                 _journal_field("THREAD_NAME", record.threadName), _journal_field("CODE_FILE", record.pathname),
                 _journal_field("CODE_LINE", record.lineno), _journal_field("CODE_FUNC", record.funcName)]
        if record.exc_text:
            parts.append(_journal_field("EXCEPTION_TEXT", record.exc_text))
        parts.extend(_journal_field(k, v) for k, v in record.__dict__.items() if _FIELD.fullmatch(k))
        return b"".join(parts)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = self.encode(record)
        except Exception:  # noqa: BLE001 - as logging.Handler: report, never raise into the caller
            self.handleError(record)
            return
        try:
            self.sock.sendto(data, self.path)
        except OSError:
            self.fallback.handle(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def setup_logging(service: str, level: str | None = None) -> None:
    level = (level or os.environ.get("EVCHARGE_LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    handler: logging.Handler | None = None
    # JOURNAL_STREAM is set by systemd when stderr goes to the journal: then native journal
    # messages keep our structured fields instead of flattening them into text.
    if os.environ.get("JOURNAL_STREAM") and os.path.exists(JOURNAL_SOCKET):
        handler = JournalHandler(f"evcharge-{service}")
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_StderrFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
