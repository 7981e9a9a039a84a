"""Update1.InstallWithOptions' options (a{sv}, unwrapped) -> core Options: clear errors."""

import pytest
from evcharge.common.errors import InvalidArgument
from evcharge.update.service import parse_options


def test_options_are_parsed():
    o = parse_options({"retrieve_datetime": "2026-01-01T00:00:00Z", "install_datetime": "2026-01-01T01:00:00+01:00",
                       "retries": 3, "retry_interval_s": 30, "signature": "c2ln",
                       "signing_certificate": "-----BEGIN CERTIFICATE-----\n"})
    assert o.retrieve_at == 1767225600.0 and o.install_at == 1767225600.0
    assert (o.retries, o.retry_interval_s, o.signature) == (3, 30.0, "c2ln")
    assert parse_options({}).retrieve_at == 0.0


@pytest.mark.parametrize("raw, why", [
    ({"retreive_datetime": "2026-01-01T00:00:00Z"}, "unknown option"),
    ({"retries": "3"}, "D-Bus type i"),
    ({"retrieve_datetime": 5}, "D-Bus type s"),
    ({"retrieve_datetime": "tomorrow"}, "RFC 3339"),
    ({"install_datetime": "2026-01-01T00:00:00"}, "UTC offset"),
    ({"retries": -1}, "negative"),
    ({"signature": "c2ln"}, "go together"),
    ({"signature": "***", "signing_certificate": "-----BEGIN CERTIFICATE-----"}, "base64"),
    ({"signature": "c2ln", "signing_certificate": "x"}, "PEM"),
])
def test_bad_options_are_refused_with_a_reason(raw, why):
    with pytest.raises(InvalidArgument, match=why):
        parse_options(raw)
