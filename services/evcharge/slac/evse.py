"""The EVSE side of SLAC (ISO 15118-3 section 9): a pure state machine fed frames and time.

    SlacEvse.start(now)      -> frames: CM_SET_KEY.REQ to the local modem (new NMK/NID)
    SlacEvse.feed(frame, now) -> frames to send
    SlacEvse.tick(now)       -> frames to send (timeouts and retries); call at `deadline`

Sequence: SET_KEY.REQ/CNF with the modem (result 0 per the spec, 1 from real QCA modems: both
mean success); then wait for the EV's CM_SLAC_PARM.REQ (TT_EVSE_SLAC_init), answer CNF; the EV
sends CM_START_ATTEN_CHAR.IND and CM_MNBC_SOUND.IND; the modem reports each sound's attenuation
with CM_ATTEN_PROFILE.IND; after the sounds (or TT_EVSE_match_MNBC) the EVSE sends
CM_ATTEN_CHAR.IND with the averages and waits for CM_ATTEN_CHAR.RSP (TT_match_response,
C_EV_match_retry retries); then CM_SLAC_MATCH.REQ -> CNF with the NID and NMK: matched.
`result` is "matched" or "failed" with `reason`.
"""

from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass, field

from . import messages as m

log = logging.getLogger("evcharge.slac")

TT_EVSE_SLAC_INIT_S = 50.0      # plug-in (state B) to CM_SLAC_PARM.REQ (20..50 s)
TT_MATCH_SEQUENCE_S = 0.4       # between the messages of one step
TT_EVSE_MATCH_MNBC_S = 0.6      # collecting sounds after START_ATTEN_CHAR (Time_Out 6 x 100 ms)
TT_MATCH_RESPONSE_S = 0.2       # waiting for ATTEN_CHAR.RSP
C_EV_MATCH_RETRY = 2            # ATTEN_CHAR.IND retransmissions
TT_EVSE_MATCH_SESSION_S = 10.0  # ATTEN_CHAR.RSP to CM_SLAC_MATCH.REQ
TT_SET_KEY_S = 1.0
SET_KEY_TRIES = 3
NUM_SOUNDS = 10
TIME_OUT_100MS = 6
SET_KEY_OK = (0, 1)             # spec: 0 = success; Qualcomm modems answer 1 for success


class State(str, enum.Enum):
    IDLE = "Idle"
    SET_KEY = "SetKey"
    WAIT_PARM = "WaitSlacParm"
    WAIT_SOUNDS = "WaitSounds"
    WAIT_ATTEN_RSP = "WaitAttenCharRsp"
    WAIT_MATCH = "WaitSlacMatch"
    MATCHED = "Matched"
    FAILED = "Failed"


@dataclass
class SlacEvse:
    own_mac: bytes
    modem_mac: bytes = bytes.fromhex("00B052000001")
    evse_id: bytes = b"\x00" * 17
    slac_init_s: float = TT_EVSE_SLAC_INIT_S
    random: object = os.urandom
    state: State = State.IDLE
    reason: str = ""
    deadline: float | None = None
    nmk: bytes = b""
    nid: bytes = b""
    ev_mac: bytes = b""
    run_id: bytes = b""
    sounds: int = 0
    profiles: list[bytes] = field(default_factory=list)
    _tries: int = 0
    _atten_frame: bytes = b""
    log_lines: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        return {State.MATCHED: "matched", State.FAILED: "failed"}.get(self.state, "")

    def _rand(self, n: int) -> bytes:
        return self.random(n)  # type: ignore[operator]

    def _fail(self, reason: str) -> list[bytes]:
        self.state, self.reason, self.deadline = State.FAILED, reason, None
        log.warning("SLAC failed: %s", reason)
        return []

    # --- start ------------------------------------------------------------------------------
    def start(self, now: float) -> list[bytes]:
        """A new EV (state B with 5 % PWM): new network key, then wait for the EV."""
        self.nmk, self.nid = self._rand(16), bytes(b & 0xFF for b in self._rand(7))
        self.nid = self.nid[:6] + bytes([self.nid[6] & 0x0F])  # NID: 54 bits, security level 0
        self.ev_mac = self.run_id = b""
        self.sounds, self.profiles, self.reason = 0, [], ""
        self._tries = 0
        self.state = State.SET_KEY
        return self._set_key(now)

    def _set_key(self, now: float) -> list[bytes]:
        self._tries += 1
        self.deadline = now + TT_SET_KEY_S
        return [m.encode(m.Mme(m.CM_SET_KEY_REQ, self.modem_mac, self.own_mac, {
            "key_type": 0x01, "my_nonce": 0, "your_nonce": 0, "pid": 0x04, "prn": 0, "pmn": 0, "cco_cap": 0,
            "nid": self.nid, "new_eks": 0x01, "new_key": self.nmk}))]

    def stop(self) -> None:
        self.state, self.deadline = State.IDLE, None

    # --- time -------------------------------------------------------------------------------
    def tick(self, now: float) -> list[bytes]:
        if self.deadline is None or now < self.deadline:
            return []
        st = self.state
        if st is State.SET_KEY:
            if self._tries >= SET_KEY_TRIES:
                return self._fail(f"the PLC modem did not confirm CM_SET_KEY ({SET_KEY_TRIES} tries)")
            return self._set_key(now)
        if st is State.WAIT_PARM:
            return self._fail(f"no CM_SLAC_PARM.REQ from the EV within {self.slac_init_s:g} s")
        if st is State.WAIT_SOUNDS:
            if not self.profiles:
                return self._fail("no sounds received (CM_MNBC_SOUND / CM_ATTEN_PROFILE)")
            return self._send_atten_char(now)
        if st is State.WAIT_ATTEN_RSP:
            if self._tries > C_EV_MATCH_RETRY:
                return self._fail("no CM_ATTEN_CHAR.RSP from the EV")
            self._tries += 1
            self.deadline = now + TT_MATCH_RESPONSE_S
            return [self._atten_frame]
        if st is State.WAIT_MATCH:
            return self._fail(f"no CM_SLAC_MATCH.REQ within {TT_EVSE_MATCH_SESSION_S:g} s")
        self.deadline = None
        return []

    # --- frames -----------------------------------------------------------------------------
    def feed(self, frame: bytes, now: float) -> list[bytes]:
        try:
            msg = m.decode(frame)
        except m.MmeError as e:
            log.debug("ignored frame: %s", e)
            return []
        if msg.src == self.own_mac:
            return []
        t, st, f = msg.mmtype, self.state, msg.fields
        if t == m.CM_SET_KEY_CNF and st is State.SET_KEY:
            if f["result"] not in SET_KEY_OK:
                return self._fail(f"CM_SET_KEY.CNF result {f['result']}")
            self.state, self.deadline = State.WAIT_PARM, now + self.slac_init_s
            return []
        if t == m.CM_SLAC_PARM_REQ and st in (State.WAIT_PARM, State.WAIT_SOUNDS):
            # A repeated PARM.REQ (the EV retries) restarts the exchange with that EV.
            self.ev_mac, self.run_id = msg.src, f["run_id"]
            self.sounds, self.profiles = 0, []
            self.state, self.deadline = State.WAIT_SOUNDS, now + TT_MATCH_SEQUENCE_S + TT_EVSE_MATCH_MNBC_S
            return [m.encode(m.Mme(m.CM_SLAC_PARM_CNF, self.ev_mac, self.own_mac, {
                "msound_target": m.BROADCAST, "num_sounds": NUM_SOUNDS, "time_out": TIME_OUT_100MS, "resp_type": 0x01,
                "forwarding_sta": self.ev_mac, "application_type": 0, "security_type": 0, "run_id": self.run_id}))]
        if st is not State.WAIT_SOUNDS and t in (m.CM_START_ATTEN_CHAR_IND, m.CM_MNBC_SOUND_IND, m.CM_ATTEN_PROFILE_IND):
            return []
        if t == m.CM_START_ATTEN_CHAR_IND and f["run_id"] == self.run_id:
            self.deadline = now + TT_EVSE_MATCH_MNBC_S
            return []
        if t == m.CM_MNBC_SOUND_IND and f["run_id"] == self.run_id:
            self.sounds += 1
            return []
        if t == m.CM_ATTEN_PROFILE_IND and f["pev_mac"] == self.ev_mac:
            self.profiles.append(f["aag"])
            if len(self.profiles) >= NUM_SOUNDS:
                return self._send_atten_char(now)
            return []
        if t == m.CM_ATTEN_CHAR_RSP and st is State.WAIT_ATTEN_RSP and f["run_id"] == self.run_id:
            if f["result"] != 0:
                return self._fail(f"the EV refused the attenuation characteristics (result {f['result']})")
            self.state, self.deadline = State.WAIT_MATCH, now + TT_EVSE_MATCH_SESSION_S
            return []
        if t == m.CM_SLAC_MATCH_REQ and st in (State.WAIT_MATCH, State.MATCHED) and f["run_id"] == self.run_id:
            self.state, self.deadline = State.MATCHED, None
            log.info("SLAC matched EV %s", m.mac_str(self.ev_mac))
            return [m.encode(m.Mme(m.CM_SLAC_MATCH_CNF, self.ev_mac, self.own_mac, {
                "application_type": 0, "security_type": 0, "mvf_length": 0x56, "pev_id": f["pev_id"],
                "pev_mac": self.ev_mac, "evse_id": self.evse_id, "evse_mac": self.own_mac, "run_id": self.run_id,
                "rsvd": b"", "nid": self.nid, "rsvd2": 0, "nmk": self.nmk}))]
        return []

    def _send_atten_char(self, now: float) -> list[bytes]:
        n = len(self.profiles)
        avg = bytes(round(sum(p[i] for p in self.profiles) / n) for i in range(m.NUM_GROUPS))
        self._atten_frame = m.encode(m.Mme(m.CM_ATTEN_CHAR_IND, self.ev_mac, self.own_mac, {
            "application_type": 0, "security_type": 0, "source_address": self.ev_mac, "run_id": self.run_id,
            "source_id": b"", "resp_id": b"", "num_sounds": n, "num_groups": m.NUM_GROUPS, "aag": avg}))
        self.state, self._tries, self.deadline = State.WAIT_ATTEN_RSP, 1, now + TT_MATCH_RESPONSE_S
        return [self._atten_frame]
