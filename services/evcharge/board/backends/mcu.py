"""The `mcu` board backend: a safety MCU generates the CP PWM, samples CP/PP and drives the relays.

Linux only sends the wanted outputs and keeps the MCU's latest Status (docs/mcu-protocol.md).
The MCU is the last line of defence: if this process stalls it hears nothing for
`link_timeout_ms` and opens the contactors itself. In the other direction, no Status for
`link_timeout_ms` makes `link_ok` False and the board controller faults safe.

Serial port: pyserial, used only to open and configure the port (baud rate, raw mode) and to take
an exclusive lock (`exclusive=True`: TIOCEXCL + flock), so a second board service cannot talk to
the same MCU. The I/O itself is `os.read`/`os.write` on its non-blocking fd registered with
`loop.add_reader`, which keeps one thread and one loop, and needs no pyserial-asyncio.
python-periphery's Serial would do the same job but has no exclusive-open option and is built
around blocking reads with timeouts.

Writes: every change of outputs is sent at once; unchanged outputs are resent every
link_timeout/3 so the MCU's timer never expires while we are alive. If the port vanishes (USB
unplugged, MCU reset), the backend closes it, reports the link down and reopens it every
`reopen_interval_ms`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from .. import mcu_protocol as proto
from ..profile import BoardProfile
from .base import SAFE_OUTPUTS, BackendError, BoardBackend, ConnectorInputs, ConnectorOutputs, PwmMode
from .mcu_config import McuLink

log = logging.getLogger(__name__)

_WIRE_MODE = {PwmMode.HIGH: proto.WirePwmMode.HIGH, PwmMode.PWM: proto.WirePwmMode.PWM,
              PwmMode.LOW: proto.WirePwmMode.LOW}
# A few hundred frames; more pending than this means the MCU is not reading and the data is stale.
MAX_TX_BACKLOG = 4096
# Until the first Status arrives: 0 V is state E, which no controller charges on.
NO_STATUS = ConnectorInputs(cp_high_v=0.0, cp_low_v=0.0)


def outputs_to_wire(connector_id: int, outputs: ConnectorOutputs) -> proto.SetOutputs:
    if outputs.pwm_mode is PwmMode.PWM:
        if not math.isfinite(outputs.duty_pct) or not 0.0 <= outputs.duty_pct <= 100.0:
            raise BackendError(f"connector {connector_id}: duty {outputs.duty_pct!r} % is not within 0..100")
        permille = round(outputs.duty_pct * 10.0)
    else:
        # Canonical values for steady levels, so a duty change in HIGH/LOW is not a change.
        permille = 1000 if outputs.pwm_mode is PwmMode.HIGH else 0
    return proto.SetOutputs(connector=connector_id, pwm_mode=int(_WIRE_MODE[outputs.pwm_mode]),
                            duty_permille=permille, contactor=int(outputs.contactor),
                            lock=int(outputs.lock))


def status_to_inputs(s: proto.Status) -> ConnectorInputs:
    return ConnectorInputs(
        cp_high_v=s.cp_high_mv / 1000.0,
        cp_low_v=s.cp_low_mv / 1000.0,
        pp_ohm=None if s.pp_ohm == proto.NO_PP else float(s.pp_ohm),
        contactor_closed=None if s.contactor_fb == proto.NO_FEEDBACK else bool(s.contactor_fb),
        rcd_tripped=bool(s.rcd),
        locked=None if s.lock_fb == proto.NO_FEEDBACK else bool(s.lock_fb),
    )


@dataclass
class McuLinkStats:
    opens: int = 0
    losses: int = 0          # port vanished / read error
    timeouts: int = 0        # link_ok went False because Status stopped
    tx_frames: int = 0
    tx_dropped: int = 0      # frames dropped because the MCU did not drain the line
    rx_status: int = 0
    acks: int = 0
    nacks: int = 0
    foreign_connector: int = 0  # Status for a connector the profile does not have


class McuBackend(BoardBackend):
    def __init__(self, profile: BoardProfile, *, clock: Callable[[], float] = time.monotonic) -> None:
        if profile.mcu is None:
            raise BackendError(f"board {profile.name!r}: the mcu backend needs an 'mcu:' section")
        self.profile = profile
        self.link: McuLink = profile.mcu
        self._clock = clock
        self._timeout_s = self.link.link_timeout_ms / 1000.0
        self._keepalive_s = self._timeout_s / 3.0
        # The supervisor tick bounds how late a keep-alive or a timeout is noticed.
        self._tick_s = max(0.005, self._timeout_s / 10.0)
        self._ids = [c.id for c in profile.connectors]
        self._desired: dict[int, ConnectorOutputs] = {cid: SAFE_OUTPUTS for cid in self._ids}
        self._sent: dict[int, tuple[proto.SetOutputs, float]] = {}
        self._status: dict[int, proto.Status] = {}
        self._last_rx: float | None = None
        self._was_ok = False
        self._hello: proto.Hello | None = None
        self._incompatible = False
        self._seq = 0
        self._ser: serial.Serial | None = None
        self._fd: int | None = None
        self._tx = bytearray()
        self._decoder = proto.StreamDecoder()
        self._on_input: Callable[[int], None] = lambda cid: None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_open = 0.0
        self._open_error: str | None = None
        self.stats = McuLinkStats()

    # ---- BoardBackend ---------------------------------------------------------------------

    async def start(self, on_input: Callable[[int], None]) -> None:
        self._on_input = on_input
        self._loop = asyncio.get_running_loop()
        # A port that is not there yet (USB MCU still enumerating) is not fatal: link_ok stays
        # False, the controller stays safe, and the supervisor keeps trying.
        self._try_open()
        self._task = asyncio.create_task(self._supervise(), name="mcu-link")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._fd is not None:
            for cid in self._ids:
                self._desired[cid] = SAFE_OUTPUTS
                self._send(outputs_to_wire(cid, SAFE_OUTPUTS))
            await self._drain(0.2)
        self._close()
        self._was_ok = False

    def read(self, connector_id: int) -> ConnectorInputs:
        self._check_id(connector_id)
        s = self._status.get(connector_id)
        return NO_STATUS if s is None else status_to_inputs(s)

    def apply(self, connector_id: int, outputs: ConnectorOutputs) -> None:
        self._check_id(connector_id)
        msg = outputs_to_wire(connector_id, outputs)
        self._desired[connector_id] = outputs
        if self._fd is None:
            return  # sent on (re)connect
        last = self._sent.get(connector_id)
        if last is None or last[0] != msg:
            self._send_outputs(connector_id, msg)

    @property
    def link_ok(self) -> bool:
        return (self._fd is not None and not self._incompatible and self._last_rx is not None
                and self._clock() - self._last_rx <= self._timeout_s)

    # ---- extras for the board service / tests ---------------------------------------------

    def reset_rcd(self, connector_id: int) -> None:
        self._check_id(connector_id)
        if self._fd is None:
            raise BackendError(f"connector {connector_id}: MCU link on {self.link.port} is down")
        self._send(proto.ResetRcd(connector_id))

    @property
    def hello(self) -> proto.Hello | None:
        return self._hello

    @property
    def decoder_stats(self) -> proto.DecoderStats:
        return self._decoder.stats

    @property
    def mcu_flags(self) -> dict[int, proto.StatusFlags]:
        return {cid: proto.StatusFlags(s.flags) for cid, s in self._status.items()}

    @property
    def open_error(self) -> str | None:
        return self._open_error

    # ---- internals -------------------------------------------------------------------------

    def _check_id(self, connector_id: int) -> None:
        if connector_id not in self._desired:
            raise BackendError(f"connector {connector_id}: not in board profile {self.profile.name!r}")

    def _try_open(self) -> None:
        assert self._loop is not None
        try:
            ser = serial.Serial(self.link.port, self.link.baudrate, timeout=0, write_timeout=0,
                                exclusive=True)
        except (serial.SerialException, OSError, ValueError) as e:
            msg = f"MCU port {self.link.port}: {e}"
            if msg != self._open_error:
                log.error("%s (retrying every %.0f ms)", msg, self.link.reopen_interval_ms)
            self._open_error = msg
            self._next_open = self._clock() + self.link.reopen_interval_ms / 1000.0
            return
        self._open_error = None
        self._ser = ser
        self._fd = ser.fileno()
        os.set_blocking(self._fd, False)
        self._decoder = proto.StreamDecoder()
        self._tx.clear()
        self._sent.clear()
        self._last_rx = None
        self._loop.add_reader(self._fd, self._on_readable)
        self.stats.opens += 1
        log.info("MCU port %s open at %d baud", self.link.port, self.link.baudrate)
        # A lone delimiter ends whatever partial frame the MCU holds; then ask for Hello + Status
        # and state what we want, so the MCU never acts on outputs from before our restart.
        self._write(b"\x00")
        self._send(proto.GetStatus(0))
        now = self._clock()
        for cid in self._ids:
            self._send_outputs(cid, outputs_to_wire(cid, self._desired[cid]), now)

    def _close(self) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        if self._ser is not None:
            try:
                self._ser.close()
            except (OSError, serial.SerialException) as e:  # already gone: nothing left to release
                log.debug("closing %s: %s", self.link.port, e)
        self._ser = None
        self._fd = None
        self._tx.clear()
        self._status.clear()
        self._last_rx = None
        self._hello = None
        self._incompatible = False

    def _lost(self, reason: str) -> None:
        log.error("MCU port %s lost: %s", self.link.port, reason)
        self.stats.losses += 1
        self._close()
        self._next_open = self._clock() + self.link.reopen_interval_ms / 1000.0
        self._notify_link()

    def _notify_link(self) -> None:
        ok = self.link_ok
        if ok != self._was_ok:
            self._was_ok = ok
            if not ok:
                log.error("MCU link on %s down: no Status for %.0f ms", self.link.port, self.link.link_timeout_ms)
            for cid in self._ids:
                self._on_input(cid)

    async def _supervise(self) -> None:
        while True:
            now = self._clock()
            if self._fd is None:
                if now >= self._next_open:
                    self._try_open()
            else:
                for cid in self._ids:
                    sent = self._sent.get(cid)
                    # "- tick" keeps the worst-case gap at link_timeout/3 despite tick granularity.
                    if sent is None or now - sent[1] >= self._keepalive_s - self._tick_s:
                        self._send_outputs(cid, outputs_to_wire(cid, self._desired[cid]), now)
            if self._was_ok and not self.link_ok and self._fd is not None:
                self.stats.timeouts += 1
            self._notify_link()
            await asyncio.sleep(self._tick_s)

    def _send_outputs(self, cid: int, msg: proto.SetOutputs, now: float | None = None) -> None:
        self._sent[cid] = (msg, self._clock() if now is None else now)
        self._send(msg)

    def _send(self, msg: proto.Message) -> None:
        frame = proto.encode(msg, self._seq)
        self._seq = (self._seq + 1) & 0xFF
        self.stats.tx_frames += 1
        self._write(frame)

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            return
        if self._tx:
            if len(self._tx) + len(data) > MAX_TX_BACKLOG:
                self.stats.tx_dropped += 1
                return
            self._tx += data
            return
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._lost(f"write: {e}")
            return
        if n < len(data):
            self._tx += data[n:]
            assert self._loop is not None
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        if self._fd is None:
            return
        try:
            n = os.write(self._fd, self._tx)
        except BlockingIOError:
            return
        except OSError as e:
            self._lost(f"write: {e}")
            return
        del self._tx[:n]
        if not self._tx and self._loop is not None:
            self._loop.remove_writer(self._fd)

    async def _drain(self, timeout_s: float) -> None:
        deadline = self._clock() + timeout_s
        while self._tx and self._fd is not None and self._clock() < deadline:
            await asyncio.sleep(0.005)

    def _on_readable(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: USB serial unplugged, pty master closed
            self._lost(f"read: {e}")
            return
        if not data:
            self._lost("end of file")
            return
        for frame in self._decoder.feed(data):
            self._handle(frame)

    def _handle(self, frame: proto.Frame) -> None:
        m = frame.message
        if isinstance(m, proto.Status):
            self._on_status(m)
        elif isinstance(m, proto.Ack):
            self.stats.acks += 1
        elif isinstance(m, proto.Nack):
            self.stats.nacks += 1
            reason = proto.NackReason(m.reason).name
            log.warning("MCU refused frame seq %d: %s", m.seq, reason)
        elif isinstance(m, proto.Hello):
            self._hello = m
            self._incompatible = m.protocol_version != proto.PROTOCOL_VERSION
            if self._incompatible:
                self._status.clear()
                self._last_rx = None
                log.error("MCU on %s speaks protocol %d, we speak %d: link refused", self.link.port,
                          m.protocol_version, proto.PROTOCOL_VERSION)
            else:
                log.info("MCU on %s: firmware %s, protocol %d", self.link.port, m.fw_version, m.protocol_version)
            self._notify_link()
        # Host-bound frames only; a host->MCU type echoed back (loopback wiring) is ignored.

    def _on_status(self, s: proto.Status) -> None:
        if s.connector not in self._desired:
            self.stats.foreign_connector += 1
            return
        if self._incompatible:
            return
        self.stats.rx_status += 1
        self._last_rx = self._clock()
        changed = self._status.get(s.connector) != s
        self._status[s.connector] = s
        if self.link_ok != self._was_ok:
            self._notify_link()  # tells every connector, this one included
        elif changed:
            self._on_input(s.connector)
