"""A malformed board profile or configuration stops a service at start with file, key and reason."""

import subprocess
import sys

import pytest


def run_service(service, *args, bus_address):
    return subprocess.run([sys.executable, "-m", f"evcharge.{service}", *args], capture_output=True, text=True,
                          timeout=30, env={"EVCHARGE_BUS_ADDRESS": bus_address, "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("service,flag,text,expected", [
    ("board", "--profile", "name: bad\nconnectors: [{id: 1, max_current_a: lots}]\n",
     "connectors[0].max_current_a: expected a number, got a string ('lots')"),
    ("board", "--profile", "name: bad\nbackend: mcu\n", "the mcu backend needs an 'mcu:' section"),
    ("board", "--profile", "name: [unclosed\n", "not valid YAML"),
    ("evse", "--config", "heartbeat_interval_s: 0\n", "heartbeat_interval_s: expected a number between 0.05 and 10"),
    ("evse", "--config", "connectors: [{id: 1}, {id: 1}]\n", "ids must be unique"),
    ("energy", "--config", "site_limit_a: -5\n", "site_limit_a: expected a number between 0 and 2000"),
    ("energy", "--config", "sitelimit: 5\n", "sitelimit: unknown key"),
])
def test_malformed_input_is_refused_with_location(private_bus, tmp_path, service, flag, text, expected):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run_service(service, flag, str(bad), "--state-dir", str(tmp_path / "state"),
                         bus_address=private_bus.address)
    assert result.returncode == 78  # EX_CONFIG: systemd will not restart-loop it (RestartPreventExitStatus)
    assert str(bad) in result.stderr and expected in result.stderr


def test_missing_profile_is_named(private_bus, tmp_path):
    result = run_service("board", "--profile", str(tmp_path / "nope.yaml"), "--state-dir", str(tmp_path),
                         bus_address=private_bus.address)
    assert result.returncode == 78 and "nope.yaml" in result.stderr and "file not found" in result.stderr


def test_explicit_config_must_exist(private_bus, tmp_path):
    result = run_service("energy", "--config", str(tmp_path / "absent.yaml"), "--state-dir", str(tmp_path),
                         bus_address=private_bus.address)
    assert result.returncode == 78 and "absent.yaml" in result.stderr and "file not found" in result.stderr


def test_unreadable_config_is_a_config_error(private_bus, tmp_path):
    # A directory where the file should be: reading fails with an OSError other than "not found".
    (tmp_path / "evse.yaml").mkdir()
    result = run_service("evse", "--config", str(tmp_path / "evse.yaml"), "--state-dir", str(tmp_path / "s"),
                         bus_address=private_bus.address)
    assert result.returncode == 78 and "cannot read" in result.stderr
