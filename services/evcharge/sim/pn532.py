"""A simulated NXP PN532 card reader on the master side of a pseudo-terminal.

The auth service opens the slave side as if it were the reader's serial port. The simulator
answers the commands a reader uses (GetFirmwareVersion, SAMConfiguration, RFConfiguration,
InListPassiveTarget at 106 kbps type A, InRelease) with an ACK and the answer, exactly framed;
anything else gets the PN532's error frame. `present(uid)` puts a card on the reader,
`remove()` takes it away, `silent = True` makes the reader stop answering (a dead reader).

Standalone (SIL): `python -m evcharge.sim.pn532` creates a pty, prints the slave's path to put
in auth.yaml as `serial_port`, then reads `present <uid>` / `remove` / `quit` lines on stdin.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tty

from evcharge.auth import pn532

log = logging.getLogger(__name__)

FIRMWARE = (0x32, 0x01, 0x06, 0x07)  # IC PN532, v1.6, supports ISO 14443 A + B + 18092


class FakePn532:
    def __init__(self, fd: int) -> None:
        """`fd`: the pty master (or any fd that reaches the host's serial port)."""
        self.fd = fd
        self.uid: bytes | None = None
        self.silent = False
        self.commands: list[int] = []  # command codes received, for tests
        self._parser = pn532.Parser()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        os.set_blocking(self.fd, False)
        self._loop.add_reader(self.fd, self._on_readable)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None

    def present(self, uid: str) -> None:
        self.uid = bytes.fromhex(uid)
        if len(self.uid) not in (4, 7, 10):
            raise ValueError("an ISO 14443 UID has 4, 7 or 10 bytes")

    def remove(self) -> None:
        self.uid = None

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 1024)
        except BlockingIOError:
            return
        except OSError:  # EIO while no process holds the slave open: nothing to answer
            return
        for event in self._parser.feed(data):
            if isinstance(event, pn532.Frame) and event.tfi == pn532.HOST_TO_PN532 and not self.silent:
                self._send(pn532.ACK_FRAME + self.answer(event.data))

    def answer(self, data: bytes) -> bytes:
        """The framed answer to one command (PD0 = command code)."""
        command, params = data[0], data[1:]
        self.commands.append(command)
        if command == pn532.Command.GET_FIRMWARE_VERSION:
            return pn532.answer(command, bytes(FIRMWARE))
        if command in (pn532.Command.SAM_CONFIGURATION, pn532.Command.RF_CONFIGURATION):
            return pn532.answer(command)
        if command == pn532.Command.IN_RELEASE:
            return pn532.answer(command, b"\x00")
        if command == pn532.Command.IN_LIST_PASSIVE_TARGET and params[1:2] == b"\x00":
            targets = []
            if self.uid is not None:
                # SENS_RES says the UID size (single/double/triple); SAK 08 = MIFARE Classic 1K.
                sens_res = {4: 0x0004, 7: 0x0044, 10: 0x0084}[len(self.uid)]
                targets.append(pn532.TargetA(1, sens_res, 0x08, self.uid))
            return pn532.answer(command, pn532.target_a_params(targets))
        return pn532.ERROR_FRAME

    def _send(self, data: bytes) -> None:
        try:
            os.write(self.fd, data)
        except OSError as e:
            log.warning("fake PN532 cannot write: %s", e)


def open_pty() -> tuple[int, int, str]:
    """(master fd, slave fd, slave path) with the slave in raw mode, as a serial port would be."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


async def _main() -> None:
    master, _slave, path = open_pty()  # keep the slave open: a pty without one reads EIO
    reader = FakePn532(master)
    reader.start()
    print(path, flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        words = line.split()
        if not line or words[:1] == ["quit"]:
            return
        try:
            if words[0] == "present" and len(words) == 2:
                reader.present(words[1])
            elif words[0] == "remove":
                reader.remove()
            else:
                print("commands: present <uid hex> | remove | quit", flush=True)
        except (ValueError, IndexError) as e:
            print(f"error: {e}", flush=True)


if __name__ == "__main__":
    asyncio.run(_main())
