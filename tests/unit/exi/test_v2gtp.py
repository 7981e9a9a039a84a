"""V2GTP framing: header layout, payload types, length limits and stream reassembly."""
from __future__ import annotations

import pytest
from evcharge import v2gtp
from evcharge.v2gtp import FrameReader, PayloadType, V2gtpError


def test_encode_layout() -> None:
    assert v2gtp.encode(PayloadType.EXI, b"\x80\x00") == bytes.fromhex("01fe8001000000028000")


def test_decode_round_trip_each_type() -> None:
    payloads = {PayloadType.SDP_REQUEST: b"\x10\x00", PayloadType.SDP_RESPONSE: bytes(20)}
    for ptype in PayloadType:
        payload = payloads.get(ptype, b"\x80\x01\x02")
        frame = v2gtp.decode(v2gtp.encode(ptype, payload))
        assert frame.payload_type is ptype and frame.payload == payload


@pytest.mark.parametrize("header,reason", [
    ("02fd800100000000", "version"),
    ("01fd800100000000", "version"),
    ("01fe123400000000", "unknown payload type 0x1234"),
    ("01fe900000000003", "SDP request"),
    ("01fe900100000002", "SDP response"),
    ("01fe8001ffffffff", "exceeds limit"),
])
def test_invalid_headers(header: str, reason: str) -> None:
    with pytest.raises(V2gtpError, match=reason):
        v2gtp.parse_header(bytes.fromhex(header))


def test_length_mismatch_and_short_header() -> None:
    with pytest.raises(V2gtpError, match="announces"):
        v2gtp.decode(bytes.fromhex("01fe800100000002") + b"\x80")
    with pytest.raises(V2gtpError, match="header needs 8"):
        v2gtp.decode(b"\x01\xfe")


def test_limit_is_configurable() -> None:
    assert v2gtp.decode(v2gtp.encode(PayloadType.EXI, bytes(100_000), max_payload=200_000),
                        max_payload=200_000).payload == bytes(100_000)
    with pytest.raises(V2gtpError):
        v2gtp.encode(PayloadType.EXI, bytes(100_000))


def test_stream_reassembly_byte_by_byte() -> None:
    stream = v2gtp.encode(PayloadType.EXI, b"abc") + v2gtp.encode(PayloadType.ISO20_DC, b"defg")
    reader = FrameReader()
    frames = []
    for b in stream:
        frames += reader.feed(bytes([b]))
    assert [(f.payload_type, f.payload) for f in frames] == [(PayloadType.EXI, b"abc"),
                                                             (PayloadType.ISO20_DC, b"defg")]
    assert reader.pending == 0


def test_stream_rejects_bad_header_before_payload_arrives() -> None:
    with pytest.raises(V2gtpError):
        FrameReader().feed(bytes.fromhex("01fe8001ffffffff"))
