"""V2G Transfer Protocol framing (ISO 15118-2 section 7.8, ISO 15118-20 section 7.8, DIN 70121).

Every V2G message travels as an 8-byte header plus payload:

    version (0x01) | inverse version (0xFE) | payload type (u16 BE) | payload length (u32 BE)

This module only frames and validates; the EXI payloads are handled by `evcharge.exi`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

VERSION = 0x01
INVERSE_VERSION = 0xFE
HEADER_LEN = 8
#: Upper bound for EXI payloads. ISO 15118-20 messages carrying certificate chains and price
#: schedules stay well below this; the bound stops a peer from making us buffer gigabytes.
DEFAULT_MAX_PAYLOAD = 64 * 1024

_HEADER = struct.Struct(">BBHI")


class PayloadType(IntEnum):
    EXI = 0x8001  # SAP handshake, DIN 70121 and ISO 15118-2 messages
    ISO20_MAIN = 0x8002  # ISO 15118-20 CommonMessages
    ISO20_AC = 0x8003  # ISO 15118-20 AC messages
    ISO20_DC = 0x8004  # ISO 15118-20 DC messages
    SDP_REQUEST = 0x9000
    SDP_RESPONSE = 0x9001


#: Exact payload sizes of the SECC Discovery Protocol messages.
SDP_REQUEST_LEN = 2  # security, transport protocol
SDP_RESPONSE_LEN = 20  # IPv6 address (16), port (2), security, transport protocol

#: EXI namespace carried by each ISO 15118-20 payload type (0x8001 depends on the negotiated protocol).
ISO20_NAMESPACES = {
    PayloadType.ISO20_MAIN: "urn:iso:std:iso:15118:-20:CommonMessages",
    PayloadType.ISO20_AC: "urn:iso:std:iso:15118:-20:AC",
    PayloadType.ISO20_DC: "urn:iso:std:iso:15118:-20:DC",
}


class V2gtpError(ValueError):
    """Invalid V2GTP header or payload; `reason` is a short description."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    payload_type: PayloadType
    payload: bytes


def _check_payload(ptype: PayloadType, length: int, max_payload: int) -> None:
    if ptype == PayloadType.SDP_REQUEST and length != SDP_REQUEST_LEN:
        raise V2gtpError(f"SDP request payload must be {SDP_REQUEST_LEN} bytes, got {length}")
    if ptype == PayloadType.SDP_RESPONSE and length != SDP_RESPONSE_LEN:
        raise V2gtpError(f"SDP response payload must be {SDP_RESPONSE_LEN} bytes, got {length}")
    if length > max_payload:
        raise V2gtpError(f"payload length {length} exceeds limit {max_payload}")


def parse_header(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[PayloadType, int]:
    """Validate the first 8 bytes of `data`; return (payload type, payload length)."""
    if len(data) < HEADER_LEN:
        raise V2gtpError(f"header needs {HEADER_LEN} bytes, got {len(data)}")
    version, inverse, ptype, length = _HEADER.unpack_from(data)
    if version != VERSION or inverse != INVERSE_VERSION:
        raise V2gtpError(f"unsupported protocol version 0x{version:02X}/0x{inverse:02X}")
    try:
        payload_type = PayloadType(ptype)
    except ValueError:
        raise V2gtpError(f"unknown payload type 0x{ptype:04X}") from None
    _check_payload(payload_type, length, max_payload)
    return payload_type, length


def encode(payload_type: PayloadType | int, payload: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> bytes:
    """Prefix `payload` with a V2GTP header."""
    try:
        ptype = PayloadType(payload_type)
    except ValueError:
        raise V2gtpError(f"unknown payload type 0x{int(payload_type):04X}") from None
    _check_payload(ptype, len(payload), max_payload)
    return _HEADER.pack(VERSION, INVERSE_VERSION, ptype, len(payload)) + bytes(payload)


def decode(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Parse exactly one frame; `data` must hold the header and the whole payload, nothing more."""
    ptype, length = parse_header(data, max_payload)
    if len(data) != HEADER_LEN + length:
        raise V2gtpError(f"frame is {len(data)} bytes, header announces {HEADER_LEN + length}")
    return Frame(ptype, bytes(data[HEADER_LEN:]))


class FrameReader:
    """Reassembles frames from a byte stream (TCP/TLS delivers arbitrary chunks)."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD):
        self._buf = bytearray()
        self._max = max_payload

    def feed(self, chunk: bytes) -> list[Frame]:
        """Add received bytes; return the frames completed by them. Raises V2gtpError on a bad header
        (the stream cannot be resynchronised then: close the connection)."""
        self._buf += chunk
        frames = []
        while len(self._buf) >= HEADER_LEN:
            ptype, length = parse_header(self._buf, self._max)
            if len(self._buf) < HEADER_LEN + length:
                break
            frames.append(Frame(ptype, bytes(self._buf[HEADER_LEN:HEADER_LEN + length])))
            del self._buf[:HEADER_LEN + length]
        return frames

    @property
    def pending(self) -> int:
        """Bytes buffered towards an incomplete frame."""
        return len(self._buf)
