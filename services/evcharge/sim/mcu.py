"""A fake safety MCU: speaks docs/mcu-protocol.md over a pty (or any serial fd).

It stands in for the board's MCU in tests and on a developer's machine:

- holds the CP plateau voltages per connector that the "EV" presents (settable: `set_cp`),
  plus PP resistor, RCD and a welded-contactor switch;
- follows SetOutputs, with the MCU's own safety rules on top: it refuses to close a contactor
  (Nack NOT_ALLOWED, rest of the outputs applied) when latched safe, when the RCD tripped or when
  CP is not in C or D; it opens a closed contactor by itself when CP leaves C/D, when the RCD
  trips, and when it hears nothing from the host for `link_timeout_ms` (then it also stops the
  PWM and latches SAFE_STATE until the host sends SetOutputs with the contactor open);
- sends Status every `status_period_ms` and on every change, Hello at start and on GetStatus(0).

Run it by hand: `python -m evcharge.sim.mcu --link /tmp/evcharge-mcu` prints the pty and keeps
the symlink pointing at it; use that path as `mcu.port` in a board profile.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
import tty
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..board import mcu_protocol as proto
from ..board.mcu_protocol import StatusFlags, WirePwmMode

log = logging.getLogger(__name__)

FW_VERSION = "evcharge-sim-mcu 1"
# CP bands the MCU itself enforces for a closed contactor (C: 5..7 V, D: 2..4 V, with the
# hysteresis bands from IEC 61851-1 practice; see field notes).
CONTACTOR_CP_MIN_V = 1.5
CONTACTOR_CP_MAX_V = 7.5


@dataclass
class SimConnector:
    id: int
    # What the EV side presents on the positive plateau: 12 A, 9 B, 6 C, 3 D, 0 E.
    cp_high_v: float = 12.0
    cp_low_v: float = -12.0       # negative plateau; about -12 V while the EV diode is present
    pp_ohm: int | None = None     # None: tethered cable / nothing plugged
    rcd_tripped: bool = False
    welded: bool = False          # contactor feedback stays closed whatever is driven
    has_contactor_fb: bool = True
    has_lock_fb: bool = True
    # What the MCU drives:
    pwm_mode: WirePwmMode = WirePwmMode.HIGH
    duty_permille: int = 1000
    contactor: bool = False
    lock: bool = False

    def cp_allows_contactor(self) -> bool:
        return self.pwm_mode is WirePwmMode.PWM and CONTACTOR_CP_MIN_V <= self.cp_high_v <= CONTACTOR_CP_MAX_V

    def measured(self) -> tuple[float, float]:
        if self.pwm_mode is WirePwmMode.LOW:
            return -12.0, -12.0  # state F: the EVSE pulls CP to -12 V, nothing positive to see
        return self.cp_high_v, self.cp_low_v


class FakeMcu:
    def __init__(self, fd: int, connectors: Iterable[int] = (1,), *, link_timeout_ms: float = 500.0,
                 status_period_ms: float = 50.0, fw_version: str = FW_VERSION,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fd = fd
        self.connectors = {cid: SimConnector(cid) for cid in connectors}
        self.link_timeout_s = link_timeout_ms / 1000.0
        self.status_period_s = status_period_ms / 1000.0
        self.fw_version = fw_version
        self._clock = clock
        self.decoder = proto.StreamDecoder()
        self.received: deque[proto.Frame] = deque(maxlen=256)
        self.safe_state = False       # latched by a link timeout
        self.link_timeouts = 0
        self.muted = False            # stop transmitting (tests: host-side link timeout)
        self._last_rx: float | None = None
        self._last_sent: dict[int, proto.Status] = {}
        self._last_periodic = 0.0
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- test / user controls --------------------------------------------------------------

    def connector(self, cid: int) -> SimConnector:
        return self.connectors[cid]

    def set_cp(self, cid: int, high_v: float, low_v: float = -12.0) -> None:
        c = self.connectors[cid]
        c.cp_high_v, c.cp_low_v = high_v, low_v
        self._enforce()
        self._report_changes()

    def set_rcd(self, cid: int, tripped: bool) -> None:
        self.connectors[cid].rcd_tripped = tripped
        self._enforce()
        self._report_changes()

    def send_raw(self, data: bytes) -> None:
        """Put arbitrary bytes on the line (noise, partial frames)."""
        self._write(data)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        os.set_blocking(self.fd, False)
        self._loop.add_reader(self.fd, self._on_readable)
        self._send(proto.Hello(proto.PROTOCOL_VERSION, self.fw_version))
        self._task = asyncio.create_task(self._run(), name="fake-mcu")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._loop is not None:
            self._loop.remove_reader(self.fd)

    async def _run(self) -> None:
        tick = min(0.01, self.status_period_s / 2)
        while True:
            self._check_link()
            self._enforce()
            now = self._clock()
            if now - self._last_periodic >= self.status_period_s:
                self._last_periodic = now
                for cid in self.connectors:
                    self._send_status(cid)
            else:
                self._report_changes()
            await asyncio.sleep(tick)

    # ---- safety ----------------------------------------------------------------------------

    def _check_link(self) -> None:
        if self._last_rx is None or self.safe_state:
            return
        if self._clock() - self._last_rx > self.link_timeout_s:
            log.warning("fake MCU: no frame from host for %.0f ms: safe state", self.link_timeout_s * 1000)
            self.safe_state = True
            self.link_timeouts += 1
            for c in self.connectors.values():
                c.contactor = False
                c.pwm_mode, c.duty_permille = WirePwmMode.HIGH, 1000
            self._report_changes()

    def _enforce(self) -> None:
        for c in self.connectors.values():
            if c.contactor and (c.rcd_tripped or not c.cp_allows_contactor()):
                c.contactor = False

    # ---- receive ---------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:  # the host end closed: behave like a silent host
            assert self._loop is not None
            self._loop.remove_reader(self.fd)
            return
        for frame in self.decoder.feed(data):
            self._handle(frame)

    def _handle(self, frame: proto.Frame) -> None:
        self.received.append(frame)
        self._last_rx = self._clock()  # any valid host frame restarts the link timer
        m = frame.message
        if isinstance(m, proto.SetOutputs):
            self._set_outputs(frame.seq, m)
        elif isinstance(m, proto.Heartbeat):
            self._send(proto.Ack(frame.seq))
        elif isinstance(m, proto.GetStatus):
            if m.connector == 0:
                self._send(proto.Hello(proto.PROTOCOL_VERSION, self.fw_version))
                for cid in self.connectors:
                    self._send_status(cid)
            elif m.connector in self.connectors:
                self._send_status(m.connector)
            else:
                self._send(proto.Nack(frame.seq, proto.NackReason.BAD_CONNECTOR))
        elif isinstance(m, proto.ResetRcd):
            if m.connector not in self.connectors:
                self._send(proto.Nack(frame.seq, proto.NackReason.BAD_CONNECTOR))
            else:
                self.connectors[m.connector].rcd_tripped = False
                self._send(proto.Ack(frame.seq))
        else:  # an MCU->host type sent to us
            self._send(proto.Nack(frame.seq, proto.NackReason.UNKNOWN_TYPE))
        self._report_changes()

    def _set_outputs(self, seq: int, m: proto.SetOutputs) -> None:
        c = self.connectors.get(m.connector)
        if c is None:
            self._send(proto.Nack(seq, proto.NackReason.BAD_CONNECTOR))
            return
        if not m.contactor:
            # The host has seen the fault and asks for the contactor open: un-latch.
            self.safe_state = False
        c.pwm_mode, c.duty_permille, c.lock = WirePwmMode(m.pwm_mode), m.duty_permille, bool(m.lock)
        if m.contactor and (self.safe_state or c.rcd_tripped or not c.cp_allows_contactor()):
            c.contactor = False
            self._send(proto.Nack(seq, proto.NackReason.NOT_ALLOWED))
            return
        c.contactor = bool(m.contactor)
        self._send(proto.Ack(seq))

    # ---- transmit --------------------------------------------------------------------------

    def status_of(self, cid: int) -> proto.Status:
        c = self.connectors[cid]
        high, low = c.measured()
        flags = StatusFlags.NONE
        if self.safe_state:
            flags |= StatusFlags.SAFE_STATE
        if c.contactor:
            flags |= StatusFlags.CONTACTOR_DRIVEN
        if c.pwm_mode is WirePwmMode.PWM:
            flags |= StatusFlags.PWM_RUNNING
        fb = int(c.contactor or c.welded) if c.has_contactor_fb else proto.NO_FEEDBACK
        return proto.Status(
            connector=cid,
            cp_high_mv=_mv(high), cp_low_mv=_mv(low),
            pp_ohm=proto.NO_PP if c.pp_ohm is None else max(0, min(0xFFFE, int(c.pp_ohm))),
            contactor_fb=fb, rcd=int(c.rcd_tripped),
            lock_fb=int(c.lock) if c.has_lock_fb else proto.NO_FEEDBACK,
            flags=int(flags),
        )

    def _report_changes(self) -> None:
        for cid in self.connectors:
            if self.status_of(cid) != self._last_sent.get(cid):
                self._send_status(cid)

    def _send_status(self, cid: int) -> None:
        s = self.status_of(cid)
        self._last_sent[cid] = s
        self._send(s)

    def _send(self, msg: proto.Message) -> None:
        frame = proto.encode(msg, self._seq)
        self._seq = (self._seq + 1) & 0xFF
        self._write(frame)

    def _write(self, data: bytes) -> None:
        if self.muted:
            return
        try:
            os.write(self.fd, data)
        except OSError:
            # A UART transmits into the void when nobody listens; so do we.
            pass


def _mv(volts: float) -> int:
    return max(-0x8000, min(0x7FFF, round(volts * 1000.0)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fake evcharge safety MCU on a pseudo-terminal")
    ap.add_argument("--link", help="create this symlink to the pty (use it as mcu.port)")
    ap.add_argument("--connectors", type=int, default=1)
    ap.add_argument("--link-timeout-ms", type=float, default=500.0)
    ap.add_argument("--cp", type=float, default=12.0, help="CP positive plateau the EV presents (V)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    if args.link:
        if os.path.islink(args.link):
            os.unlink(args.link)
        os.symlink(path, args.link)
    print(f"fake MCU on {path}" + (f" (link {args.link})" if args.link else ""), flush=True)

    async def run() -> None:
        mcu = FakeMcu(master, range(1, args.connectors + 1), link_timeout_ms=args.link_timeout_ms)
        for cid in mcu.connectors:
            mcu.set_cp(cid, args.cp)
        await mcu.start()
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
