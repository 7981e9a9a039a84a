"""One tap, one token: a card resting on the reader is seen at every poll. Pure: time is passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TapDebouncer:
    absent_s: float = 1.0            # the same card counts again only after this long unseen
    _last_uid: str | None = None
    _last_seen_s: float = 0.0

    def seen(self, uid: str, now_s: float) -> bool:
        """The reader sees `uid` now: True if this is a new tap."""
        new = uid != self._last_uid or now_s - self._last_seen_s >= self.absent_s
        self._last_uid = uid
        self._last_seen_s = now_s
        return new
