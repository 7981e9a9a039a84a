"""The local authorization list: which tokens are Accepted, Blocked, Expired or Invalid. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .tokens import AuthStatus, TokenType, normalize


@dataclass(frozen=True)
class ListEntry:
    token: str
    token_type: TokenType
    status: AuthStatus
    expires_at: datetime | None = None  # aware, UTC


@dataclass(frozen=True)
class Decision:
    status: AuthStatus
    info: str


class AllowList:
    def __init__(self, entries: Iterable[ListEntry]) -> None:
        self._entries: dict[tuple[TokenType, str], ListEntry] = {}
        for e in entries:
            key = (e.token_type, normalize(e.token, e.token_type))
            if key in self._entries:
                raise ValueError(f"token {e.token!r} ({e.token_type.value}) is listed twice")
            self._entries[key] = e

    def __len__(self) -> int:
        return len(self._entries)

    def decide(self, token: str, token_type: TokenType, now: datetime) -> Decision:
        """The status of a token already checked by `tokens.check_token`."""
        entry = self._entries.get((token_type, normalize(token, token_type)))
        if entry is None:
            return Decision(AuthStatus.UNKNOWN, "not in the local list")
        # A blocked card stays blocked after its expiry date: only an accepted one expires.
        if entry.status is not AuthStatus.ACCEPTED:
            return Decision(entry.status, "local list")
        if entry.expires_at is not None and now >= entry.expires_at:
            return Decision(AuthStatus.EXPIRED, f"local list: expired at {entry.expires_at.isoformat()}")
        return Decision(AuthStatus.ACCEPTED, "local list")
