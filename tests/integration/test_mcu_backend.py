"""McuBackend against the fake MCU over real pseudo-terminals.

Between them sits a "wire": two pty pairs joined by a forwarder that the test can cut (per
direction), inject noise into, or unplug, so the link failures are real byte-level events on
real tty file descriptors.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from evcharge.board import mcu_protocol as proto
from evcharge.board.backends.base import ConnectorOutputs, PwmMode
from evcharge.board.backends.mcu import McuBackend
from evcharge.board.mcu_protocol import StatusFlags, WirePwmMode
from evcharge.board.profile import BoardProfile
from evcharge.common.config import from_dict
from evcharge.sim.mcu import FakeMcu

LINK_TIMEOUT_MS = 200.0


def _pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


class Wire:
    """host (backend, opens `port`) <-> [pty A] forwarder [pty B] <-> fake MCU."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = tmp_path / "evcharge-mcu"  # like the udev symlink on a board
        self.mcu_master, self.mcu_slave = _pty()
        os.set_blocking(self.mcu_slave, False)
        self.to_mcu = True
        self.to_host = True
        self.host_master: int | None = None
        self.host_slave: int | None = None
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.mcu_slave, self._from_mcu)

    def plug(self) -> None:
        self.host_master, self.host_slave = _pty()
        os.set_blocking(self.host_master, False)
        if self.port.is_symlink():
            self.port.unlink()
        self.port.symlink_to(os.ttyname(self.host_slave))
        self.loop.add_reader(self.host_master, self._from_host)

    def unplug(self) -> None:
        assert self.host_master is not None and self.host_slave is not None
        self.port.unlink()  # udev removes the symlink with the device
        self.loop.remove_reader(self.host_master)
        os.close(self.host_master)
        os.close(self.host_slave)
        self.host_master = self.host_slave = None

    def _from_host(self) -> None:
        assert self.host_master is not None
        try:
            data = os.read(self.host_master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return
        if self.to_mcu:
            os.write(self.mcu_slave, data)

    def _from_mcu(self) -> None:
        try:
            data = os.read(self.mcu_slave, 4096)
        except (BlockingIOError, OSError):
            return
        if self.to_host and self.host_master is not None:
            os.write(self.host_master, data)

    def inject_to_host(self, data: bytes) -> None:
        assert self.host_master is not None
        os.write(self.host_master, data)

    def inject_to_mcu(self, data: bytes) -> None:
        os.write(self.mcu_slave, data)

    def close(self) -> None:
        if self.host_master is not None:
            self.unplug()
        self.loop.remove_reader(self.mcu_slave)
        os.close(self.mcu_slave)
        os.close(self.mcu_master)


class TimedMcu(FakeMcu):
    """The fake MCU, recording when each host frame arrived."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.log: list[tuple[float, proto.Frame]] = []

    def _handle(self, frame: proto.Frame) -> None:
        self.log.append((time.monotonic(), frame))
        super()._handle(frame)

    def set_outputs_for(self, cid: int, since: float = 0.0) -> list[tuple[float, proto.SetOutputs]]:
        return [(t, f.message) for t, f in self.log
                if t >= since and isinstance(f.message, proto.SetOutputs) and f.message.connector == cid]


def make_profile(port: Path, **mcu: object) -> BoardProfile:
    link = {"port": str(port), "link_timeout_ms": LINK_TIMEOUT_MS, "reopen_interval_ms": 50.0}
    link.update(mcu)  # type: ignore[arg-type]
    return from_dict(BoardProfile, {"name": "mcu-test", "backend": "mcu", "mcu": link,
                                    "connectors": [{"id": 1}, {"id": 2}]}, file="mcu-test.yaml")


async def wait_for(cond: Callable[[], bool], timeout: float = 2.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Rig:
    def __init__(self, wire: Wire, mcu: TimedMcu, be: McuBackend) -> None:
        self.wire, self.mcu, self.be = wire, mcu, be
        self.inputs: list[int] = []


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    wire = Wire(tmp_path)
    wire.plug()
    mcu = TimedMcu(wire.mcu_master, (1, 2), link_timeout_ms=LINK_TIMEOUT_MS)
    await mcu.start()
    be = McuBackend(make_profile(wire.port))
    r = Rig(wire, mcu, be)
    await be.start(r.inputs.append)
    await wait_for(lambda: be.link_ok, what="link up")
    yield r
    await be.stop()
    await mcu.stop()
    wire.close()


CHARGE_16A = ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=26.7, contactor=True, lock=True)


@pytest.mark.asyncio
async def test_hello_and_status_arrive(rig: Rig) -> None:
    assert rig.be.hello is not None and rig.be.hello.protocol_version == proto.PROTOCOL_VERSION
    inp = rig.be.read(1)
    assert inp.cp_high_v == pytest.approx(12.0) and inp.cp_low_v == pytest.approx(-12.0)
    assert inp.contactor_closed is False and inp.rcd_tripped is False and inp.pp_ohm is None


@pytest.mark.asyncio
async def test_outputs_reach_the_mcu(rig: Rig) -> None:
    rig.be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=53.3))
    c = rig.mcu.connector(1)
    await wait_for(lambda: c.pwm_mode is WirePwmMode.PWM and c.duty_permille == 533, what="PWM on MCU")
    assert rig.mcu.connector(2).pwm_mode is WirePwmMode.HIGH
    rig.mcu.set_cp(1, 6.0)  # EV asks for charge: state C
    rig.be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=53.3, contactor=True, lock=True))
    await wait_for(lambda: rig.be.read(1).contactor_closed is True, what="contactor feedback")
    assert c.contactor and c.lock and rig.be.read(1).locked is True
    rig.be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.LOW))
    await wait_for(lambda: rig.be.read(1).cp_high_v == -12.0, what="state F")
    assert not c.contactor


@pytest.mark.asyncio
async def test_status_change_reaches_read_and_on_input(rig: Rig) -> None:
    rig.inputs.clear()
    rig.mcu.set_cp(2, 9.0)
    await wait_for(lambda: rig.be.read(2).cp_high_v == pytest.approx(9.0), what="status")
    assert 2 in rig.inputs
    assert rig.be.read(1).cp_high_v == pytest.approx(12.0)
    # Periodic Status that did not change does not wake the controller.
    rig.inputs.clear()
    await asyncio.sleep(0.15)
    assert rig.inputs == []


@pytest.mark.asyncio
async def test_unchanged_outputs_are_deduplicated_but_kept_alive(rig: Rig) -> None:
    rig.mcu.set_cp(1, 6.0)
    rig.be.apply(1, CHARGE_16A)
    await wait_for(lambda: rig.mcu.connector(1).contactor, what="charging")
    t0 = time.monotonic()
    for _ in range(100):  # a controller re-applying the same outputs every few ms
        rig.be.apply(1, CHARGE_16A)
        await asyncio.sleep(0.003)
    await asyncio.sleep(3 * LINK_TIMEOUT_MS / 1000)  # then idle for three link timeouts
    sent = rig.mcu.set_outputs_for(1, since=t0)
    duration = time.monotonic() - t0
    assert all(m == sent[0][1] for _, m in sent)
    # Keep-alive rate (every link_timeout/3, a little sooner for tick granularity), not 100 frames.
    assert len(sent) <= duration / (LINK_TIMEOUT_MS / 6000) + 2
    times = [t0] + [t for t, _ in sent]
    assert max(b - a for a, b in itertools.pairwise(times)) < LINK_TIMEOUT_MS / 1000 * 0.5
    assert rig.mcu.link_timeouts == 0 and rig.mcu.connector(1).contactor


@pytest.mark.asyncio
async def test_garbage_on_the_line_is_survived(rig: Rig) -> None:
    noise = bytes(range(256)) + b"\x00\x13\x37" + proto.encode(proto.Status(1, 1, 1), 3)[:7]
    rig.wire.inject_to_host(noise)
    rig.wire.inject_to_mcu(noise)
    rig.mcu.set_cp(1, 6.0)
    await wait_for(lambda: rig.be.read(1).cp_high_v == pytest.approx(6.0), what="status after noise")
    rig.be.apply(1, CHARGE_16A)
    await wait_for(lambda: rig.mcu.connector(1).contactor, what="outputs after noise")
    assert rig.be.decoder_stats.errors >= 1
    assert rig.mcu.decoder.stats.errors >= 1
    assert rig.be.link_ok
    # The half frame was never taken for a Status.
    assert rig.be.read(1).cp_high_v == pytest.approx(6.0)


@pytest.mark.asyncio
async def test_silent_mcu_drops_link_ok(rig: Rig) -> None:
    rig.inputs.clear()
    rig.wire.to_host = False
    t0 = time.monotonic()
    await wait_for(lambda: not rig.be.link_ok, what="link down")
    assert time.monotonic() - t0 >= LINK_TIMEOUT_MS / 1000 * 0.9
    await wait_for(lambda: {1, 2} <= set(rig.inputs), timeout=0.5, what="on_input for every connector")
    rig.wire.to_host = True
    await wait_for(lambda: rig.be.link_ok, what="link back")


@pytest.mark.asyncio
async def test_link_cut_mcu_opens_contactor_by_itself(rig: Rig) -> None:
    rig.mcu.set_cp(1, 6.0)
    rig.be.apply(1, CHARGE_16A)
    await wait_for(lambda: rig.be.read(1).contactor_closed is True, what="charging")
    rig.wire.to_mcu = rig.wire.to_host = False  # cable cut
    await wait_for(lambda: not rig.be.link_ok, what="host sees link down")
    await wait_for(lambda: not rig.mcu.connector(1).contactor, what="MCU opens contactor")
    assert rig.mcu.safe_state and rig.mcu.link_timeouts == 1
    assert rig.mcu.connector(1).pwm_mode is WirePwmMode.HIGH
    # Reconnected: the host sees the MCU's latched safe state, and a stale "contactor on" is
    # refused until the host has asked for it open once.
    rig.wire.to_mcu = rig.wire.to_host = True
    await wait_for(lambda: rig.be.link_ok, what="link back")
    await wait_for(lambda: StatusFlags.SAFE_STATE in rig.be.mcu_flags[1] or not rig.mcu.safe_state,
                   what="flags")
    assert rig.be.read(1).contactor_closed is False
    rig.be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=26.7))
    await wait_for(lambda: StatusFlags.SAFE_STATE not in rig.be.mcu_flags[1], what="un-latched")
    rig.be.apply(1, CHARGE_16A)
    await wait_for(lambda: rig.be.read(1).contactor_closed is True, what="charging again")


@pytest.mark.asyncio
async def test_mcu_refuses_contactor_without_ev_ready(rig: Rig) -> None:
    rig.mcu.set_cp(1, 9.0)  # state B: vehicle not ready
    rig.be.apply(1, CHARGE_16A)
    await wait_for(lambda: rig.be.stats.nacks >= 1, what="nack")
    assert rig.be.read(1).contactor_closed is False
    assert rig.mcu.connector(1).duty_permille == 267  # the rest was applied


@pytest.mark.asyncio
async def test_mcu_opens_contactor_when_ev_unplugs(rig: Rig) -> None:
    rig.mcu.set_cp(1, 6.0)
    rig.be.apply(1, CHARGE_16A)
    await wait_for(lambda: rig.be.read(1).contactor_closed is True, what="charging")
    # Hold back host frames so only the MCU's own CP rule can act (well within the link timeout).
    rig.wire.to_mcu = False
    rig.mcu.set_cp(1, 12.0)  # unplugged: state A
    await wait_for(lambda: rig.be.read(1).contactor_closed is False, timeout=0.19, what="MCU opens")
    assert rig.mcu.link_timeouts == 0


@pytest.mark.asyncio
async def test_port_vanishes_and_is_reopened(rig: Rig) -> None:
    rig.be.apply(2, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=10.0))
    rig.wire.unplug()  # USB serial gone: reads fail with EIO
    await wait_for(lambda: not rig.be.link_ok, what="link down")
    assert rig.be.stats.losses == 1
    assert rig.be.read(2).cp_high_v == 0.0  # no stale status after loss
    await asyncio.sleep(0.15)  # a few failed reopen attempts
    assert rig.be.open_error is not None and str(rig.wire.port) in rig.be.open_error
    t_plug = time.monotonic()
    rig.wire.plug()  # back, on a different /dev/pts number behind the same symlink
    await wait_for(lambda: rig.be.link_ok, what="link back")
    assert rig.be.stats.opens == 2
    # The wanted outputs were re-sent on reconnect.
    assert any(m.duty_permille == 100 for _, m in rig.mcu.set_outputs_for(2, since=t_plug))


@pytest.mark.asyncio
async def test_missing_port_at_start_is_retried(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    mcu = FakeMcu(wire.mcu_master, (1, 2), link_timeout_ms=LINK_TIMEOUT_MS)
    await mcu.start()
    be = McuBackend(make_profile(wire.port))
    try:
        await be.start(lambda cid: None)  # must not raise: the controller stays safe meanwhile
        assert not be.link_ok
        assert be.open_error is not None and str(wire.port) in be.open_error
        wire.plug()
        await wait_for(lambda: be.link_ok, what="link up")
    finally:
        await be.stop()
        await mcu.stop()
        wire.close()


@pytest.mark.asyncio
async def test_incompatible_protocol_version_keeps_link_down(rig: Rig) -> None:
    rig.wire.inject_to_host(proto.encode(proto.Hello(proto.PROTOCOL_VERSION + 1, "future"), 0))
    await wait_for(lambda: not rig.be.link_ok, what="link refused")
    await asyncio.sleep(0.1)  # Status keeps coming but is not trusted
    assert not rig.be.link_ok


@pytest.mark.asyncio
async def test_stop_leaves_the_mcu_safe_at_once(rig: Rig) -> None:
    rig.mcu.set_cp(1, 6.0)
    rig.be.apply(1, CHARGE_16A)
    await wait_for(lambda: rig.mcu.connector(1).contactor, what="charging")
    await rig.be.stop()
    await wait_for(lambda: not rig.mcu.connector(1).contactor, timeout=0.19, what="contactor open")
    assert rig.mcu.connector(1).pwm_mode is WirePwmMode.HIGH
    assert rig.mcu.link_timeouts == 0  # it was told, not timed out


@pytest.mark.asyncio
async def test_reset_rcd(rig: Rig) -> None:
    rig.mcu.set_rcd(1, True)
    await wait_for(lambda: rig.be.read(1).rcd_tripped, what="rcd")
    rig.be.reset_rcd(1)
    await wait_for(lambda: not rig.be.read(1).rcd_tripped, what="rcd reset")
