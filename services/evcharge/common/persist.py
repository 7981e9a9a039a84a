"""Crash-safe small state files: write a temp file, fsync it, rename over, fsync the directory.

After a power cut the file holds either the old or the new content, never a torn mix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"), sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    _replace_durably(tmp, path)


def _replace_durably(tmp: Path, path: Path) -> None:
    """Rename the fsynced `tmp` over `path` and fsync the directory, so the rename itself
    survives a power cut."""
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default
    except (json.JSONDecodeError, UnicodeDecodeError):
        # Cannot happen with write_json_atomic; keep the evidence and start clean.
        os.replace(path, path.with_name(path.name + ".corrupt"))
        return default


def append_line_durable(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a secret (key, password) atomically with `mode` from the first byte on: the temporary
    file is created with it, so the secret is never readable by others, even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # O_CREAT's mode is masked by the umask; a reused temp file kept its old one
    _replace_durably(tmp, path)
