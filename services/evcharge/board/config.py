"""The board service's own configuration (/etc/evcharge/board.yaml)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BoardConfig:
    # A board name (looked up in /usr/share/evcharge/boards) or a path to a profile file.
    profile: str = "sim"
