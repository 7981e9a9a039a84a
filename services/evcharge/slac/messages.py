"""HomePlug AV management messages used by SLAC (ISO 15118-3 annex A), ethertype 0x88E1: pure.

Frame: destination MAC, source MAC, ethertype 0x88E1, MMV (0x01), MMTYPE (little endian), FMI
(2 bytes, 0: not fragmented), payload. `encode(Mme)` / `decode(frame) -> Mme` with the fields of
each message as a dict; unknown MMTYPEs decode with the raw payload only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

ETHERTYPE = 0x88E1
MMV = 0x01
BROADCAST = b"\xff" * 6
MIN_FRAME = 60  # Ethernet minimum without FCS: short frames are zero-padded

# MMTYPE = base | REQ 0 / CNF 1 / IND 2 / RSP 3
CM_SET_KEY_REQ = 0x6008
CM_SET_KEY_CNF = 0x6009
CM_SLAC_PARM_REQ = 0x6064
CM_SLAC_PARM_CNF = 0x6065
CM_START_ATTEN_CHAR_IND = 0x606A
CM_ATTEN_CHAR_IND = 0x606E
CM_ATTEN_CHAR_RSP = 0x606F
CM_MNBC_SOUND_IND = 0x6076
CM_SLAC_MATCH_REQ = 0x607C
CM_SLAC_MATCH_CNF = 0x607D
CM_ATTEN_PROFILE_IND = 0x6086

NAMES = {CM_SET_KEY_REQ: "CM_SET_KEY.REQ", CM_SET_KEY_CNF: "CM_SET_KEY.CNF", CM_SLAC_PARM_REQ: "CM_SLAC_PARM.REQ",
         CM_SLAC_PARM_CNF: "CM_SLAC_PARM.CNF", CM_START_ATTEN_CHAR_IND: "CM_START_ATTEN_CHAR.IND",
         CM_ATTEN_CHAR_IND: "CM_ATTEN_CHAR.IND", CM_ATTEN_CHAR_RSP: "CM_ATTEN_CHAR.RSP",
         CM_MNBC_SOUND_IND: "CM_MNBC_SOUND.IND", CM_SLAC_MATCH_REQ: "CM_SLAC_MATCH.REQ",
         CM_SLAC_MATCH_CNF: "CM_SLAC_MATCH.CNF", CM_ATTEN_PROFILE_IND: "CM_ATTEN_PROFILE.IND"}

NUM_GROUPS = 58  # attenuation groups of the AV carrier set

# (field, struct format) per message; "17s" ids are 17-byte station ids.
_LAYOUTS: dict[int, list[tuple[str, str]]] = {
    CM_SET_KEY_REQ: [("key_type", "B"), ("my_nonce", "I"), ("your_nonce", "I"), ("pid", "B"), ("prn", "H"),
                     ("pmn", "B"), ("cco_cap", "B"), ("nid", "7s"), ("new_eks", "B"), ("new_key", "16s")],
    CM_SET_KEY_CNF: [("result", "B"), ("my_nonce", "I"), ("your_nonce", "I"), ("pid", "B"), ("prn", "H"),
                     ("pmn", "B"), ("cco_cap", "B")],
    CM_SLAC_PARM_REQ: [("application_type", "B"), ("security_type", "B"), ("run_id", "8s")],
    CM_SLAC_PARM_CNF: [("msound_target", "6s"), ("num_sounds", "B"), ("time_out", "B"), ("resp_type", "B"),
                       ("forwarding_sta", "6s"), ("application_type", "B"), ("security_type", "B"), ("run_id", "8s")],
    CM_START_ATTEN_CHAR_IND: [("application_type", "B"), ("security_type", "B"), ("num_sounds", "B"),
                              ("time_out", "B"), ("resp_type", "B"), ("forwarding_sta", "6s"), ("run_id", "8s")],
    CM_MNBC_SOUND_IND: [("application_type", "B"), ("security_type", "B"), ("sender_id", "17s"), ("cnt", "B"),
                        ("run_id", "8s"), ("rsvd", "8s"), ("rnd", "16s")],
    CM_ATTEN_PROFILE_IND: [("pev_mac", "6s"), ("num_groups", "B"), ("rsvd", "B"), ("aag", f"{NUM_GROUPS}s")],
    CM_ATTEN_CHAR_IND: [("application_type", "B"), ("security_type", "B"), ("source_address", "6s"), ("run_id", "8s"),
                        ("source_id", "17s"), ("resp_id", "17s"), ("num_sounds", "B"), ("num_groups", "B"),
                        ("aag", f"{NUM_GROUPS}s")],
    CM_ATTEN_CHAR_RSP: [("application_type", "B"), ("security_type", "B"), ("source_address", "6s"), ("run_id", "8s"),
                        ("source_id", "17s"), ("resp_id", "17s"), ("result", "B")],
    CM_SLAC_MATCH_REQ: [("application_type", "B"), ("security_type", "B"), ("mvf_length", "H"), ("pev_id", "17s"),
                        ("pev_mac", "6s"), ("evse_id", "17s"), ("evse_mac", "6s"), ("run_id", "8s"), ("rsvd", "8s")],
    CM_SLAC_MATCH_CNF: [("application_type", "B"), ("security_type", "B"), ("mvf_length", "H"), ("pev_id", "17s"),
                        ("pev_mac", "6s"), ("evse_id", "17s"), ("evse_mac", "6s"), ("run_id", "8s"), ("rsvd", "8s"),
                        ("nid", "7s"), ("rsvd2", "B"), ("nmk", "16s")],
}
_STRUCTS = {t: (struct.Struct("<" + "".join(f for _n, f in lay)), [n for n, _f in lay]) for t, lay in _LAYOUTS.items()}
_HEADER = struct.Struct("!6s6sHBHH")  # dst, src, ethertype, MMV, MMTYPE (LE, swapped below), FMI


class MmeError(ValueError):
    pass


@dataclass
class Mme:
    mmtype: int
    dst: bytes = BROADCAST
    src: bytes = b"\x00" * 6
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAMES.get(self.mmtype, f"MME 0x{self.mmtype:04X}")


def _swap16(v: int) -> int:
    return ((v & 0xFF) << 8) | (v >> 8)


def encode(m: Mme) -> bytes:
    st, names = _STRUCTS[m.mmtype]
    values = []
    for n in names:
        v = m.fields.get(n, 0)
        fmt = _LAYOUTS[m.mmtype][names.index(n)][1]
        if fmt.endswith("s") and isinstance(v, int):
            v = b""
        values.append(v)
    payload = st.pack(*values)
    frame = _HEADER.pack(m.dst, m.src, ETHERTYPE, MMV, _swap16(m.mmtype), 0) + payload
    return frame.ljust(MIN_FRAME, b"\x00")


def decode(frame: bytes) -> Mme:
    if len(frame) < _HEADER.size:
        raise MmeError(f"frame of {len(frame)} bytes is shorter than an MME header")
    dst, src, ethertype, mmv, mmtype, _fmi = _HEADER.unpack_from(frame)
    if ethertype != ETHERTYPE:
        raise MmeError(f"ethertype 0x{ethertype:04X} is not HomePlug AV")
    mmtype = _swap16(mmtype)
    if mmv not in (0x00, 0x01):
        raise MmeError(f"MMV 0x{mmv:02X} not supported")
    m = Mme(mmtype, dst, src)
    if mmtype in _STRUCTS:
        st, names = _STRUCTS[mmtype]
        body = frame[_HEADER.size:]
        if len(body) < st.size:
            raise MmeError(f"{m.name}: payload of {len(body)} bytes, expected {st.size}")
        m.fields = dict(zip(names, st.unpack_from(body)))
    return m


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02X}" for b in mac)


def mac_bytes(text: str) -> bytes:
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)
