"""The journal handler (evcharge.common.log.JournalHandler): journald's native protocol."""

import logging
import socket
import struct

from evcharge.common.log import JournalHandler, fields


def parse(data: bytes) -> dict[str, list[str]]:
    """journald's reading of a native-protocol datagram (systemd's journal-native protocol)."""
    out: dict[str, list[str]] = {}
    while data:
        nl = data.index(b"\n")
        line = data[:nl]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            data = data[nl + 1:]
        else:
            name = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + size]
            assert data[nl + 9 + size:nl + 10 + size] == b"\n"
            data = data[nl + 10 + size:]
        out.setdefault(name.decode(), []).append(value.decode())
    return out


def record(msg: str, level: int = logging.INFO, exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.getLogger("evcharge.test").makeRecord("evcharge.test", level, "/x/y.py", 42, msg, (), exc_info,
                                                        func="handler", extra=extra)
    return rec


def test_fields_of_a_record_with_structured_extras():
    h = JournalHandler("evcharge-evse", path="/nonexistent")
    got = parse(h.encode(record("session started", logging.WARNING, **fields(connector=1, session="abc"))))
    assert got["MESSAGE"] == ["session started"]
    assert got["PRIORITY"] == ["4"]
    assert got["SYSLOG_IDENTIFIER"] == ["evcharge-evse"]
    assert got["LOGGER"] == ["evcharge.test"]
    assert got["CODE_FILE"] == ["/x/y.py"] and got["CODE_LINE"] == ["42"] and got["CODE_FUNC"] == ["handler"]
    assert got["EVCHARGE_CONNECTOR"] == ["1"] and got["EVCHARGE_SESSION"] == ["abc"]
    assert "msg" not in got and "levelname" not in got   # only journal field names


def test_multiline_message_and_traceback_use_the_binary_form():
    h = JournalHandler("evcharge-ocpp", path="/nonexistent")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        import sys
        rec = record("two\nlines", logging.ERROR, exc_info=sys.exc_info())
    got = parse(h.encode(rec))
    assert got["MESSAGE"][0].startswith("two\nlines\nTraceback")
    assert "ValueError: bad\nvalue" in got["EXCEPTION_TEXT"][0]
    assert got["PRIORITY"] == ["3"]


def test_priorities():
    assert [JournalHandler.priority(lv) for lv in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
                                                   logging.CRITICAL, 25)] == [7, 6, 4, 3, 2, 6]


def test_sent_as_one_datagram_and_stderr_when_the_journal_is_gone(tmp_path, capsys):
    path = str(tmp_path / "journal.sock")
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(path)
    h = JournalHandler("evcharge-board", path=path)
    try:
        h.handle(record("hello"))
        assert parse(journal.recv(65536))["MESSAGE"] == ["hello"]
        journal.close()
        h.handle(record("nobody listens"))
        assert "evcharge-board INFO evcharge.test: nobody listens" in capsys.readouterr().err
    finally:
        h.close()
