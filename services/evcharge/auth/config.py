"""Configuration of the auth service (`/etc/evcharge/auth.yaml`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

from evcharge.common.config import bounded

from .allowlist import AllowList, ListEntry
from .tokens import AuthStatus, TokenType, check_token


class ReaderKind(enum.Enum):
    PN532 = "pn532"
    SIM = "sim"


@dataclass
class AllowListEntry:
    token: str = ""
    token_type: TokenType = TokenType.ISO14443
    status: AuthStatus = AuthStatus.ACCEPTED
    expires_at: str | None = None  # RFC 3339; an accepted token after it answers Expired

    def validate(self) -> None:
        check_token(self.token, self.token_type.value)
        if self.status is AuthStatus.UNKNOWN:
            raise ValueError("status Unknown means 'not in the list': remove the entry instead")
        self.expiry()

    def expiry(self) -> datetime | None:
        if self.expires_at is None:
            return None
        try:
            at = datetime.fromisoformat(self.expires_at.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"expires_at must be an RFC 3339 time such as 2030-01-31T00:00:00Z, "
                             f"got {self.expires_at!r}") from None
        if at.tzinfo is None:
            raise ValueError(f"expires_at must include a UTC offset or Z, got {self.expires_at!r}")
        return at.astimezone(UTC)


@dataclass
class ReaderEntry:
    name: str = ""
    type: ReaderKind = ReaderKind.PN532
    serial_port: str = ""
    baudrate: int = bounded(115200, 9600, 1288000)  # PN532 HSU rates

    def validate(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"reader name must be letters, digits, '-' or '_', got {self.name!r}")
        if self.type is ReaderKind.PN532 and not self.serial_port:
            raise ValueError(f"reader {self.name}: type pn532 needs 'serial_port'")


@dataclass
class AuthConfig:
    free_vend: bool = False
    allow_list: list[AllowListEntry] = field(default_factory=list)
    readers: list[ReaderEntry] = field(default_factory=list)

    def validate(self) -> None:
        self.build_allow_list()
        names = [r.name for r in self.readers]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"readers: name {n!r} appears more than once")
        if sum(r.type is ReaderKind.SIM for r in self.readers) > 1:
            raise ValueError("readers: at most one reader of type sim (it owns the Tap method)")

    def build_allow_list(self) -> AllowList:
        return AllowList(ListEntry(e.token, e.token_type, e.status, e.expiry()) for e in self.allow_list)
