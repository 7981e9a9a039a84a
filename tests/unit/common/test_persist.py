"""Crash-safe state files: content, permissions of secrets, and what a torn file leaves."""

from __future__ import annotations

import os
import stat

from evcharge.common.persist import read_json, write_json_atomic, write_private


def test_json_round_trip_replaces_the_whole_file(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomic(path, {"b": [1, 2], "a": "x" * 10000})
    write_json_atomic(path, {"a": 1})
    assert read_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left


def test_a_corrupt_file_is_kept_aside_and_the_default_returned(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"a": ')
    assert read_json(path, {"fresh": True}) == {"fresh": True}
    assert (tmp_path / "state.json.corrupt").read_text() == '{"a": '
    assert read_json(tmp_path / "missing.json", 5) == 5


def test_a_secret_is_private_from_the_first_byte(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "keys" / "station.key"
        # a temp file left by a crash, readable by others: its mode must not carry over
        path.parent.mkdir(mode=0o755)
        stale = path.with_name(f".{path.name}.tmp")
        stale.write_bytes(b"old")
        stale.chmod(0o644)
        data = os.urandom(200_000)
        write_private(path, data)
    finally:
        os.umask(old)
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not stale.exists()


def test_a_secret_in_a_new_directory_gets_a_private_directory(tmp_path):
    path = tmp_path / "new" / "password"
    write_private(path, b"s3cret", mode=0o640)
    assert path.read_bytes() == b"s3cret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
