import enum
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from evcharge.board.profile import load_profile
from evcharge.common.config import ConfigError, bounded, load_config

REPO = Path(__file__).resolve().parents[3]


class Mode(enum.Enum):
    A = "a"
    B = "b"


@dataclass
class Inner:
    port: int = 1


@dataclass
class Cfg:
    rate: float = bounded(1.0, 0.0, 10.0)
    name: str = "x"
    on: bool = False
    mode: Mode = Mode.A
    items: list[Inner] = field(default_factory=list)


def write(tmp_path, text, name="svc.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_missing_optional_file_gives_defaults(tmp_path):
    assert load_config(Cfg, tmp_path / "absent.yaml") == Cfg()


def test_values_are_read(tmp_path):
    cfg = load_config(Cfg, write(tmp_path, "rate: 2\nmode: b\nitems: [{port: 7}]\n"))
    assert cfg.rate == 2.0 and cfg.mode is Mode.B and cfg.items == [Inner(7)]


@pytest.mark.parametrize("text,key,expected", [
    ("rate: fast\n", "rate", "expected a number"),
    ("rate: 11\n", "rate", "between 0 and 10"),
    ("on: 1\n", "on", "expected a boolean"),
    ("on: yes\n", "on", "expected a boolean"),
    ("mode: c\n", "mode", "one of 'a', 'b'"),
    ("items: [{port: x}]\n", "items[0].port", "expected an integer"),
    ("items: {port: 1}\n", "items", "expected a list"),
    ("colour: red\n", "colour", "unknown key"),
])
def test_errors_name_file_key_and_expectation(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(Cfg, path)
    assert e.value.file == str(path) and e.value.key == key and expected in e.value.message
    assert str(path) in str(e.value)


def test_malformed_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(Cfg, write(tmp_path, "rate: [1,\n"))
    assert "not valid YAML" in str(e.value) and "line" in str(e.value)


def test_board_profiles_in_the_repo_load():
    from pathlib import Path

    boards = Path(__file__).resolve().parents[3] / "board-support" / "boards"
    files = sorted(boards.glob("*.yaml"))
    assert files
    for f in files:
        assert load_profile(str(f)).name == f.resolve().stem  # default.yaml links to a board


@pytest.mark.parametrize("text,key", [
    ("name: x\nconnectors: [{id: 1}, {id: 1}]\n", "(top level)"),
    ("name: x\nbackend: serial\n", "backend"),
    ("name: x\nbackend: mcu\n", "(top level)"),
    ("name: x\nconnectors: [{id: 1, max_current_a: 100}]\n", "connectors[0].max_current_a"),
    ("name: x\nheartbeat_timeout_s: -1\n", "heartbeat_timeout_s"),
])
def test_malformed_board_profiles_are_refused(tmp_path, text, key):
    with pytest.raises(ConfigError) as e:
        load_profile(str(write(tmp_path, text, "bad.yaml")))
    assert e.value.key == key


# A service's imports, then its shipped configuration (update has none) loaded as at start: PyYAML without its
# libyaml binding (evcharge.common.config._import_yaml, issue 7).
YAML_PROBE = """
import json, pathlib, sys
import evcharge.{svc}.__main__
import evcharge.{svc}.service
import yaml
from evcharge.common.config import load_yaml
shipped = load_yaml(pathlib.Path("services/config/{cfg}.yaml"))
print(json.dumps(["yaml._yaml" in sys.modules, yaml.__with_libyaml__, hasattr(yaml, "CSafeLoader"),
                  isinstance(shipped, dict)]))
"""


@pytest.mark.parametrize("svc", ["board", "evse", "energy", "meter", "auth", "ocpp", "update"])
def test_services_load_yaml_without_the_libyaml_binding(svc):
    env = {**os.environ, "PYTHONOPTIMIZE": "2", "PYTHONNODEBUGRANGES": "1"}
    probe = YAML_PROBE.format(svc=svc, cfg="board" if svc == "update" else svc)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, False, False, True]


def test_yaml_imported_before_keeps_its_binding_and_a_later_import_works():
    probe = ("import sys, yaml, evcharge.common.config as c; a = yaml.__with_libyaml__; "
             "import yaml._yaml; print(a, c.yaml is yaml, 'yaml._yaml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True"]
    masked = ("import sys, evcharge.common.config as c; a = c.yaml.__with_libyaml__; "
              "import yaml._yaml; print(a, sys.modules['yaml._yaml'] is not None)")
    out = subprocess.run([sys.executable, "-c", masked], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
