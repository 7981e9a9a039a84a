"""The board service on the `mcu` backend: a charging session through the framed serial link to
the fake safety MCU on a real pseudo-terminal, and the MCU's own reaction when the host dies."""

import asyncio
import os
import tty

import pytest
from evcharge.sim.mcu import FakeMcu


@pytest.fixture
async def mcu(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    link = tmp_path / "evcharge-mcu"
    link.symlink_to(os.ttyname(slave))
    fake = FakeMcu(master, (1, 2), link_timeout_ms=500)
    for cid in (1, 2):
        fake.connector(cid).pp_ohm = 220  # a 32 A cable in the socket
        fake.set_cp(cid, 12.0)
    await fake.start()
    yield fake, link
    await fake.stop()
    os.close(master)
    os.close(slave)


def mcu_profile(tmp_path, link):
    p = tmp_path / "mcu-board.yaml"
    p.write_text(f"""name: mcu-board
backend: mcu
heartbeat_timeout_s: 2.0
mcu: {{port: {link}, baudrate: 115200, link_timeout_ms: 500}}
connectors:
  - {{id: 1, max_current_a: 32}}
  - {{id: 2, max_current_a: 32}}
""")
    return p


async def test_session_over_the_mcu_link(stack, mcu, tmp_path):
    fake, link = mcu
    await stack.start(("board", "energy", "evse"), profile=mcu_profile(tmp_path, link))
    fake.set_cp(1, 9.0)  # EV plugged: state B
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    await stack.evse(1, "RemoteStart", "s", "REMOTE1")
    await stack.wait(lambda: asyncio.sleep(0, fake.connector(1)), lambda c: c.pwm_mode.name == "PWM")
    assert fake.connector(1).duty_permille == 533  # 32 A
    fake.set_cp(1, 6.0)  # the EV saw PWM and closed S2: state C
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging")
    assert fake.connector(1).contactor
    board = await stack.board(1)
    assert board["ContactorClosed"] and board["ContactorFeedback"] == "closed"

    fake.set_cp(1, 9.0)  # C -> B
    await stack.wait(lambda: asyncio.sleep(0, fake.connector(1)), lambda c: not c.contactor, timeout=1)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "SuspendedEV")


async def test_mcu_opens_by_itself_when_the_board_service_dies(stack, mcu, tmp_path):
    fake, link = mcu
    await stack.start(("board", "energy", "evse"), profile=mcu_profile(tmp_path, link))
    fake.set_cp(1, 9.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    await stack.evse(1, "RemoteStart", "s", "REMOTE1")
    await stack.wait(lambda: asyncio.sleep(0, fake.connector(1)), lambda c: c.pwm_mode.name == "PWM")
    fake.set_cp(1, 6.0)
    await stack.wait(lambda: asyncio.sleep(0, fake.connector(1)), lambda c: c.contactor)
    stack.sup.restart_delay_s = 5.0
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    stack.sup.kill("board")  # no graceful stop: only the MCU's own link timeout can act
    await stack.wait(lambda: asyncio.sleep(0, fake.connector(1)), lambda c: not c.contactor, timeout=2)
    assert loop.time() - t0 < 0.5 + 0.2  # link_timeout_ms plus one status period
    assert fake.safe_state
