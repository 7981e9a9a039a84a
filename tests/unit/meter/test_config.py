"""Meter configuration: defaults, the shipped file, and errors that name file and key."""

from pathlib import Path

import pytest
import yaml
from evcharge.common.config import ConfigError, load_config
from evcharge.meter.config import BackendKind, MeterConfig

SHIPPED = Path(__file__).resolve().parents[3] / "services" / "config" / "meter.yaml"


def load(tmp_path, data):
    p = tmp_path / "meter.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_config(MeterConfig, p)


def test_shipped_file_is_the_defaults():
    assert load_config(MeterConfig, SHIPPED, required=True) == MeterConfig()


def test_full_config(tmp_path):
    cfg = load(tmp_path, {"poll_interval_s": 0.5, "meters": [
        {"connector_id": 1, "backend": "modbus-tcp", "host": "10.0.0.5"},
        {"connector_id": 2, "backend": "modbus-rtu", "serial_port": "/dev/ttyUSB0", "parity": "E", "stopbits": 2},
        {"connector_id": 3},
        {"connector_id": 4, "backend": "modbus-rtu", "serial_port": "/dev/ttyUSB0", "parity": "E", "stopbits": 2,
         "unit_id": 2}]})
    tcp, rtu, sim, _second_on_the_line = cfg.meters
    assert (tcp.backend, tcp.port, tcp.unit_id) == (BackendKind.MODBUS_TCP, 502, 1)
    assert (rtu.baudrate, rtu.parity, rtu.stopbits) == (9600, "E", 2)
    assert sim.backend is BackendKind.SIM
    assert cfg.timeout_s == 0.5


@pytest.mark.parametrize("data, key, text", [
    ({"meters": [{"connector_id": 1, "backend": "modbus-tcp"}]}, "meters[0]", "modbus-tcp needs 'host'"),
    ({"meters": [{"connector_id": 1, "backend": "modbus-rtu"}]}, "meters[0]", "needs 'serial_port'"),
    ({"meters": [{"backend": "dlms"}]}, "meters[0].backend", "one of 'sim', 'sim-dc', 'modbus-tcp', 'modbus-rtu'"),
    ({"meters": [{"connector_id": 1, "backend": "sim-dc"}, {"connector_id": 2, "backend": "sim-dc"}]},
     "(top level)", "backend sim-dc on connectors 1 and 2"),
    ({"meters": [{"connector_id": 1, "parity": "X"}]}, "meters[0]", "parity must be one of N, E, O"),
    ({"meters": [{"connector_id": 1}, {"connector_id": 1}]}, "(top level)", "connector_id 1 appears more"),
    ({"meters": [{"connector_id": 1, "backend": "modbus-rtu", "serial_port": "/dev/ttyS1"},
                 {"connector_id": 2, "backend": "modbus-rtu", "serial_port": "/dev/ttyS1"}]},
     "(top level)", "two meters at /dev/ttyS1 unit_id 1"),
    ({"meters": [{"connector_id": 1, "backend": "modbus-rtu", "serial_port": "/dev/ttyS1"},
                 {"connector_id": 2, "backend": "modbus-rtu", "serial_port": "/dev/ttyS1", "unit_id": 2,
                  "baudrate": 19200}]},
     "(top level)", "must use the same baudrate"),
    ({"meters": [{"connector_id": 1, "hostname": "x"}]}, "meters[0].hostname", "unknown key"),
    ({"poll_interval_s": "fast"}, "poll_interval_s", "expected a number"),
    ({"timeout_s": 0}, "timeout_s", "between 0.05 and 30"),
    ({"meters": [{"connector_id": 1, "port": 70000}]}, "meters[0].port", "between 1 and 65535"),
])
def test_errors_name_the_key(tmp_path, data, key, text):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, data)
    assert e.value.key == key
    assert text in e.value.message
    assert e.value.file.endswith("meter.yaml")
