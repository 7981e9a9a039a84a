"""The CSMS's local authorization list (OCPP 2.0.1 D01-D03), kept by the auth service. Pure.

The auth service is the one place that answers "may this token charge?": the list the CSMS
sends (SendLocalList) lives here next to the installer's `allow_list` from auth.yaml, so evse's
`Validate` sees it at once, also while the CSMS is unreachable. A token the CSMS list names is
decided by it (the CSMS manages its cards); other tokens fall back to the configured list.

Rules: a Full update replaces the list (an empty one clears it); a Differential update with a
version not above the current one is a VersionMismatch (nothing changes); in a Differential
update an entry without idTokenInfo removes the token. Invalid entries, a token listed twice
or more than `max_entries` tokens after the update: Failed, nothing changes. Version 0 means "no
list" (GetLocalListVersion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .tokens import check_token

STATUSES = frozenset({"Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit", "NotAllowedTypeEVSE",
                      "NotAtThisLocation", "NotAtThisTime", "Unknown"})
MAX_ENTRIES = 1000


@dataclass(frozen=True)
class Entry:
    token: str          # normalized (check_token)
    token_type: str
    status: str
    expires_at: str | None = None  # RFC 3339 (cacheExpiryDateTime)


def _parse_time(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"time without UTC offset: {value!r}")
    return at.astimezone(UTC)


def parse_entry(data: Any) -> tuple[tuple[str, str], Entry | None]:
    """An OCPP AuthorizationData object -> (key, entry); entry None = remove. ValueError if invalid."""
    if not isinstance(data, dict) or not isinstance(data.get("idToken"), dict):
        raise ValueError("each entry needs an idToken object")
    tok = data["idToken"]
    token, kind = check_token(str(tok.get("idToken", "")), str(tok.get("type", "")))
    key = (kind.value, token)
    info = data.get("idTokenInfo")
    if info is None:
        return key, None
    if not isinstance(info, dict) or info.get("status") not in STATUSES:
        raise ValueError(f"idTokenInfo.status must be one of {', '.join(sorted(STATUSES))}")
    expiry = info.get("cacheExpiryDateTime")
    if expiry is not None:
        _parse_time(str(expiry))
    return key, Entry(token, kind.value, info["status"], expiry)


class LocalList:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.version = 0
        self.enabled = True
        self.entries: dict[tuple[str, str], Entry] = {}
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self.entries)

    def update(self, version: int, full: bool, items: list[Any]) -> tuple[str, str]:
        """(SendLocalListStatusEnumType, why) and the list changed only if Accepted."""
        if version < 0:
            return "Failed", "versionNumber must not be negative"
        if not full and version <= self.version:
            return "VersionMismatch", f"differential update {version} is not above the current version {self.version}"
        new: dict[tuple[str, str], Entry] = {} if full else dict(self.entries)
        seen: set[tuple[str, str]] = set()
        for raw in items:
            try:
                key, entry = parse_entry(raw)
            except ValueError as e:
                return "Failed", str(e)
            if key in seen:
                return "Failed", f"token {key[1]!r} ({key[0]}) is listed twice"
            seen.add(key)
            if entry is None:
                if full:
                    return "Failed", "a full update needs idTokenInfo for every entry"
                new.pop(key, None)
            else:
                new[key] = entry
        if len(new) > self.max_entries:
            return "Failed", f"the list would hold {len(new)} tokens, at most {self.max_entries} fit"
        self.entries = new
        self.version = version
        return "Accepted", ""

    def decide(self, token: str, token_type: str, now: datetime) -> tuple[str, str] | None:
        """(status, info) for a token the list names, None otherwise (or when disabled)."""
        if not self.enabled:
            return None
        entry = self.entries.get((token_type, token))
        if entry is None:
            return None
        if entry.status == "Accepted" and entry.expires_at and now >= _parse_time(entry.expires_at):
            return "Expired", f"CSMS local list: expired at {entry.expires_at}"
        return entry.status, "CSMS local list"

    # --- persistence ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "enabled": self.enabled,
                "entries": [[e.token, e.token_type, e.status, e.expires_at] for e in self.entries.values()]}

    def load_json(self, data: dict[str, Any] | None) -> None:
        if not data:
            return
        self.version = int(data.get("version", 0))
        self.enabled = bool(data.get("enabled", True))
        self.entries = {(t, tok): Entry(tok, t, s, x) for tok, t, s, x in data.get("entries", [])}
