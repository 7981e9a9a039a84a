"""PN532 frame codec: known frames from the user manual, commands, and hostile input."""

import pytest
from evcharge.auth import pn532
from evcharge.auth.pn532 import Ack, ErrorFrame, Frame, Nack, Parser
from hypothesis import given, settings
from hypothesis import strategies as st


def test_known_command_frames():
    # From the PN532 User Manual / application note: GetFirmwareVersion and SAMConfiguration.
    assert pn532.get_firmware_version() == bytes.fromhex("0000ff02fed4022a00")
    assert pn532.sam_configuration(use_irq=True) == bytes.fromhex("0000ff05fbd4140114010200")
    assert pn532.in_list_passive_target_106a() == bytes.fromhex("0000ff04fcd44a0100e100")


def test_known_answers_parse():
    p = Parser()
    events = p.feed(bytes.fromhex("0000ff00ff00" "0000ff06fad50332010607e800"))
    assert events[0] == Ack()
    fw = pn532.parse_firmware_version(events[1])
    assert (fw.ic, fw.version, fw.revision, fw.support) == (0x32, 1, 6, 7)


def test_in_list_passive_target_answer_gives_the_uid():
    # NbTg=1 Tg=1 SENS_RES=0004 SEL_RES=08 len=4 UID=04A1B2C3
    frame = Parser().feed(pn532.answer(0x4A, bytes.fromhex("0101000408" "04" "04a1b2c3")))[0]
    (target,) = pn532.parse_in_list_passive_target_106a(frame)
    assert target.uid_hex == "04A1B2C3" and target.sens_res == 0x0004 and target.sel_res == 0x08
    none = Parser().feed(pn532.answer(0x4A, b"\x00"))[0]
    assert pn532.parse_in_list_passive_target_106a(none) == []


def test_iso14443_4_target_carries_ats():
    params = bytes.fromhex("0101034420" "07" "04112233445566" "05" "78807002")
    frame = Parser().feed(pn532.answer(0x4A, params))[0]
    (t,) = pn532.parse_in_list_passive_target_106a(frame)
    assert t.uid_hex == "04112233445566" and t.ats == bytes.fromhex("0578807002")


@pytest.mark.parametrize("params", ["", "01", "0101000408", "0101000408050102030405", "03",
                                    "0101034420070411223344556609"])
def test_malformed_target_answers_raise_frame_error(params):
    frame = Frame(pn532.PN532_TO_HOST, bytes([0x4B]) + bytes.fromhex(params))
    with pytest.raises(pn532.FrameError):
        pn532.parse_in_list_passive_target_106a(frame)


def test_answer_to_another_command_is_refused():
    with pytest.raises(pn532.FrameError):
        pn532.expect_response(Frame(pn532.PN532_TO_HOST, b"\x15"), pn532.Command.IN_LIST_PASSIVE_TARGET)
    with pytest.raises(pn532.FrameError):
        pn532.expect_response(Frame(pn532.HOST_TO_PN532, b"\x4b\x00"), pn532.Command.IN_LIST_PASSIVE_TARGET)


def test_nack_error_and_extended_frames():
    data = bytes(range(256)) + b"\x01\x02"
    stream = pn532.NACK_FRAME + pn532.ERROR_FRAME + pn532.encode(data, pn532.PN532_TO_HOST)
    assert pn532.encode(data)[3:5] == b"\xff\xff"
    assert Parser().feed(stream) == [Nack(), ErrorFrame(), Frame(pn532.PN532_TO_HOST, data)]


def test_resync_after_a_corrupted_frame():
    good = pn532.answer(0x14)
    bad = bytearray(pn532.answer(0x4A, b"\x00"))
    bad[-2] ^= 0x01  # DCS wrong
    assert Parser().feed(b"\x55\x55\x00\x00" + bytes(bad) + good) == [Frame(pn532.PN532_TO_HOST, b"\x15")]


def test_wakeup_preamble_before_a_command_is_skipped():
    assert Parser().feed(pn532.HSU_WAKEUP + pn532.sam_configuration()) == \
        [Frame(pn532.HOST_TO_PN532, bytes.fromhex("14011400"))]


frames = st.one_of(
    st.just(Ack()), st.just(Nack()), st.just(ErrorFrame()),
    st.builds(Frame, st.sampled_from([pn532.HOST_TO_PN532, pn532.PN532_TO_HOST]),
              st.binary(min_size=1, max_size=pn532.MAX_EXTENDED_DATA)))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=6), st.lists(st.integers(min_value=0), max_size=8))
def test_round_trip_in_any_chunking(events, cuts):
    stream = b"".join(pn532.encode_event(e) for e in events)
    parser = Parser()
    out = [e for chunk in chunked(stream, cuts) for e in parser.feed(chunk)]
    assert out == events


# Noise without 0x00 cannot contain a start code, so every frame after it must come through.
noise = st.binary(max_size=64).map(lambda b: b.replace(b"\x00", b"\x01"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(noise, frames), max_size=5), st.lists(st.integers(min_value=0), max_size=8))
def test_frames_survive_noise_between_them(pairs, cuts):
    stream = b"".join(n + pn532.encode_event(f) for n, f in pairs)
    parser = Parser()
    out = [e for chunk in chunked(stream, cuts) for e in parser.feed(chunk)]
    assert out == [f for _n, f in pairs]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_garbage_never_raises_and_buffer_stays_bounded(chunks):
    parser = Parser()
    for c in chunks:
        for event in parser.feed(c):
            assert isinstance(event, (Ack, Nack, ErrorFrame, Frame))
            if isinstance(event, Frame):
                assert event.data and len(event.data) <= pn532.MAX_EXTENDED_DATA
                pn532.encode_event(event)  # anything parsed is representable
        assert len(parser._buf) <= Parser.MAX_BUFFER + 300  # noqa: SLF001


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40))
def test_target_parser_never_fails_other_than_frame_error(params):
    frame = Frame(pn532.PN532_TO_HOST, b"\x4b" + params)
    try:
        targets = pn532.parse_in_list_passive_target_106a(frame)
    except pn532.FrameError:
        return
    assert len(targets) == params[0]
