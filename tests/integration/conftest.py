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


class Stack:
    """The charger's services on the private bus, with helpers to drive and observe them."""

    def __init__(self, client, supervisor, tmp_path: Path) -> None:
        self.bus = client
        self.sup = supervisor
        self.dir = tmp_path
        self.signals: list[tuple[str, str, list]] = []

    async def start(self, services=("board", "energy", "meter", "auth", "evse"), *, site_limit_a: float = 32.0,
                    profile: Path | None = None, auth_extra: dict | None = None,
                    ocpp_extra: dict | None = None, evse_extra: dict | None = None,
                    meter_extra: dict | None = None) -> None:
        from evcharge.sil.supervisor import ServiceSpec

        d = self.dir
        profile = profile or REPO / "board-support/boards/sim.yaml"
        configs = {
            "board": {"profile": str(profile)},
            "energy": {"site_limit_a": site_limit_a, "connectors": [{"id": 1, "max_current_a": 32},
                                                                    {"id": 2, "max_current_a": 32}]},
            "evse": {"heartbeat_interval_s": 0.25, "connectors": [{"id": 1, "max_current_a": 32},
                                                                  {"id": 2, "max_current_a": 32}],
                     **(evse_extra or {})},
            "meter": {"poll_interval_s": 0.2, "meters": [{"connector_id": 1, "backend": "sim"},
                                                         {"connector_id": 2, "backend": "sim"}],
                      **(meter_extra or {})},
            "auth": {"allow_list": [{"token": "04A1B2C3", "token_type": "ISO14443"},
                                    {"token": "BLOCKED01", "token_type": "ISO14443", "status": "Blocked"}],
                     "readers": [{"name": "rfid0", "type": "sim"}], **(auth_extra or {})},
            "ocpp": {"security_profile": 0, "heartbeat_interval_s": 300, "message_timeout_s": 5.0,
                     "meter_sample_interval_s": 0, "retry": {"backoff_wait_minimum_s": 0.2,
                                                               "backoff_random_range_s": 0.2},
                     **(ocpp_extra or {})},
        }
        for name in services:
            cfg = d / f"{name}.yaml"
            cfg.write_text(yaml.safe_dump(configs[name]))
            await self.sup.start(ServiceSpec(name, ["--config", str(cfg)]))
        await self._collect_signals()

    async def _collect_signals(self) -> None:
        from dbus_fast import MessageType
        from evcharge.common.bus import call

        def on(msg):
            if msg.message_type == MessageType.SIGNAL and msg.interface and msg.interface.startswith("org.evcharge."):
                self.signals.append((msg.path, msg.member, list(msg.body)))

        self.bus.add_message_handler(on)
        await call(self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                   "s", ["type='signal',path_namespace='/org/evcharge'"])

    # drive
    async def sim(self, cid: int, member: str, sig: str = "", *args):
        from evcharge.common import names
        from evcharge.common.bus import call

        return await call(self.bus, names.BOARD, names.board_connector_path(cid), names.BOARD_SIM_IFACE, member, sig,
                          list(args))

    async def evse(self, cid: int, member: str, sig: str = "", *args):
        from evcharge.common import names
        from evcharge.common.bus import call

        return await call(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE, member,
                          sig, list(args))

    async def tap(self, uid: str):
        from evcharge.common import names
        from evcharge.common.bus import call

        return await call(self.bus, names.AUTH, names.AUTH_PATH, names.AUTH_SIM_IFACE, "Tap", "s", [uid])

    # observe
    async def board(self, cid: int) -> dict:
        from evcharge.common import names
        from evcharge.common.bus import get_all

        return await get_all(self.bus, names.BOARD, names.board_connector_path(cid), names.BOARD_CONNECTOR_IFACE)

    async def hw(self, cid: int) -> dict:
        from evcharge.common import names
        from evcharge.common.bus import get_all

        return await get_all(self.bus, names.BOARD, names.board_connector_path(cid), names.BOARD_SIM_IFACE)

    async def conn(self, cid: int) -> dict:
        from evcharge.common import names
        from evcharge.common.bus import get_all

        return await get_all(self.bus, names.EVSE, names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE)

    async def wait(self, what, predicate, timeout: float = 20.0, what_name: str = "condition"):
        """Poll `await what()` until predicate(value) holds; fail with the last value.

        The default is generous on purpose: under the full suite on 2 cores a service can be
        starved for seconds (a 5 s default failed there); a passing wait returns as soon as it holds."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        value = None
        while True:
            try:
                value = await what()
                if predicate(value):
                    return value
            except Exception as e:  # a service restarting answers with errors for a moment
                value = e
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what_name}; last value: {value}")
            await asyncio.sleep(0.02)

    def signals_named(self, member: str) -> list:
        return [s for s in self.signals if s[1] == member]


@pytest.fixture
async def csms():
    """A test CSMS (evcharge.sim.csms) on 127.0.0.1 and a free port; `csms.url` for the ocpp config."""
    from evcharge.sim.csms import Csms

    server = Csms()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def stack(client, supervisor, tmp_path):
    return Stack(client, supervisor, tmp_path)


@pytest.fixture
def start_ocpp(stack, csms):
    """start_ocpp(**ocpp_config) -> the stack with ocpp connected to `csms`, booted and reporting."""

    async def start(*, wait_boot: bool = True, **ocpp_extra):
        await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"),
                          ocpp_extra={"csms_url": csms.url, **ocpp_extra})
        if wait_boot:
            await csms.wait_for("StatusNotification", 2)
        return stack

    return start


@pytest.fixture
async def csms16():
    """A test OCPP 1.6J Central System (evcharge.sim.csms16) on 127.0.0.1 and a free port."""
    from evcharge.sim.csms16 import Csms16

    server = Csms16()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def start_ocpp16(stack, csms16):
    """start_ocpp16(**ocpp_config) -> the stack with ocpp speaking 1.6J to `csms16`, booted and reporting."""

    async def start(*, wait_boot: bool = True, **ocpp_extra):
        await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"),
                          ocpp_extra={"csms_url": csms16.url, "protocol": "ocpp1.6", **ocpp_extra})
        if wait_boot:
            await csms16.wait_for("StatusNotification", 3)  # connector 0, 1 and 2
        return stack

    return start


# --- firmware updates (test_ocpp_secure_firmware.py, test_ocpp16_firmware.py) -----------------
@pytest.fixture(scope="module")
def signer():
    """A manufacturer root and a firmware signing certificate issued by it."""
    from .firmware_helpers import Signer
    return Signer()


@pytest.fixture
def files(tmp_path):
    """The bundle over HTTP on a free port of the loopback."""
    from .firmware_helpers import Files
    f = Files(tmp_path)
    yield f
    f.close()


@pytest.fixture
async def rauc(private_bus):
    """The RAUC simulator on the private bus, as the update service's installer."""
    from evcharge.sim.rauc import RaucSim
    sim = await RaucSim.start(private_bus.address)
    yield sim
    await sim.stop()


# --- FTP / FTPS locations (test_ocpp_ftp.py) --------------------------------------------------
@pytest.fixture
def ftp_server(tmp_path):
    """ftp_server(tls=None | (cert, key), name=...) -> a real FTP server (ftp_helpers.FtpServer) on
    a free port of the loopback; closed at the end of the test."""
    from .ftp_helpers import FtpServer
    servers: list[FtpServer] = []

    def make(*, tls: tuple | None = None, name: str = "ftp") -> FtpServer:
        servers.append(FtpServer(tmp_path / f"{name}-home", cert=tls))
        return servers[-1]

    yield make
    for s in servers:
        s.close()
