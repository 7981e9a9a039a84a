"""The board service's own configuration (/etc/evcharge/board.yaml)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BoardConfig:
    # A board name (looked up in /usr/share/evcharge/boards) or a path to a profile file.
    # "default" is the link the image's board-support package points at its machine's board.
    profile: str = "default"
