"""The meter service as a process on a private bus: an SDM630 behind a real Modbus TCP server,
and the simulated meter following a fake simulated board."""

import asyncio
import json
import socket
import struct

import pytest
from dbus_fast import DBusError
from dbus_fast.aio import MessageBus
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property
from evcharge.common import names
from evcharge.common.bus import call, connect, get_all
from evcharge.sil.supervisor import ServiceSpec
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

IFACE = names.METER_METER_IFACE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def f32(value: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def sdm630_registers(volts, amps, watts_total, kwh) -> list[int]:
    """Input registers 0x0000..0x004F of an SDM630 (Eastron's documented addresses)."""
    regs = [0] * 0x50
    for i, v in enumerate(volts):
        regs[2 * i:2 * i + 2] = f32(v)
    for i, a in enumerate(amps):
        regs[6 + 2 * i:8 + 2 * i] = f32(a)
        regs[0x0C + 2 * i:0x0E + 2 * i] = f32(volts[i] * a)
    regs[0x34:0x36] = f32(watts_total)
    regs[0x46:0x48] = f32(50.0)
    regs[0x48:0x4A] = f32(kwh)
    return regs


class Sdm630Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ModbusTcpServer | None = None
        self.task: asyncio.Task | None = None

    async def start(self, registers: list[int] | dict[int, list[int]]) -> None:
        """`registers` of unit 1, or {unit_id: registers} for several meters behind one gateway."""
        units = registers if isinstance(registers, dict) else {1: registers}
        devices = [SimDevice(id=unit, simdata=[SimData(0, values=regs, datatype=DataType.REGISTERS)])
                   for unit, regs in units.items()]
        self.server = ModbusTcpServer(devices, address=("127.0.0.1", self.port))
        self.task = asyncio.create_task(self.server.serve_forever())
        for _ in range(100):  # listening once a plain TCP connect succeeds
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise RuntimeError("Modbus server did not start")

    async def stop(self) -> None:
        if self.server:
            await self.server.shutdown()
            await asyncio.gather(self.task, return_exceptions=True)
            self.server = None


async def props(client, cid=1):
    return await get_all(client, names.METER, names.meter_path(cid), IFACE)


async def wait_for(client, predicate, timeout_s, cid=1):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        p = await props(client, cid)
        if predicate(p):
            return p, timeout_s - (deadline - loop.time())
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s; last properties {p}")
        await asyncio.sleep(0.05)


async def start_meter(supervisor, tmp_path, write_yaml, config):
    path = write_yaml(tmp_path / "meter.yaml", config)
    await supervisor.start(ServiceSpec(name="meter", args=["--config", str(path)]))


async def test_sdm630_over_modbus_tcp_goes_offline_and_back(client, supervisor, tmp_path, write_yaml):
    port = free_port()
    server = Sdm630Server(port)
    await server.start(sdm630_registers((230.5, 231.0, 229.5), (16.0, 15.0, 0.5), 7157.75, 1234.5))
    poll, timeout = 0.2, 0.3
    try:
        await start_meter(supervisor, tmp_path, write_yaml, {
            "poll_interval_s": poll, "timeout_s": timeout,
            "meters": [{"connector_id": 1, "backend": "modbus-tcp", "host": "127.0.0.1", "port": port}]})
        p, _ = await wait_for(client, lambda p: p["Online"], 5)
        assert p["ConnectorId"] == 1 and p["Backend"] == "modbus-tcp"
        assert p["VoltageV"] == pytest.approx([230.5, 231.0, 229.5])
        assert p["CurrentA"] == pytest.approx([16.0, 15.0, 0.5])
        assert p["PowerW"] == pytest.approx(7157.75)
        assert p["EnergyWh"] == pytest.approx(1234500.0)
        assert p["LastReadingAt"].endswith("Z")
        (result,) = await call(client, names.METER, names.meter_path(1), IFACE, "Read")
        assert result["EnergyWh"].value == pytest.approx(1234500.0)
        assert result["FrequencyHz"].value == pytest.approx(50.0)

        await server.stop()
        p, took = await wait_for(client, lambda p: not p["Online"], 5)
        assert took < timeout + poll + 1.0, took  # margin for a loaded 2-core machine
        assert p["EnergyWh"] == pytest.approx(1234500.0)  # last values kept
        with pytest.raises(DBusError) as e:
            await call(client, names.METER, names.meter_path(1), IFACE, "Read")
        assert e.value.type == "org.evcharge.Error.Unavailable"

        await server.start(sdm630_registers((230.0, 230.0, 230.0), (0.0, 0.0, 0.0), 0.0, 1240.0))
        p, _ = await wait_for(client, lambda p: p["Online"], 5)
        p, _ = await wait_for(client, lambda p: p["EnergyWh"] == pytest.approx(1240000.0), 2)
        assert p["PowerW"] == 0.0
    finally:
        await server.stop()


async def test_a_meter_that_accepts_but_never_answers_is_offline(client, supervisor, tmp_path, write_yaml):
    async def swallow(reader, writer):
        await reader.read()  # take every request, answer none
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await start_meter(supervisor, tmp_path, write_yaml, {
            "poll_interval_s": 0.2, "timeout_s": 0.3,
            "meters": [{"connector_id": 1, "backend": "modbus-tcp", "host": "127.0.0.1", "port": port}]})
        await asyncio.sleep(1.0)  # several polls, each timing out
        p = await props(client)
        assert p["Online"] is False and p["LastReadingAt"] == ""
        with pytest.raises(DBusError) as e:
            await call(client, names.METER, names.meter_path(1), IFACE, "Read")
        assert e.value.type == "org.evcharge.Error.Unavailable"
        assert "no answer within 0.3 s" in e.value.text
    finally:
        server.close()


async def test_properties_changed_is_emitted(client, supervisor, tmp_path, write_yaml):
    port = free_port()
    server = Sdm630Server(port)
    await server.start(sdm630_registers((230.0, 230.0, 230.0), (1.0, 1.0, 1.0), 690.0, 2.0))
    changes: list[dict] = []

    def on_msg(msg):
        if msg.member == "PropertiesChanged" and msg.path == names.meter_path(4) and msg.body[0] == IFACE:
            changes.append({k: v.value for k, v in msg.body[1].items()})

    client.add_message_handler(on_msg)
    await call(client, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
               [f"type='signal',interface='{names.PROPERTIES_IFACE}',path='{names.meter_path(4)}'"])
    try:
        await start_meter(supervisor, tmp_path, write_yaml, {
            "poll_interval_s": 0.2, "timeout_s": 0.3,
            "meters": [{"connector_id": 4, "backend": "modbus-tcp", "host": "127.0.0.1", "port": port}]})
        await wait_for(client, lambda p: p["Online"], 5, cid=4)
        await asyncio.sleep(0.1)
        first = next(c for c in changes if c.get("Online") is True)
        assert first["EnergyWh"] == pytest.approx(2000.0) and first["PowerW"] == pytest.approx(690.0)
    finally:
        await server.stop()


async def test_two_meters_behind_one_gateway_are_told_apart_by_unit_id(client, supervisor, tmp_path, write_yaml):
    port = free_port()
    server = Sdm630Server(port)
    await server.start({1: sdm630_registers((230.0,) * 3, (6.0, 0.0, 0.0), 1380.0, 10.0),
                        7: sdm630_registers((231.0,) * 3, (32.0, 32.0, 32.0), 22176.0, 20.0)})
    try:
        await start_meter(supervisor, tmp_path, write_yaml, {"poll_interval_s": 0.2, "meters": [
            {"connector_id": 1, "backend": "modbus-tcp", "host": "127.0.0.1", "port": port, "unit_id": 1},
            {"connector_id": 2, "backend": "modbus-tcp", "host": "127.0.0.1", "port": port, "unit_id": 7}]})
        one, _ = await wait_for(client, lambda p: p["Online"], 5, cid=1)
        two, _ = await wait_for(client, lambda p: p["Online"], 5, cid=2)
        assert (one["EnergyWh"], one["PowerW"], one["CurrentA"]) == (10000.0, 1380.0, [6.0, 0.0, 0.0])
        assert (two["EnergyWh"], two["PowerW"], two["CurrentA"]) == (20000.0, 22176.0, [32.0, 32.0, 32.0])
    finally:
        await server.stop()


class FakeBoardSim(ServiceInterface):
    """The contract the sim meter relies on: org.evcharge.Board1.Sim EvCurrentA/Phases."""

    def __init__(self, current_a: float, phases: int) -> None:
        super().__init__(names.BOARD_SIM_IFACE)
        self.current_a = current_a
        self.phases = phases

    @dbus_property(access=PropertyAccess.READ)
    def EvCurrentA(self) -> "d":
        return self.current_a

    @dbus_property(access=PropertyAccess.READ)
    def Phases(self) -> "u":
        return self.phases

    def set_current(self, current_a: float) -> None:
        self.current_a = current_a
        self.emit_properties_changed({"EvCurrentA": current_a})


async def start_board(address: str, current_a: float, phases: int) -> tuple[MessageBus, FakeBoardSim]:
    bus = await connect(address)
    sim = FakeBoardSim(current_a, phases)
    bus.export(names.board_connector_path(1), sim)
    await bus.request_name(names.BOARD)
    return bus, sim


async def test_sim_meter_follows_the_board_and_keeps_its_energy(client, supervisor, private_bus, tmp_path,
                                                                 write_yaml):
    config = {"poll_interval_s": 0.2, "meters": [{"connector_id": 1, "backend": "sim"}]}
    await start_meter(supervisor, tmp_path, write_yaml, config)
    # No board on the bus: a simulator still answers, with no current.
    p = await props(client)
    assert p["Online"] is True and p["Backend"] == "sim"
    assert p["CurrentA"] == [0.0, 0.0, 0.0] and p["PowerW"] == 0.0
    assert p["VoltageV"] == [230.0, 230.0, 230.0]

    board, sim = await start_board(private_bus.address, 16.0, 3)
    try:
        p, _ = await wait_for(client, lambda p: p["PowerW"] == pytest.approx(11040.0), 3)
        assert p["CurrentA"] == [16.0, 16.0, 16.0]
        sim.set_current(10.0)
        p, _ = await wait_for(client, lambda p: p["PowerW"] == pytest.approx(6900.0), 2)
        e1 = p["EnergyWh"]
        await asyncio.sleep(1.0)
        e2 = (await props(client))["EnergyWh"]
        # ~1 s at 6.9 kW is ~1.9 Wh; allow for scheduling on a loaded machine.
        assert 1.0 < e2 - e1 < 3.5, (e1, e2)

        # A restarted meter service continues from its stored register.
        await supervisor.stop("meter")
        stored = json.loads((supervisor.state_dir("meter") / "energy.json").read_text())["energy_wh"]["1"]
        assert stored >= e2
        await start_meter(supervisor, tmp_path, write_yaml, config)
        p = await props(client)
        assert p["EnergyWh"] >= stored and p["PowerW"] == pytest.approx(6900.0)
    finally:
        board.disconnect()
    # The board left: the simulated EV draws nothing.
    p, _ = await wait_for(client, lambda p: p["PowerW"] == 0.0, 3)
    e3 = p["EnergyWh"]
    await asyncio.sleep(0.5)
    assert (await props(client))["EnergyWh"] == e3
