"""Auth configuration: defaults, the shipped file, errors naming file and key."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from evcharge.auth.config import AuthConfig, ReaderKind
from evcharge.auth.tokens import AuthStatus, TokenType
from evcharge.common.config import ConfigError, load_config

SHIPPED = Path(__file__).resolve().parents[3] / "services" / "config" / "auth.yaml"


def load(tmp_path, data):
    p = tmp_path / "auth.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_config(AuthConfig, p)


def test_shipped_file_is_the_defaults():
    assert load_config(AuthConfig, SHIPPED, required=True) == AuthConfig()


def test_full_config(tmp_path):
    cfg = load(tmp_path, {
        "allow_list": [{"token": "04a1b2c3"},
                       {"token": "EVC1", "token_type": "eMAID", "status": "Blocked"},
                       {"token": "K1", "token_type": "KeyCode", "expires_at": "2030-01-31T01:00:00+01:00"}],
        "readers": [{"name": "rfid0", "serial_port": "/dev/ttyUSB0"}, {"name": "sim", "type": "sim"}]})
    a, b, c = cfg.allow_list
    assert (a.token_type, a.status) == (TokenType.ISO14443, AuthStatus.ACCEPTED)
    assert b.status is AuthStatus.BLOCKED
    assert c.expiry() == datetime(2030, 1, 31, 0, 0, tzinfo=UTC)
    assert [r.type for r in cfg.readers] == [ReaderKind.PN532, ReaderKind.SIM]
    assert cfg.readers[0].baudrate == 115200
    assert len(cfg.build_allow_list()) == 3


@pytest.mark.parametrize("data, key, text", [
    ({"allow_list": [{"token": ""}]}, "allow_list[0]", "must not be empty"),
    ({"allow_list": [{"token": "X" * 37}]}, "allow_list[0]", "at most 36"),
    ({"allow_list": [{"token": "A", "token_type": "RFID"}]}, "allow_list[0].token_type", "one of 'Central'"),
    ({"allow_list": [{"token": "A", "status": "Unknown"}]}, "allow_list[0]", "remove the entry"),
    ({"allow_list": [{"token": "A", "expires_at": "tomorrow"}]}, "allow_list[0]", "RFC 3339"),
    ({"allow_list": [{"token": "A", "expires_at": "2030-01-01T00:00:00"}]}, "allow_list[0]", "UTC offset"),
    ({"allow_list": [{"token": "ab"}, {"token": "AB"}]}, "(top level)", "listed twice"),
    ({"readers": [{"name": "rfid0"}]}, "readers[0]", "needs 'serial_port'"),
    ({"readers": [{"name": "rfid 0", "type": "sim"}]}, "readers[0]", "reader name"),
    ({"readers": [{"name": "a", "type": "sim"}, {"name": "a", "type": "sim"}]}, "(top level)", "more than once"),
    ({"readers": [{"name": "a", "type": "sim"}, {"name": "b", "type": "sim"}]}, "(top level)", "at most one"),
    ({"readers": [{"name": "a", "type": "acr122"}]}, "readers[0].type", "one of 'pn532', 'sim'"),
    ({"free_vend": "yes"}, "free_vend", "a boolean"),
    ({"freevend": True}, "freevend", "unknown key"),
])
def test_errors_name_the_key(tmp_path, data, key, text):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, data)
    assert e.value.key == key
    assert text in e.value.message
