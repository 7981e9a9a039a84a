"""The EV side of SLAC (ISO 15118-3), pure: what the EV simulator runs before SDP.

start(now) sends CM_SLAC_PARM.REQ; on the EVSE's CNF it sends CM_START_ATTEN_CHAR.IND (x3) and
CM_MNBC_SOUND.IND (x NUM_SOUNDS); on CM_ATTEN_CHAR.IND it answers RSP and asks CM_SLAC_MATCH.REQ;
CM_SLAC_MATCH.CNF with the NMK means matched. Requests are retried on timeout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..slac import messages as m

TT_EV_RESPONSE_S = 0.4     # PARM.CNF / MATCH.CNF (TT_match_response with margin)
TT_EV_ATTEN_RESULTS_S = 1.5
RETRIES = 3


@dataclass
class SlacEv:
    own_mac: bytes
    state: str = "Idle"
    reason: str = ""
    deadline: float | None = None
    evse_mac: bytes = b""
    run_id: bytes = b""
    nmk: bytes = b""
    nid: bytes = b""
    _tries: int = 0
    _last: list[bytes] | None = None

    @property
    def done(self) -> bool:
        return self.state in ("Matched", "Failed")

    def start(self, now: float) -> list[bytes]:
        self.run_id = os.urandom(8)
        self.state, self._tries = "WaitParmCnf", 0
        return self._send(now, [m.encode(m.Mme(m.CM_SLAC_PARM_REQ, m.BROADCAST, self.own_mac, {
            "application_type": 0, "security_type": 0, "run_id": self.run_id}))], TT_EV_RESPONSE_S)

    def _send(self, now: float, frames: list[bytes], timeout: float) -> list[bytes]:
        self._tries += 1
        self._last = frames
        self.deadline = now + timeout
        return frames

    def tick(self, now: float) -> list[bytes]:
        if self.deadline is None or now < self.deadline or self.done:
            return []
        if self._tries >= RETRIES or self._last is None:
            self.state, self.reason, self.deadline = "Failed", f"no answer from an EVSE in state {self.state}", None
            return []
        return self._send(now, self._last, TT_EV_RESPONSE_S if self.state != "WaitAttenChar" else TT_EV_ATTEN_RESULTS_S)

    def feed(self, frame: bytes, now: float) -> list[bytes]:
        try:
            msg = m.decode(frame)
        except m.MmeError:
            return []
        f = msg.fields
        if msg.dst not in (self.own_mac, m.BROADCAST) or f.get("run_id", self.run_id) != self.run_id:
            return []
        if msg.mmtype == m.CM_SLAC_PARM_CNF and self.state == "WaitParmCnf":
            self.evse_mac = msg.src
            self.state, self._tries = "WaitAttenChar", 0
            base = {"application_type": 0, "security_type": 0}
            frames = [m.encode(m.Mme(m.CM_START_ATTEN_CHAR_IND, m.BROADCAST, self.own_mac, {
                **base, "num_sounds": f["num_sounds"], "time_out": f["time_out"], "resp_type": 1,
                "forwarding_sta": self.own_mac, "run_id": self.run_id})) for _ in range(3)]
            frames += [m.encode(m.Mme(m.CM_MNBC_SOUND_IND, m.BROADCAST, self.own_mac, {
                **base, "sender_id": b"", "cnt": f["num_sounds"] - 1 - i, "run_id": self.run_id, "rsvd": b"",
                "rnd": os.urandom(16)})) for i in range(f["num_sounds"])]
            return self._send(now, frames, TT_EV_ATTEN_RESULTS_S)
        if msg.mmtype == m.CM_ATTEN_CHAR_IND and self.state in ("WaitAttenChar", "WaitMatchCnf"):
            self.state, self._tries = "WaitMatchCnf", 0
            rsp = m.encode(m.Mme(m.CM_ATTEN_CHAR_RSP, msg.src, self.own_mac, {
                "application_type": 0, "security_type": 0, "source_address": self.own_mac, "run_id": self.run_id,
                "source_id": b"", "resp_id": b"", "result": 0}))
            match = m.encode(m.Mme(m.CM_SLAC_MATCH_REQ, msg.src, self.own_mac, {
                "application_type": 0, "security_type": 0, "mvf_length": 0x3E, "pev_id": b"", "pev_mac": self.own_mac,
                "evse_id": b"", "evse_mac": msg.src, "run_id": self.run_id, "rsvd": b""}))
            return self._send(now, [rsp, match], TT_EV_RESPONSE_S)
        if msg.mmtype == m.CM_SLAC_MATCH_CNF and self.state == "WaitMatchCnf":
            self.nmk, self.nid = f["nmk"], f["nid"]
            self.state, self.deadline = "Matched", None
        return []
