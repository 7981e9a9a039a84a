"""Observable behaviour of the evcharge.exi API: representation choices and typed errors."""
from __future__ import annotations

import pytest
from evcharge import exi
from evcharge.exi import ExiError


def from_bits(bits: str) -> bytes:
    """Hand-built EXI stream: '0'/'1' characters, spaces ignored, zero padded to a byte."""
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


DIN_SESSION_SETUP = bytes.fromhex("809a004011d018038131a0007400")
APP_REQ = {"supportedAppProtocolReq": {"AppProtocol": [
    {"ProtocolNamespace": "urn:din:70121:2012:MsgDef", "VersionNumberMajor": 2, "VersionNumberMinor": 0,
     "SchemaID": 1, "Priority": 1}]}}


def test_binary_decodes_to_bytes_and_encodes_from_bytes_or_hex() -> None:
    msg = exi.decode(exi.NS_DIN, DIN_SESSION_SETUP)
    assert msg["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] == bytes.fromhex("00E04C68001D")
    assert exi.encode(exi.NS_DIN, msg).rstrip(b"\0") == DIN_SESSION_SETUP.rstrip(b"\0")
    msg["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] = "00e04c68001d"
    assert exi.encode(exi.NS_DIN, msg).rstrip(b"\0") == DIN_SESSION_SETUP.rstrip(b"\0")


def test_repeated_elements_are_lists_even_with_one_item() -> None:
    data = exi.encode(exi.NS_APP_PROTOCOL, APP_REQ)
    assert isinstance(exi.decode(exi.NS_APP_PROTOCOL, data)["supportedAppProtocolReq"]["AppProtocol"], list)


@pytest.mark.parametrize("cut", range(1, len(DIN_SESSION_SETUP) - 1))
def test_truncated_input_raises_with_position(cut: int) -> None:
    with pytest.raises(ExiError) as info:
        exi.decode(exi.NS_DIN, DIN_SESSION_SETUP[:cut])
    assert 0 <= info.value.position <= cut * 8
    assert info.value.reason


def test_error_is_a_value_error_with_reason_and_position() -> None:
    with pytest.raises(ValueError) as info:
        exi.decode(exi.NS_DIN, b"\x00\x00")
    assert isinstance(info.value, ExiError)
    assert "distinguishing" in info.value.reason and info.value.position == 0


def test_header_with_options_is_rejected() -> None:
    with pytest.raises(ExiError, match="header"):
        exi.decode(exi.NS_DIN, b"\xa0\x00\x00")


def test_unknown_namespace() -> None:
    with pytest.raises(ExiError, match="unknown namespace"):
        exi.decode("urn:nope", DIN_SESSION_SETUP)
    with pytest.raises(ExiError, match="unknown namespace"):
        exi.encode("urn:nope", APP_REQ)


def test_enumeration_out_of_range_is_rejected() -> None:
    # header, SE(supportedAppProtocolRes)=01, SE(ResponseCode)=0, CH=0, then the 2-bit index 3 of a
    # 3-value enumeration.
    with pytest.raises(ExiError, match="enumeration index 3") as info:
        exi.decode(exi.NS_APP_PROTOCOL, from_bits("10000000 01 0 0 11"))
    assert info.value.position == 12


def test_bounded_integer_out_of_range() -> None:
    bad = {"supportedAppProtocolReq": {"AppProtocol": [dict(APP_REQ["supportedAppProtocolReq"]["AppProtocol"][0],
                                                            Priority=21)]}}
    with pytest.raises(ExiError, match="Priority: value out of range"):
        exi.encode(exi.NS_APP_PROTOCOL, bad)


def test_list_longer_than_max_occurs_is_rejected() -> None:
    item = APP_REQ["supportedAppProtocolReq"]["AppProtocol"][0]
    assert exi.encode(exi.NS_APP_PROTOCOL, {"supportedAppProtocolReq": {"AppProtocol": [item] * 20}})
    with pytest.raises(ExiError, match="too many items"):
        exi.encode(exi.NS_APP_PROTOCOL, {"supportedAppProtocolReq": {"AppProtocol": [item] * 21}})


def test_missing_required_and_unexpected_keys() -> None:
    item = dict(APP_REQ["supportedAppProtocolReq"]["AppProtocol"][0])
    del item["SchemaID"]
    with pytest.raises(ExiError, match="missing required SchemaID"):
        exi.encode(exi.NS_APP_PROTOCOL, {"supportedAppProtocolReq": {"AppProtocol": [item]}})
    extra = dict(APP_REQ["supportedAppProtocolReq"]["AppProtocol"][0], Bogus=1)
    with pytest.raises(ExiError, match="Bogus"):
        exi.encode(exi.NS_APP_PROTOCOL, {"supportedAppProtocolReq": {"AppProtocol": [extra]}})


def test_wrong_value_types_are_rejected() -> None:
    msg = exi.decode(exi.NS_DIN, DIN_SESSION_SETUP)
    msg["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] = 12
    with pytest.raises(ExiError, match="EVCCID: expected bytes"):
        exi.encode(exi.NS_DIN, msg)
    with pytest.raises(ExiError, match="exactly one root"):
        exi.encode(exi.NS_DIN, {})
    with pytest.raises(ExiError, match="not a global element"):
        exi.encode(exi.NS_DIN, {"Nope": {}})


def test_binary_longer_than_max_length_is_rejected() -> None:
    msg = exi.decode(exi.NS_DIN, DIN_SESSION_SETUP)
    msg["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] = bytes(9)  # evccIDType maxLength 8
    with pytest.raises(ExiError, match="out of bounds"):
        exi.encode(exi.NS_DIN, msg)


def test_abstract_substitution_head_is_not_encodable() -> None:
    msg = {"V2G_Message": {"Header": {"SessionID": b"\0"}, "Body": {"BodyElement": {}}}}
    with pytest.raises(ExiError):
        exi.encode(exi.NS_ISO2, msg)


def test_oversized_length_prefix_does_not_allocate() -> None:
    # SessionID length claims 2^35 bytes: must fail on bounds, not try to read or allocate.
    # header, SE(V2G_Message)=76 in 7 bits, SE(Header), SE(SessionID), CH, then the length varint
    data = from_bits("10000000 1001100 0 0 0" + "11111111" * 4 + "01111111") + bytes(8)
    with pytest.raises(ExiError, match="binary length .* out of bounds") as info:
        exi.decode(exi.NS_ISO2, data)
    assert info.value.position == 18
