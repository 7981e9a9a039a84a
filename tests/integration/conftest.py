"""A real private dbus-daemon and services as real processes, for every integration test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evcharge.common.bus import connect
from evcharge.sil.dbusd import start_bus
from evcharge.sil.supervisor import Supervisor

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def private_bus():
    bus = start_bus()
    yield bus
    bus.stop()


@pytest.fixture
async def client(private_bus):
    bus = await connect(private_bus.address)
    yield bus
    bus.disconnect()


@pytest.fixture
async def supervisor(private_bus, tmp_path):
    sup = Supervisor(private_bus.address, tmp_path)
    yield sup
    await sup.stop_all()


@pytest.fixture
def write_yaml():
    """write_yaml(path, data) -> path: a config or profile file for a service under test."""

    def write(path: Path, data) -> Path:
        path.write_text(yaml.safe_dump(data))
        return path

    return write
