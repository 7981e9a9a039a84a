"""The framed serial protocol between the board service and a safety MCU (pure, no I/O).

Wire format (see docs/mcu-protocol.md for the full table and the timing rules):

    frame   = COBS(payload) 0x00
    payload = type:u8  seq:u8  body  crc32:u32 LE      (CRC-32/ISO-HDLC over type+seq+body)

COBS removes every 0x00 from the payload, so 0x00 only ever marks the end of a frame and a
receiver that starts mid-stream, or meets line noise, resynchronises at the next 0x00. The CRC
catches what COBS cannot (flipped bits). Bodies have a fixed length per type (only `Hello` has a
variable tail) and every field is range-checked, so a frame that decodes is exactly one the
encoder could have produced: `encode(decode(frame)) == frame`.

`StreamDecoder` never raises on input: it counts what it rejected in `DecoderStats`.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

PROTOCOL_VERSION = 1

# Largest payload (type+seq+body+crc) either side may send. Small on purpose: an MCU receive
# buffer is a few hundred bytes, and a bound lets the decoder drop runaway garbage early.
MAX_PAYLOAD = 64
# COBS adds one byte per 254 and one at the start; anything longer than this cannot be a frame.
MAX_ENCODED = MAX_PAYLOAD + MAX_PAYLOAD // 254 + 1
MAX_FW_VERSION = MAX_PAYLOAD - 2 - 1 - 4  # Hello: type, seq, protocol_version, crc

_HEADER = struct.Struct("<BB")
_CRC = struct.Struct("<I")

NO_PP = 0xFFFF      # pp_ohm: no proximity resistor measured (tethered cable or nothing plugged)
NO_FEEDBACK = 0xFF  # contactor_fb / lock_fb: the board has no such feedback


class MsgType(enum.IntEnum):
    # host -> MCU
    SET_OUTPUTS = 0x01
    HEARTBEAT = 0x02
    GET_STATUS = 0x03
    RESET_RCD = 0x04
    # MCU -> host (high bit set, so a frame's direction is visible in a capture)
    HELLO = 0x80
    STATUS = 0x81
    ACK = 0x82
    NACK = 0x83


class WirePwmMode(enum.IntEnum):
    HIGH = 0  # steady +12 V (X1)
    PWM = 1   # 1 kHz at duty_permille
    LOW = 2   # steady -12 V (state F)


class NackReason(enum.IntEnum):
    BAD_CONNECTOR = 1   # no such connector on this MCU
    BAD_VALUE = 2       # a field out of range
    NOT_ALLOWED = 3     # the MCU's own safety refuses it (e.g. close contactor in safe state / CP not C or D)
    BUSY = 4
    UNKNOWN_TYPE = 5


class StatusFlags(enum.IntFlag):
    NONE = 0
    SAFE_STATE = 0x01       # the MCU opened the contactor on its own (link timeout); latched
    CONTACTOR_DRIVEN = 0x02  # what the MCU actually drives (may differ from what was asked)
    PWM_RUNNING = 0x04
    WATCHDOG_RESET = 0x08   # the MCU restarted from its watchdog since the last Hello


class ProtocolValueError(ValueError):
    """A field that does not fit the wire format (encoder) or a frame with a bad field (decoder)."""


def _u8(name: str, v: int) -> None:
    if not 0 <= v <= 0xFF:
        raise ProtocolValueError(f"{name} must be 0..255, got {v}")


def _bool8(name: str, v: int) -> None:
    if v not in (0, 1):
        raise ProtocolValueError(f"{name} must be 0 or 1, got {v}")


def _opt_bool8(name: str, v: int) -> None:
    if v not in (0, 1, NO_FEEDBACK):
        raise ProtocolValueError(f"{name} must be 0, 1 or 0xFF, got {v}")


class Message:
    """Base of every message; subclasses are frozen dataclasses with a fixed-layout body."""

    TYPE: ClassVar[MsgType]

    def pack_body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def unpack_body(cls, body: bytes) -> Message:
        raise NotImplementedError

    def check(self) -> None:
        """Raise ProtocolValueError when a field is out of its range."""


class _Fixed(Message):
    """A message whose body is one struct."""

    FMT: ClassVar[struct.Struct]

    def _fields(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))  # type: ignore[arg-type]

    def pack_body(self) -> bytes:
        self.check()
        try:
            return self.FMT.pack(*self._fields())
        except struct.error as e:
            raise ProtocolValueError(f"{type(self).__name__}: {e}") from None

    @classmethod
    def unpack_body(cls, body: bytes) -> Message:
        if len(body) != cls.FMT.size:
            raise _LengthError(f"{cls.__name__}: body is {len(body)} bytes, expected {cls.FMT.size}")
        msg = cls(*cls.FMT.unpack(body))  # type: ignore[call-arg]
        msg.check()
        return msg


# ---- host -> MCU ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SetOutputs(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.SET_OUTPUTS
    FMT: ClassVar[struct.Struct] = struct.Struct("<BBHBB")
    connector: int
    pwm_mode: int           # WirePwmMode
    duty_permille: int      # 0..1000; meaningful in PWM mode
    contactor: int          # 0 open, 1 closed
    lock: int               # 0 unlock, 1 lock

    def check(self) -> None:
        _u8("connector", self.connector)
        if self.pwm_mode not in WirePwmMode._value2member_map_:
            raise ProtocolValueError(f"pwm_mode must be 0, 1 or 2, got {self.pwm_mode}")
        if not 0 <= self.duty_permille <= 1000:
            raise ProtocolValueError(f"duty_permille must be 0..1000, got {self.duty_permille}")
        _bool8("contactor", self.contactor)
        _bool8("lock", self.lock)


@dataclass(frozen=True)
class Heartbeat(_Fixed):
    """Keep-alive with a nonce the MCU acks; any valid host frame restarts the MCU's link timer."""

    TYPE: ClassVar[MsgType] = MsgType.HEARTBEAT
    FMT: ClassVar[struct.Struct] = struct.Struct("<I")
    nonce: int = 0

    def check(self) -> None:
        if not 0 <= self.nonce <= 0xFFFFFFFF:
            raise ProtocolValueError(f"nonce must be a u32, got {self.nonce}")


@dataclass(frozen=True)
class GetStatus(_Fixed):
    """Ask for Status now. connector 0 = every connector, and the MCU sends Hello first."""

    TYPE: ClassVar[MsgType] = MsgType.GET_STATUS
    FMT: ClassVar[struct.Struct] = struct.Struct("<B")
    connector: int = 0

    def check(self) -> None:
        _u8("connector", self.connector)


@dataclass(frozen=True)
class ResetRcd(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.RESET_RCD
    FMT: ClassVar[struct.Struct] = struct.Struct("<B")
    connector: int

    def check(self) -> None:
        _u8("connector", self.connector)


# ---- MCU -> host ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Status(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.STATUS
    FMT: ClassVar[struct.Struct] = struct.Struct("<BhhHBBBB")
    connector: int
    cp_high_mv: int         # positive plateau, millivolts
    cp_low_mv: int          # negative plateau, millivolts
    pp_ohm: int = NO_PP
    contactor_fb: int = NO_FEEDBACK
    rcd: int = 0            # 1 = residual current device tripped
    lock_fb: int = NO_FEEDBACK
    flags: int = 0          # StatusFlags

    def check(self) -> None:
        _u8("connector", self.connector)
        for name in ("cp_high_mv", "cp_low_mv"):
            v = getattr(self, name)
            if not -0x8000 <= v <= 0x7FFF:
                raise ProtocolValueError(f"{name} must fit an i16, got {v}")
        if not 0 <= self.pp_ohm <= 0xFFFF:
            raise ProtocolValueError(f"pp_ohm must be a u16, got {self.pp_ohm}")
        _opt_bool8("contactor_fb", self.contactor_fb)
        _bool8("rcd", self.rcd)
        _opt_bool8("lock_fb", self.lock_fb)
        _u8("flags", self.flags)


@dataclass(frozen=True)
class Ack(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.ACK
    FMT: ClassVar[struct.Struct] = struct.Struct("<B")
    seq: int

    def check(self) -> None:
        _u8("seq", self.seq)


@dataclass(frozen=True)
class Nack(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.NACK
    FMT: ClassVar[struct.Struct] = struct.Struct("<BB")
    seq: int
    reason: int  # NackReason

    def check(self) -> None:
        _u8("seq", self.seq)
        if self.reason not in NackReason._value2member_map_:
            raise ProtocolValueError(f"reason must be a NackReason, got {self.reason}")


@dataclass(frozen=True)
class Hello(Message):
    """Sent by the MCU after reset and before answering GetStatus(0)."""

    TYPE: ClassVar[MsgType] = MsgType.HELLO
    protocol_version: int
    fw_version: str = ""    # UTF-8, at most MAX_FW_VERSION bytes

    def check(self) -> None:
        _u8("protocol_version", self.protocol_version)
        if len(self.fw_version.encode("utf-8", "surrogatepass")) > MAX_FW_VERSION:
            raise ProtocolValueError(f"fw_version is longer than {MAX_FW_VERSION} bytes")

    def pack_body(self) -> bytes:
        self.check()
        try:
            fw = self.fw_version.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ProtocolValueError(f"fw_version: {e}") from None
        return bytes([self.protocol_version]) + fw

    @classmethod
    def unpack_body(cls, body: bytes) -> Message:
        if not 1 <= len(body) <= 1 + MAX_FW_VERSION:
            raise _LengthError(f"Hello: body is {len(body)} bytes")
        try:
            fw = body[1:].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolValueError(f"Hello: fw_version is not UTF-8: {e}") from None
        return cls(body[0], fw)


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls for cls in (SetOutputs, Heartbeat, GetStatus, ResetRcd, Hello, Status, Ack, Nack)
}


class _LengthError(ProtocolValueError):
    pass


@dataclass(frozen=True)
class Frame:
    seq: int
    message: Message


# ---- COBS ------------------------------------------------------------------------------------

def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


class CobsError(ValueError):
    pass


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode; raises CobsError on anything the encoder cannot produce."""
    out = bytearray()
    i = 0
    n = len(data)
    if n == 0:
        raise CobsError("empty")
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError("0x00 inside a frame")
        end = i + code
        if end > n:
            raise CobsError("block runs past the end of the frame")
        block = data[i + 1:end]
        if 0 in block:
            raise CobsError("0x00 inside a frame")
        out += block
        i = end
        # A code < 255 implies a zero after its block, except at the very end of the frame.
        if code < 255 and i < n:
            out.append(0)
    # Frames are bounded far below 254 bytes, so the 255 code never occurs in a valid frame and
    # the encoding of a payload is unique: a decoded frame re-encodes to the same bytes.
    return bytes(out)


# ---- encode / decode ----------------------------------------------------------------------

def encode(message: Message, seq: int) -> bytes:
    """One complete frame, delimiter included. Raises ProtocolValueError on out-of-range fields."""
    _u8("seq", seq)
    body = message.pack_body()
    head = _HEADER.pack(message.TYPE, seq) + body
    payload = head + _CRC.pack(zlib.crc32(head))
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return cobs_encode(payload) + b"\x00"


@dataclass
class DecoderStats:
    frames: int = 0         # good frames
    oversize: int = 0       # more than MAX_ENCODED bytes without a delimiter
    cobs: int = 0           # not valid COBS
    short: int = 0          # shorter than header + crc
    crc: int = 0
    unknown_type: int = 0
    length: int = 0         # body length wrong for the type
    value: int = 0          # a field out of range
    by_type: dict[int, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.oversize + self.cobs + self.short + self.crc + self.unknown_type + self.length + self.value


def decode_payload(payload: bytes, stats: DecoderStats | None = None) -> Frame | None:
    """A COBS-decoded payload to a Frame, or None (counted in stats) when it is not valid."""
    st = stats if stats is not None else DecoderStats()
    if len(payload) < _HEADER.size + _CRC.size:
        st.short += 1
        return None
    head, crc = payload[:-_CRC.size], _CRC.unpack(payload[-_CRC.size:])[0]
    if zlib.crc32(head) != crc:
        st.crc += 1
        return None
    mtype, seq = _HEADER.unpack_from(head)
    cls = MESSAGE_TYPES.get(mtype)
    if cls is None:
        st.unknown_type += 1
        return None
    try:
        msg = cls.unpack_body(head[_HEADER.size:])
    except _LengthError:
        st.length += 1
        return None
    except ProtocolValueError:
        st.value += 1
        return None
    st.frames += 1
    st.by_type[mtype] = st.by_type.get(mtype, 0) + 1
    return Frame(seq, msg)


class StreamDecoder:
    """Bytes in (any chunking), frames out. Never raises; resyncs at every 0x00."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._discarding = False  # inside an oversize run: drop until the next delimiter

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        frames: list[Frame] = []
        view = bytes(data)
        start = 0
        while True:
            z = view.find(b"\x00", start)
            part = view[start:] if z < 0 else view[start:z]
            if not self._discarding:
                self._buf += part
                if len(self._buf) > MAX_ENCODED:
                    self.stats.oversize += 1
                    self._buf.clear()
                    self._discarding = True
            if z < 0:
                break
            # Delimiter: finish the current frame.
            if not self._discarding and self._buf:
                f = self._finish(bytes(self._buf))
                if f is not None:
                    frames.append(f)
            self._buf.clear()
            self._discarding = False
            start = z + 1
        return frames

    def _finish(self, raw: bytes) -> Frame | None:
        try:
            payload = cobs_decode(raw)
        except CobsError:
            self.stats.cobs += 1
            return None
        return decode_payload(payload, self.stats)


def encode_all(frames: Iterable[tuple[Message, int]]) -> bytes:
    return b"".join(encode(m, s) for m, s in frames)
