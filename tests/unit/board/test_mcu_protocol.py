"""MCU link protocol: round trips, hostile input, framing bounds."""

from __future__ import annotations

import zlib

import pytest
from evcharge.board import mcu_protocol as p
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

u8 = st.integers(0, 0xFF)
i16 = st.integers(-0x8000, 0x7FFF)
opt_bool8 = st.sampled_from([0, 1, p.NO_FEEDBACK])

messages = st.one_of(
    st.builds(p.SetOutputs, connector=u8, pwm_mode=st.sampled_from(list(p.WirePwmMode)).map(int),
              duty_permille=st.integers(0, 1000), contactor=st.integers(0, 1), lock=st.integers(0, 1)),
    st.builds(p.Heartbeat, nonce=st.integers(0, 0xFFFFFFFF)),
    st.builds(p.GetStatus, connector=u8),
    st.builds(p.ResetRcd, connector=u8),
    st.builds(p.Status, connector=u8, cp_high_mv=i16, cp_low_mv=i16, pp_ohm=st.integers(0, 0xFFFF),
              contactor_fb=opt_bool8, rcd=st.integers(0, 1), lock_fb=opt_bool8, flags=u8),
    st.builds(p.Ack, seq=u8),
    st.builds(p.Nack, seq=u8, reason=st.sampled_from(list(p.NackReason)).map(int)),
    st.builds(p.Hello, protocol_version=u8,
              fw_version=st.text(max_size=p.MAX_FW_VERSION).filter(
                  lambda s: len(s.encode("utf-8", "surrogatepass")) <= p.MAX_FW_VERSION
                  and not any(0xD800 <= ord(c) <= 0xDFFF for c in s))),
)

fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_message_type_is_covered_by_the_strategy() -> None:
    # If someone adds a message type, the round-trip strategy above must learn it.
    assert set(p.MESSAGE_TYPES) == set(p.MsgType)


def test_known_frame_bytes() -> None:
    # Pins the wire format (byte order, CRC variant, COBS) so an MCU implementation can test against it.
    frame = p.encode(p.Ack(seq=5), seq=9)
    payload = bytes([0x82, 9, 5]) + zlib.crc32(bytes([0x82, 9, 5])).to_bytes(4, "little")
    assert frame == p.cobs_encode(payload) + b"\x00"
    assert zlib.crc32(b"123456789") == 0xCBF43926  # CRC-32/ISO-HDLC check value
    assert p.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert p.cobs_encode(b"\x00") == b"\x01\x01"


@fast
@given(messages, u8)
def test_round_trip(msg: p.Message, seq: int) -> None:
    frame = p.encode(msg, seq)
    assert frame.count(0) == 1 and frame.endswith(b"\x00")
    assert len(frame) <= p.MAX_ENCODED + 1
    dec = p.StreamDecoder()
    assert dec.feed(frame) == [p.Frame(seq, msg)]
    assert dec.stats.errors == 0


@fast
@given(st.lists(st.tuples(messages, u8), min_size=1, max_size=8), st.data())
def test_round_trip_any_chunking(items: list[tuple[p.Message, int]], data: st.DataObject) -> None:
    stream = p.encode_all(items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    dec = p.StreamDecoder()
    out: list[p.Frame] = []
    prev = 0
    for c in cuts + [len(stream)]:
        out += dec.feed(stream[prev:c])
        prev = c
    assert out == [p.Frame(s, m) for m, s in items]


@fast
@given(st.binary(max_size=600))
def test_garbage_never_raises_and_every_decoded_frame_is_canonical(garbage: bytes) -> None:
    dec = p.StreamDecoder()
    for f in dec.feed(garbage):
        # Anything accepted must be exactly what the encoder produces for it: no lenient parse.
        assert p.encode(f.message, f.seq) in garbage


@fast
@given(st.binary(max_size=200), messages, u8, st.binary(max_size=200))
def test_resyncs_after_garbage(before: bytes, msg: p.Message, seq: int, after: bytes) -> None:
    dec = p.StreamDecoder()
    # A delimiter ends whatever the garbage started; the frame after it must come through intact.
    out = dec.feed(before + b"\x00" + p.encode(msg, seq) + after)
    assert p.Frame(seq, msg) in out


@fast
@given(messages, u8, st.data())
def test_bit_flip_is_rejected(msg: p.Message, seq: int, data: st.DataObject) -> None:
    frame = bytearray(p.encode(msg, seq))
    bit = data.draw(st.integers(0, (len(frame) - 1) * 8 - 1))  # not the delimiter
    frame[bit // 8] ^= 1 << (bit % 8)
    dec = p.StreamDecoder()
    out = dec.feed(bytes(frame) + b"\x00")
    assert out == []
    assert dec.stats.errors >= 1


@fast
@given(messages, u8, st.data())
def test_truncated_frame_is_rejected(msg: p.Message, seq: int, data: st.DataObject) -> None:
    frame = p.encode(msg, seq)
    n = data.draw(st.integers(1, len(frame) - 2))
    dec = p.StreamDecoder()
    assert dec.feed(frame[:n] + b"\x00") == []
    assert dec.stats.errors == 1


def _raw_frame(mtype: int, seq: int, body: bytes) -> bytes:
    head = bytes([mtype, seq]) + body
    return p.cobs_encode(head + zlib.crc32(head).to_bytes(4, "little")) + b"\x00"


@pytest.mark.parametrize("mtype,body,counter", [
    (0x7E, b"", "unknown_type"),
    (p.MsgType.STATUS, b"\x01\x02", "length"),
    (p.MsgType.ACK, b"\x01\x02", "length"),
    (p.MsgType.SET_OUTPUTS, bytes([1, 3, 0, 0, 0, 0]), "value"),      # pwm_mode 3
    (p.MsgType.SET_OUTPUTS, bytes([1, 1, 0xE9, 0x03, 0, 0]), "value"),  # duty 1001 permille
    (p.MsgType.SET_OUTPUTS, bytes([1, 0, 0, 0, 2, 0]), "value"),      # contactor 2
    (p.MsgType.NACK, bytes([1, 0]), "value"),                          # reason 0
    (p.MsgType.HELLO, bytes([1, 0xFF, 0xFE]), "value"),                # fw_version not UTF-8
    (p.MsgType.HELLO, b"", "length"),
])
def test_valid_crc_but_bad_content_is_counted(mtype: int, body: bytes, counter: str) -> None:
    dec = p.StreamDecoder()
    assert dec.feed(_raw_frame(mtype, 1, body)) == []
    assert getattr(dec.stats, counter) == 1
    assert dec.stats.errors == 1


def test_bad_crc_is_counted() -> None:
    frame = bytearray(p.cobs_encode(b"\x82\x01\x05" + b"\x00\x00\x00\x01"))
    dec = p.StreamDecoder()
    assert dec.feed(bytes(frame) + b"\x00") == []
    assert dec.stats.crc == 1


def test_oversize_run_is_dropped_then_decoder_recovers() -> None:
    dec = p.StreamDecoder()
    good = p.encode(p.Ack(1), 2)
    out = dec.feed(b"\x05" * (p.MAX_ENCODED * 20))
    out += dec.feed(b"\x05" * 10 + b"\x00" + good)
    assert out == [p.Frame(2, p.Ack(1))]
    assert dec.stats.oversize == 1
    # The buffer never holds more than one bounded frame.
    assert len(dec._buf) == 0


def test_empty_frames_are_ignored_silently() -> None:
    dec = p.StreamDecoder()
    assert dec.feed(b"\x00\x00\x00") == []
    assert dec.stats.errors == 0


@pytest.mark.parametrize("bad", [
    p.SetOutputs(1, 0, 1001, 0, 0), p.SetOutputs(256, 0, 0, 0, 0), p.Status(1, 40000, 0),
    p.Status(1, 0, 0, contactor_fb=2), p.Nack(1, 99), p.Hello(1, "x" * (p.MAX_FW_VERSION + 1)),
])
def test_encoder_refuses_out_of_range_fields(bad: p.Message) -> None:
    with pytest.raises(p.ProtocolValueError):
        p.encode(bad, 0)


def test_encoder_refuses_bad_seq() -> None:
    with pytest.raises(p.ProtocolValueError):
        p.encode(p.Ack(1), 256)
