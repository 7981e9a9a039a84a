"""OCPP identifiers: token types, authorization statuses, and what a valid token looks like. Pure."""

from __future__ import annotations

import enum
import string

MAX_TOKEN_LEN = 36  # OCPP IdToken is a CiString36 (1.6 IdToken is CiString20; a 2.0.1 one is longer)


class TokenType(enum.Enum):
    """OCPP 2.0.1 IdTokenEnumType."""

    CENTRAL = "Central"
    EMAID = "eMAID"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "KeyCode"
    LOCAL = "Local"
    MAC_ADDRESS = "MacAddress"
    NO_AUTHORIZATION = "NoAuthorization"


class AuthStatus(enum.Enum):
    """OCPP AuthorizationStatus values this service answers with."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    UNKNOWN = "Unknown"


# Card UIDs are hex, so "04a1b2c3" and "04A1B2C3" are the same card.
HEX_UID_TYPES = frozenset({TokenType.ISO14443, TokenType.ISO15693})
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")


def parse_type(token_type: str) -> TokenType:
    try:
        return TokenType(token_type)
    except ValueError:
        raise ValueError(f"token_type must be one of {', '.join(t.value for t in TokenType)}; "
                         f"got {token_type!r}") from None


def check_token(token: str, token_type: str) -> tuple[str, TokenType]:
    """(normalized token, type) or ValueError saying what is wrong."""
    kind = parse_type(token_type)
    if not token:
        raise ValueError("token must not be empty")
    if len(token) > MAX_TOKEN_LEN:
        raise ValueError(f"token must be at most {MAX_TOKEN_LEN} characters (OCPP IdToken), got {len(token)}")
    if not set(token) <= _PRINTABLE:
        raise ValueError("token must be printable ASCII (OCPP CiString)")
    return normalize(token, kind), kind


def normalize(token: str, kind: TokenType) -> str:
    return token.upper() if kind in HEX_UID_TYPES else token


def check_uid(uid: str) -> str:
    """An ISO 14443 UID as hex: 4, 7 or 10 bytes. Returns it upper-case."""
    if not uid or any(c not in string.hexdigits for c in uid) or len(uid) not in (8, 14, 20):
        raise ValueError(f"uid must be 8, 14 or 20 hex digits (a 4, 7 or 10 byte ISO 14443 UID); got {uid!r}")
    return uid.upper()
