"""An RFID reader: a PN532 on a serial line (HSU), polled from the event loop.

Why no thread: the serial port is opened non-blocking and its fd watched with
`loop.add_reader`, so reading, timeouts and D-Bus signalling all run on one loop without locks.
Writes are a few dozen bytes per 200 ms, far below what the tty buffers, so a write either goes
out whole or the port is broken (and is then reopened).

Cycle: wake up (HSU preamble) + SAMConfiguration, limit the passive-activation retries so that
InListPassiveTarget answers "no card" at once, then poll for one type A target every 200 ms.
The reader is online while it answers; after a few unanswered polls it is offline and the cycle
starts again, reopening the port if it disappeared (a USB adapter unplugged and replugged).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

import serial

from . import pn532
from .debounce import TapDebouncer

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.2
ACK_TIMEOUT_S = 0.3
ANSWER_TIMEOUT_S = 1.0
MISSES_BEFORE_OFFLINE = 3
REOPEN_DELAY_S = 1.0
ABSENT_S = 1.0


class ReaderLost(Exception):
    """The reader stopped answering or its port went away."""


class Pn532Reader:
    def __init__(self, name: str, port: str, baudrate: int, *, on_tap: Callable[[str], None],
                 on_online: Callable[[bool], None], poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.name = name
        self.port = port
        self.baudrate = baudrate
        self.on_tap = on_tap
        self.on_online = on_online
        self.poll_interval_s = poll_interval_s
        self.online = False
        self._reported = False  # a reader that never answered is logged once, not never
        self._debounce = TapDebouncer(ABSENT_S)
        self._serial: serial.Serial | None = None
        self._parser = pn532.Parser()
        self._events: asyncio.Queue[pn532.Event | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._close()

    def _set_online(self, online: bool, why: str = "") -> None:
        if online != self.online or not self._reported:
            self._reported = True
            self.online = online
            if online:
                log.info("reader %s on %s online", self.name, self.port)
            else:
                log.warning("reader %s on %s offline: %s", self.name, self.port, why)
            self.on_online(online)

    async def _run(self) -> None:
        while True:
            try:
                self._open()
                await self._session()
            except (ReaderLost, OSError, serial.SerialException) as e:
                self._set_online(False, str(e) or type(e).__name__)
            finally:
                self._close()
            await asyncio.sleep(REOPEN_DELAY_S)

    def _open(self) -> None:
        # exclusive: a second process polling the same reader would corrupt both conversations.
        self._serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=0, exclusive=True)
        self._parser = pn532.Parser()
        self._events = asyncio.Queue()
        asyncio.get_running_loop().add_reader(self._serial.fileno(), self._on_readable)

    def _close(self) -> None:
        if self._serial is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._serial.fileno())
            except (ValueError, RuntimeError):
                pass
            self._serial.close()
            self._serial = None

    def _on_readable(self) -> None:
        assert self._serial is not None
        try:
            data = os.read(self._serial.fileno(), 512)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # hang-up: the device is gone
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
            self._events.put_nowait(None)
            return
        for event in self._parser.feed(data):
            self._events.put_nowait(event)

    async def _next_event(self, timeout_s: float) -> pn532.Event:
        event = await asyncio.wait_for(self._events.get(), timeout_s)
        if event is None:
            raise ReaderLost("serial port closed")
        return event

    def _write(self, data: bytes) -> None:
        assert self._serial is not None
        n = os.write(self._serial.fileno(), data)
        if n != len(data):
            raise ReaderLost(f"short write ({n} of {len(data)} bytes)")

    async def _exchange(self, frame: bytes, command: int, *, preamble: bytes = b"") -> pn532.Frame:
        """Send a command; the answer frame, or ReaderLost/TimeoutError."""
        while not self._events.empty():  # a late answer to an earlier, timed-out command
            if self._events.get_nowait() is None:
                raise ReaderLost("serial port closed")
        self._write(preamble + frame)
        event = await self._next_event(ACK_TIMEOUT_S)
        if not isinstance(event, pn532.Ack):
            raise pn532.FrameError(f"expected ACK, got {event}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT_S
        while True:
            event = await self._next_event(max(0.0, deadline - loop.time()))
            if isinstance(event, pn532.Frame):
                pn532.expect_response(event, command)
                return event
            if isinstance(event, pn532.ErrorFrame):
                raise pn532.FrameError("PN532 reported a frame error")

    async def _session(self) -> None:
        misses = 0
        initialised = False
        while True:
            try:
                if not initialised:
                    await self._exchange(pn532.sam_configuration(), pn532.Command.SAM_CONFIGURATION,
                                         preamble=pn532.HSU_WAKEUP)
                    await self._exchange(pn532.rf_retries(), pn532.Command.RF_CONFIGURATION)
                    initialised = True
                answer = await self._exchange(pn532.in_list_passive_target_106a(),
                                              pn532.Command.IN_LIST_PASSIVE_TARGET)
                targets = pn532.parse_in_list_passive_target_106a(answer)
            except (TimeoutError, pn532.FrameError) as e:
                misses += 1
                if misses >= MISSES_BEFORE_OFFLINE:
                    why = str(e) or "no answer in time"
                    raise ReaderLost(f"no valid answer to {misses} commands in a row ({why})") from None
                # After a lost frame the PN532 may be mid-command or asleep: start over.
                initialised = False
                await asyncio.sleep(self.poll_interval_s)
                continue
            misses = 0
            self._set_online(True)
            for target in targets[:1]:
                if self._debounce.seen(target.uid_hex, time.monotonic()):
                    self.on_tap(target.uid_hex)
            await asyncio.sleep(self.poll_interval_s)
