"""Authorization cache and offline authorization rules (pure).

The cache keeps the CSMS's last answer per token (C10): `Accepted` answers let a token start
charging while the CSMS is unreachable if AuthCtrlr.LocalAuthorizeOffline is true; a token no
one knows is accepted offline only with AuthCtrlr.OfflineTxForUnknownIdEnabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_ENTRIES = 1000


@dataclass
class AuthCache:
    # casefolded token -> {status, expires[, group]}
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def put(self, token: str, status: str, now_epoch: float, lifetime_s: float,
            cache_expiry_epoch: float | None = None, group: str | None = None) -> None:
        """`group`: the groupIdToken the CSMS gave the token, kept so that a token accepted from the
        cache is still known as a Master Pass (C16) or a card of a group (C09)."""
        expires = now_epoch + lifetime_s if lifetime_s > 0 else None
        if cache_expiry_epoch is not None:
            expires = cache_expiry_epoch if expires is None else min(expires, cache_expiry_epoch)
        self.entries.pop(token.casefold(), None)
        self.entries[token.casefold()] = {"status": status, "expires": expires} | ({"group": group} if group else {})
        while len(self.entries) > MAX_ENTRIES:  # oldest insertion first
            self.entries.pop(next(iter(self.entries)))

    def lookup(self, token: str, now_epoch: float) -> str | None:
        e = self.entries.get(token.casefold())
        if e is None:
            return None
        if e["expires"] is not None and now_epoch >= e["expires"]:
            return "Expired"
        return e["status"]

    def group(self, token: str) -> str | None:
        e = self.entries.get(token.casefold())
        return e.get("group") if e else None

    def clear(self) -> None:
        self.entries.clear()

    def remove(self, token: str) -> bool:
        """Forget one token (ClearCustomerInformation); True if it was cached."""
        return self.entries.pop(token.casefold(), None) is not None

    def to_json(self) -> dict[str, Any]:
        return dict(self.entries)

    def load_json(self, data: dict[str, Any] | None) -> None:
        self.entries = dict(data or {})


def offline_decision(cached: str | None, *, local_authorize_offline: bool, unknown_id_enabled: bool) -> bool:
    """May a token the local list does not accept start charging while the CSMS is unreachable?"""
    if cached == "Accepted":
        return local_authorize_offline
    if cached is None:
        return unknown_id_enabled
    return False



def online_cache_decision(cached: str | None, *, local_pre_authorize: bool,
                          disable_post_authorize: bool) -> bool | None:
    """Online: True = accept from the cache without an AuthorizeRequest (C12.FR.02, needs
    AuthCtrlr.LocalPreAuthorize); False = refuse without one (C12.FR.06, a cached status that is not
    Accepted with AuthCacheCtrlr.DisablePostAuthorize); None = ask the CSMS (C12.FR.05, C10.FR.11)."""
    if not local_pre_authorize or cached is None:
        return None
    if cached == "Accepted":
        return True
    return False if disable_post_authorize else None
