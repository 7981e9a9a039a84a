"""NXP PN532 host-interface frames and the commands a card reader needs. Pure: bytes in, bytes out.

Frames (PN532 User Manual, 6.2.1):
  normal    00 00 FF LEN LCS TFI PD0..PDn DCS 00       LEN = 1 + n+1, LEN+LCS = 0 (mod 256)
  extended  00 00 FF FF FF LENM LENL LCS TFI PD.. DCS 00   LENM+LENL+LCS = 0
  ACK       00 00 FF 00 FF 00        NACK  00 00 FF FF 00 00
  error     00 00 FF 01 FF 7F 81 00  (syntax error at application level)
TFI is D4 host->PN532 and D5 PN532->host; TFI+PD0+..+PDn+DCS = 0. The answer to command C is
D5 C+1.

The parser is fed whatever the serial port delivers (partial frames, line noise, several frames
at once). It looks for the start code 00 FF, checks both checksums, and on any mismatch skips
one byte and searches again, so a corrupted frame costs only itself. It never raises.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

HOST_TO_PN532 = 0xD4
PN532_TO_HOST = 0xD5
START = b"\x00\xff"
ACK_FRAME = b"\x00\x00\xff\x00\xff\x00"
NACK_FRAME = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"
# HSU wake-up (User Manual 7.2.11): a long run of 0x55 lets the PN532 leave power-down before
# the first command; the zeros pad it past the wake-up delay.
HSU_WAKEUP = b"\x55\x55" + b"\x00" * 14
MAX_NORMAL_DATA = 254   # LEN counts TFI too and is at most 255
MAX_EXTENDED_DATA = 264  # the PN532's own buffer limit (265 bytes incl. TFI)


class Command(enum.IntEnum):
    GET_FIRMWARE_VERSION = 0x02
    SAM_CONFIGURATION = 0x14
    RF_CONFIGURATION = 0x32
    IN_LIST_PASSIVE_TARGET = 0x4A
    IN_RELEASE = 0x52


class FrameError(ValueError):
    """A frame or answer that does not mean what we asked for."""


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Nack:
    pass


@dataclass(frozen=True)
class ErrorFrame:
    """The PN532 could not make sense of the last frame it received."""


@dataclass(frozen=True)
class Frame:
    tfi: int
    data: bytes  # PD0..PDn: the command or response code, then its parameters


Event = Ack | Nack | ErrorFrame | Frame


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def encode(data: bytes, tfi: int = HOST_TO_PN532) -> bytes:
    """One information frame; extended when `data` does not fit a normal one."""
    if not data:
        raise FrameError("a frame carries at least a command code")
    if len(data) > MAX_EXTENDED_DATA:
        raise FrameError(f"at most {MAX_EXTENDED_DATA} data bytes, got {len(data)}")
    body = bytes([tfi]) + data
    n = len(body)
    if n <= MAX_NORMAL_DATA + 1:
        head = bytes([0x00, 0x00, 0xFF, n, (-n) & 0xFF])
    else:
        hi, lo = n >> 8, n & 0xFF
        head = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, hi, lo, (-(hi + lo)) & 0xFF])
    return head + body + bytes([_checksum(body), 0x00])


def encode_event(event: Event) -> bytes:
    if isinstance(event, Ack):
        return ACK_FRAME
    if isinstance(event, Nack):
        return NACK_FRAME
    if isinstance(event, ErrorFrame):
        return ERROR_FRAME
    return encode(event.data, event.tfi)


class Parser:
    """Streaming decoder: feed() bytes, iterate events."""

    # Longer than any valid frame: a buffer this long without a frame is noise.
    MAX_BUFFER = 2 * (MAX_EXTENDED_DATA + 16)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        return list(self._drain())

    def _drain(self) -> Iterator[Event]:
        buf = self._buf
        while True:
            i = buf.find(START)
            if i < 0:
                # Keep a trailing 00: it may be the first half of a start code.
                del buf[:max(0, len(buf) - 1)]
                return
            del buf[:i]
            result = self._parse_at_start(buf)
            if result is None:  # incomplete: wait for more bytes
                if len(buf) > self.MAX_BUFFER:
                    del buf[:1]
                    continue
                return
            consumed, event = result
            if event is None:  # not a frame after all: resync one byte further
                del buf[:1]
                continue
            del buf[:consumed]
            yield event

    @staticmethod
    def _parse_at_start(buf: bytearray) -> tuple[int, Event | None] | None:
        """(bytes consumed, event or None for garbage) for a buffer starting with 00 FF; None if short."""
        if len(buf) < 4:
            return None
        length, lcs = buf[2], buf[3]
        if length == 0x00 and lcs == 0xFF:
            return 4, Ack()
        if length == 0xFF and lcs == 0x00:
            return 4, Nack()
        if length == 0xFF and lcs == 0xFF:
            if len(buf) < 7:
                return None
            hi, lo, xlcs = buf[4], buf[5], buf[6]
            if (hi + lo + xlcs) & 0xFF or not 1 <= (hi << 8 | lo) <= MAX_EXTENDED_DATA + 1:
                return 0, None
            n, start = hi << 8 | lo, 7
        else:
            if (length + lcs) & 0xFF or length == 0:
                return 0, None
            n, start = length, 4
        if len(buf) < start + n + 1:
            return None
        body = bytes(buf[start:start + n])
        if (sum(body) + buf[start + n]) & 0xFF:
            return 0, None
        consumed = start + n + 1
        if n == 1 and body[0] == 0x7F:
            return consumed, ErrorFrame()
        if n < 2:
            return 0, None  # a TFI without a command code is not an information frame
        return consumed, Frame(body[0], body[1:])


# --- commands (host side) ---

def get_firmware_version() -> bytes:
    return encode(bytes([Command.GET_FIRMWARE_VERSION]))


def sam_configuration(mode: int = 0x01, timeout: int = 0x14, use_irq: bool = False) -> bytes:
    """Normal mode: no SAM; the PN532 acts as a plain reader."""
    return encode(bytes([Command.SAM_CONFIGURATION, mode, timeout, 0x01 if use_irq else 0x00]))


def rf_retries(passive_activation: int = 0x01) -> bytes:
    """RFConfiguration item 5 (MaxRetries). The default 0xFF makes InListPassiveTarget wait
    forever for a card; a small count makes it answer NbTg=0 at once, so polling works."""
    return encode(bytes([Command.RF_CONFIGURATION, 0x05, 0xFF, 0x01, passive_activation & 0xFF]))


def in_list_passive_target_106a(max_targets: int = 1) -> bytes:
    return encode(bytes([Command.IN_LIST_PASSIVE_TARGET, max_targets, 0x00]))


def response_code(command: int) -> int:
    return command + 1


@dataclass(frozen=True)
class FirmwareVersion:
    ic: int
    version: int
    revision: int
    support: int


@dataclass(frozen=True)
class TargetA:
    """One ISO/IEC 14443 type A target from InListPassiveTarget at 106 kbps."""

    tg: int
    sens_res: int
    sel_res: int
    uid: bytes
    ats: bytes = b""

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()


def expect_response(frame: Frame, command: int) -> bytes:
    """The parameters of `frame` if it answers `command`; else FrameError."""
    if frame.tfi != PN532_TO_HOST or not frame.data or frame.data[0] != response_code(command):
        raise FrameError(f"expected the answer to command 0x{command:02X}, got TFI 0x{frame.tfi:02X} "
                         f"data {frame.data.hex()}")
    return frame.data[1:]


def parse_firmware_version(frame: Frame) -> FirmwareVersion:
    p = expect_response(frame, Command.GET_FIRMWARE_VERSION)
    if len(p) != 4:
        raise FrameError(f"GetFirmwareVersion answer has {len(p)} bytes, expected 4")
    return FirmwareVersion(*p)


def parse_in_list_passive_target_106a(frame: Frame) -> list[TargetA]:
    p = expect_response(frame, Command.IN_LIST_PASSIVE_TARGET)
    if not p:
        raise FrameError("InListPassiveTarget answer without NbTg")
    count, i, targets = p[0], 1, []
    if count > 2:
        raise FrameError(f"NbTg {count} > 2")
    for _ in range(count):
        if len(p) < i + 5:
            raise FrameError("InListPassiveTarget answer truncated in target header")
        tg, sens_res, sel_res, uid_len = p[i], p[i + 1] << 8 | p[i + 2], p[i + 3], p[i + 4]
        i += 5
        if uid_len not in (4, 7, 10) or len(p) < i + uid_len:
            raise FrameError(f"bad NFCID1 length {uid_len}")
        uid = bytes(p[i:i + uid_len])
        i += uid_len
        ats = b""
        if sel_res & 0x20:  # ISO/IEC 14443-4 compliant: the answer carries the ATS
            if len(p) < i + 1 or p[i] < 1 or len(p) < i + p[i]:
                raise FrameError("InListPassiveTarget answer truncated in ATS")
            ats = bytes(p[i:i + p[i]])
            i += p[i]
        targets.append(TargetA(tg, sens_res, sel_res, uid, ats))
    return targets


# --- answers (PN532 side, for the simulator and tests) ---

def answer(command: int, params: bytes = b"") -> bytes:
    return encode(bytes([response_code(command)]) + params, PN532_TO_HOST)


def target_a_params(targets: list[TargetA]) -> bytes:
    out = bytearray([len(targets)])
    for t in targets:
        out += bytes([t.tg, t.sens_res >> 8, t.sens_res & 0xFF, t.sel_res, len(t.uid)]) + t.uid + t.ats
    return bytes(out)
