"""Tokens and the local list: statuses, expiry, UID case, argument checks."""

from datetime import UTC, datetime, timedelta

import pytest
from evcharge.auth.allowlist import AllowList, ListEntry
from evcharge.auth.tokens import AuthStatus, TokenType, check_token, check_uid

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def allow():
    return AllowList([
        ListEntry("04a1b2c3", TokenType.ISO14443, AuthStatus.ACCEPTED),
        ListEntry("DEADBEEF", TokenType.ISO14443, AuthStatus.BLOCKED, NOW - timedelta(days=1)),
        ListEntry("EVC-0001", TokenType.EMAID, AuthStatus.ACCEPTED, NOW + timedelta(seconds=1)),
        ListEntry("E004015012345678", TokenType.ISO15693, AuthStatus.ACCEPTED),
        ListEntry("1234", TokenType.KEY_CODE, AuthStatus.INVALID),
        ListEntry("abc", TokenType.LOCAL, AuthStatus.ACCEPTED, NOW),
    ])


def test_listed_uid_is_accepted_whatever_its_case(allow):
    assert allow.decide("04A1B2C3", TokenType.ISO14443, NOW).status is AuthStatus.ACCEPTED
    assert allow.decide("04a1B2c3", TokenType.ISO14443, NOW).status is AuthStatus.ACCEPTED
    assert allow.decide("e004015012345678", TokenType.ISO15693, NOW).status is AuthStatus.ACCEPTED


def test_type_is_part_of_the_identity(allow):
    assert allow.decide("04A1B2C3", TokenType.ISO15693, NOW).status is AuthStatus.UNKNOWN
    d = allow.decide("99999999", TokenType.ISO14443, NOW)
    assert d.status is AuthStatus.UNKNOWN and d.info == "not in the local list"


def test_non_uid_tokens_are_case_sensitive(allow):
    assert allow.decide("EVC-0001", TokenType.EMAID, NOW).status is AuthStatus.ACCEPTED
    assert allow.decide("evc-0001", TokenType.EMAID, NOW).status is AuthStatus.UNKNOWN
    assert allow.decide("ABC", TokenType.LOCAL, NOW - timedelta(days=1)).status is AuthStatus.UNKNOWN


def test_expiry_is_inclusive_of_its_instant(allow):
    assert allow.decide("EVC-0001", TokenType.EMAID, NOW + timedelta(seconds=1)).status is AuthStatus.EXPIRED
    d = allow.decide("abc", TokenType.LOCAL, NOW)
    assert d.status is AuthStatus.EXPIRED and "2026-06-01T12:00:00+00:00" in d.info
    assert allow.decide("abc", TokenType.LOCAL, NOW - timedelta(microseconds=1)).status is AuthStatus.ACCEPTED


def test_blocked_and_invalid_stay_so(allow):
    assert allow.decide("deadbeef", TokenType.ISO14443, NOW).status is AuthStatus.BLOCKED
    assert allow.decide("1234", TokenType.KEY_CODE, NOW).status is AuthStatus.INVALID
    assert len(allow) == 6


def test_duplicates_differing_only_in_uid_case_are_refused():
    with pytest.raises(ValueError, match="listed twice"):
        AllowList([ListEntry("04a1b2c3", TokenType.ISO14443, AuthStatus.ACCEPTED),
                   ListEntry("04A1B2C3", TokenType.ISO14443, AuthStatus.BLOCKED)])


@pytest.mark.parametrize("token, token_type, text", [
    ("", "ISO14443", "must not be empty"),
    ("A" * 37, "ISO14443", "at most 36"),
    ("04A1B2C3", "Iso14443", "token_type must be one of"),
    ("04A1B2C3", "", "token_type must be one of"),
    ("bad\ntoken", "Local", "printable"),
])
def test_bad_arguments(token, token_type, text):
    with pytest.raises(ValueError, match=text):
        check_token(token, token_type)


def test_good_arguments_are_normalized():
    assert check_token("A" * 36, "Central") == ("A" * 36, TokenType.CENTRAL)
    assert check_token("04a1b2c3", "ISO14443") == ("04A1B2C3", TokenType.ISO14443)
    assert check_token("aa:bb", "MacAddress") == ("aa:bb", TokenType.MAC_ADDRESS)


def test_uid_check():
    assert check_uid("04a1b2c3") == "04A1B2C3"
    assert check_uid("04A1B2C3D4E5F6") == "04A1B2C3D4E5F6"
    for bad in ("", "04A1B2", "04A1B2C3Z0", "not-hex!", "0" * 22):
        with pytest.raises(ValueError):
            check_uid(bad)
