"""The auth service as a process: a PN532 reader on a real pty driven by the simulated PN532,
the local list over D-Bus, argument errors, and the simulated reader's Tap."""

import asyncio
import os

import pytest
from dbus_fast import DBusError, Message, MessageType
from evcharge.common import names
from evcharge.common.bus import call, get_all
from evcharge.sil.supervisor import ServiceSpec
from evcharge.sim.pn532 import FakePn532, open_pty

IFACE = names.AUTH


@pytest.fixture
async def pty_reader():
    master, slave, path = open_pty()
    fake = FakePn532(master)
    fake.start()
    yield fake, path
    fake.stop()
    os.close(master)
    os.close(slave)


class Signals:
    def __init__(self) -> None:
        self.tokens: list[tuple] = []
        self.event = asyncio.Event()

    def on_msg(self, msg: Message) -> None:
        if msg.message_type == MessageType.SIGNAL and msg.interface == IFACE and msg.member == "TokenPresented":
            self.tokens.append(tuple(msg.body))
            self.event.set()

    async def wait(self, count: int, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.tokens) < count:
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), max(0.01, deadline - loop.time()))


@pytest.fixture
async def signals(client):
    s = Signals()
    client.add_message_handler(s.on_msg)
    await call(client, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
               [f"type='signal',interface='{IFACE}',member='TokenPresented'"])
    return s


async def readers(client) -> dict[str, bool]:
    props = await get_all(client, names.AUTH, names.AUTH_PATH, IFACE)
    return dict(props["Readers"])


async def wait_reader(client, name: str, online: bool, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (await readers(client)).get(name) is not online:
        if loop.time() > deadline:
            raise AssertionError(f"reader {name} not {'online' if online else 'offline'} in {timeout_s} s: "
                                 f"{await readers(client)}")
        await asyncio.sleep(0.05)


async def validate(client, token: str, token_type: str = "ISO14443") -> list[str]:
    (result,) = await call(client, names.AUTH, names.AUTH_PATH, IFACE, "Validate", "ss", [token, token_type])
    return list(result)


async def start_auth(supervisor, tmp_path, write_yaml, config):
    path = write_yaml(tmp_path / "auth.yaml", config)
    await supervisor.start(ServiceSpec(name="auth", args=["--config", str(path)]))


ALLOW = [
    {"token": "04a1b2c3"},
    {"token": "DEADBEEF", "status": "Blocked"},
    {"token": "EVC-1", "token_type": "eMAID", "expires_at": "2020-01-01T00:00:00Z"},
    {"token": "EVC-2", "token_type": "eMAID", "expires_at": "2999-01-01T00:00:00Z"},
]


async def test_card_on_the_pn532_is_one_token_per_tap(client, supervisor, signals, pty_reader, tmp_path,
                                                       write_yaml):
    fake, port = pty_reader
    await start_auth(supervisor, tmp_path, write_yaml, {
        "allow_list": ALLOW, "readers": [{"name": "rfid0", "type": "pn532", "serial_port": port}]})
    await wait_reader(client, "rfid0", True, 5)
    assert 0x14 in fake.commands and 0x4A in fake.commands  # SAMConfiguration, then polling

    fake.present("04a1b2c3")
    await signals.wait(1, 3)
    await asyncio.sleep(1.5)  # the card stays on the reader: ~7 more polls, no more signals
    assert signals.tokens == [("04A1B2C3", "ISO14443", "rfid0", 0)]
    assert await validate(client, signals.tokens[0][0]) == ["Accepted", "local list"]

    fake.remove()
    await asyncio.sleep(1.3)
    fake.present("04a1b2c3")  # away for more than a second: a new tap
    await signals.wait(2, 3)
    fake.present("0411223344556677889A")  # another card at once: a tap too
    await signals.wait(3, 3)
    assert signals.tokens[2] == ("0411223344556677889A", "ISO14443", "rfid0", 0)


async def test_reader_that_stops_answering_goes_offline_and_back(client, supervisor, pty_reader, tmp_path,
                                                                 write_yaml):
    fake, port = pty_reader
    await start_auth(supervisor, tmp_path, write_yaml, {
        "readers": [{"name": "rfid0", "serial_port": port}, {"name": "gone", "serial_port": "/dev/nonexistent"}]})
    await wait_reader(client, "rfid0", True, 5)
    assert (await readers(client))["gone"] is False
    fake.silent = True
    await wait_reader(client, "rfid0", False, 5)
    fake.silent = False
    await wait_reader(client, "rfid0", True, 5)


async def test_validate_and_arguments(client, supervisor, signals, tmp_path, write_yaml):
    await start_auth(supervisor, tmp_path, write_yaml, {"allow_list": ALLOW})
    props = await get_all(client, names.AUTH, names.AUTH_PATH, IFACE)
    assert props == {"FreeVend": False, "LocalListSize": 4, "Readers": [], "LocalListVersion": 0,
                     "LocalListEnabled": True, "CsmsListSize": 0}
    assert (await validate(client, "04A1B2C3"))[0] == "Accepted"
    assert (await validate(client, "deadbeef"))[0] == "Blocked"
    assert (await validate(client, "EVC-1", "eMAID"))[0] == "Expired"
    assert (await validate(client, "EVC-2", "eMAID"))[0] == "Accepted"
    assert await validate(client, "CAFEBABE") == ["Unknown", "not in the local list"]
    assert (await validate(client, "04A1B2C3", "ISO15693"))[0] == "Unknown"

    for member, sig, body in [
        ("Validate", "ss", ["", "ISO14443"]),
        ("Validate", "ss", ["X" * 37, "ISO14443"]),
        ("Validate", "ss", ["04A1B2C3", "RFID"]),
        ("PresentToken", "ssu", ["04A1B2C3", "rfid", 1]),
        ("PresentToken", "ssu", ["", "Central", 1]),
        ("PresentToken", "ssu", ["04A1B2C3", "ISO14443", 1000]),
    ]:
        with pytest.raises(DBusError) as e:
            await call(client, names.AUTH, names.AUTH_PATH, IFACE, member, sig, body)
        assert e.value.type == "org.evcharge.Error.InvalidArgument", (member, body)

    await call(client, names.AUTH, names.AUTH_PATH, IFACE, "PresentToken", "ssu", ["EVC-2", "eMAID", 2])
    await signals.wait(1, 2)
    await asyncio.sleep(0.2)
    assert signals.tokens == [("EVC-2", "eMAID", "remote", 2)]  # the rejected calls emitted nothing

    # Without a sim reader there is no Sim interface.
    with pytest.raises(DBusError) as e:
        await call(client, names.AUTH, names.AUTH_PATH, names.AUTH_SIM_IFACE, "Tap", "s", ["04A1B2C3"])
    assert e.value.type == "org.freedesktop.DBus.Error.UnknownMethod"


async def test_free_vend_and_sim_tap(client, supervisor, signals, tmp_path, write_yaml):
    await start_auth(supervisor, tmp_path, write_yaml, {"free_vend": True, "readers": [{"name": "sim",
                                                                                          "type": "sim"}]})
    props = await get_all(client, names.AUTH, names.AUTH_PATH, IFACE)
    assert props["FreeVend"] is True and props["Readers"] == [("sim", True)]
    assert await validate(client, "anything", "Local") == ["Accepted", "free vend"]
    with pytest.raises(DBusError) as e:
        await validate(client, "anything", "Bogus")
    assert e.value.type == "org.evcharge.Error.InvalidArgument"

    await call(client, names.AUTH, names.AUTH_PATH, names.AUTH_SIM_IFACE, "Tap", "s", ["04a1b2c3"])
    await signals.wait(1, 2)
    with pytest.raises(DBusError) as e:
        await call(client, names.AUTH, names.AUTH_PATH, names.AUTH_SIM_IFACE, "Tap", "s", ["xyz"])
    assert e.value.type == "org.evcharge.Error.InvalidArgument"
    await asyncio.sleep(0.2)
    assert signals.tokens == [("04A1B2C3", "ISO14443", "sim", 0)]


async def test_reader_port_that_disappears_is_reopened(client, supervisor, signals, tmp_path, write_yaml):
    # A udev-style symlink (like /dev/serial/by-id/...) that points at a new tty after a replug.
    link = tmp_path / "rfid-by-id"
    master, slave, path = open_pty()
    link.symlink_to(path)
    fake = FakePn532(master)
    fake.start()
    await start_auth(supervisor, tmp_path, write_yaml, {"readers": [{"name": "rfid0", "serial_port": str(link)}]})
    await wait_reader(client, "rfid0", True, 5)

    fake.stop()  # unplug: the tty goes away under the open port
    os.close(master)
    os.close(slave)
    await wait_reader(client, "rfid0", False, 5)

    master, slave, path = open_pty()
    link.unlink()
    link.symlink_to(path)
    fake = FakePn532(master)
    fake.start()
    try:
        await wait_reader(client, "rfid0", True, 5)
        fake.present("04a1b2c3")
        await signals.wait(1, 3)
        assert signals.tokens == [("04A1B2C3", "ISO14443", "rfid0", 0)]
    finally:
        fake.stop()
        os.close(master)
        os.close(slave)
