"""SLAC state machines (EVSE, EV) and the fake modem wired together in memory, timers included."""

from __future__ import annotations

from evcharge.sim.plc_modem import PlcModem
from evcharge.sim.slac_ev import SlacEv
from evcharge.slac import evse as ev_se
from evcharge.slac import messages as m
from evcharge.slac.evse import SlacEvse, State

EVSE_MAC = bytes.fromhex("020000000001")
EV_MAC = bytes.fromhex("020000000002")


class Wire:
    """EVSE host and modem on one side, the EV on the other; every frame is seen by the others."""

    def __init__(self, *, modem=None, ev=True):
        self.evse = SlacEvse(EVSE_MAC)
        self.modem = modem or PlcModem()
        self.ev = SlacEv(EV_MAC) if ev else None
        self.t = 0.0
        self.log: list[str] = []

    def deliver(self, frames, sender):
        queue = [(f, sender) for f in frames]
        while queue:
            frame, frm = queue.pop(0)
            self.log.append(m.decode(frame).name)
            for name, party in (("evse", self.evse), ("modem", self.modem), ("ev", self.ev)):
                if party is None or name == frm:
                    continue
                out = party.feed(frame) if name == "modem" else party.feed(frame, self.t)
                queue += [(f, name) for f in out]

    def run(self, seconds=30.0, step=0.05):
        end = self.t + seconds
        while self.t < end:
            self.t += step
            self.deliver(self.evse.tick(self.t), "evse")
            if self.ev:
                self.deliver(self.ev.tick(self.t), "ev")
            if self.evse.result and (self.ev is None or self.ev.done):
                return self


def test_match():
    w = Wire()
    w.deliver(w.evse.start(w.t), "evse")
    assert w.evse.state is State.WAIT_PARM
    w.deliver(w.ev.start(w.t), "ev")
    w.run()
    assert w.evse.state is State.MATCHED and w.ev.state == "Matched"
    assert w.ev.nmk == w.evse.nmk == w.modem.nmk and w.ev.evse_mac == EVSE_MAC and w.evse.ev_mac == EV_MAC
    assert w.evse.sounds == 10 and len(w.evse.profiles) == 10
    for name in ("CM_SET_KEY.REQ", "CM_SET_KEY.CNF", "CM_SLAC_PARM.REQ", "CM_SLAC_PARM.CNF", "CM_START_ATTEN_CHAR.IND",
                 "CM_MNBC_SOUND.IND", "CM_ATTEN_PROFILE.IND", "CM_ATTEN_CHAR.IND", "CM_ATTEN_CHAR.RSP",
                 "CM_SLAC_MATCH.REQ", "CM_SLAC_MATCH.CNF"):
        assert name in w.log


def test_set_key_result_0_per_spec_is_success_too():
    w = Wire(modem=PlcModem(set_key_result=0), ev=False)
    w.deliver(w.evse.start(0.0), "evse")
    assert w.evse.state is State.WAIT_PARM


def test_set_key_error_result_fails():
    w = Wire(modem=PlcModem(set_key_result=2), ev=False)
    w.deliver(w.evse.start(0.0), "evse")
    assert w.evse.state is State.FAILED and "result 2" in w.evse.reason


def test_silent_modem_is_retried_then_fails():
    w = Wire(modem=PlcModem(answer_set_key=False), ev=False)
    w.deliver(w.evse.start(0.0), "evse")
    w.run(10)
    assert w.evse.state is State.FAILED and "did not confirm CM_SET_KEY (3 tries)" in w.evse.reason
    assert w.log.count("CM_SET_KEY.REQ") == ev_se.SET_KEY_TRIES


def test_no_ev_answer_fails_after_slac_init():
    w = Wire(ev=False)
    w.evse.slac_init_s = 5.0
    w.deliver(w.evse.start(0.0), "evse")
    w.run(4.9)
    assert w.evse.state is State.WAIT_PARM
    w.run(0.2)
    assert w.evse.state is State.FAILED and "no CM_SLAC_PARM.REQ" in w.evse.reason


def test_ev_without_evse_gives_up():
    ev = SlacEv(EV_MAC)
    ev.start(0.0)
    t = 0.0
    while not ev.done and t < 10:
        t += 0.05
        ev.tick(t)
    assert ev.state == "Failed"


def test_frames_roundtrip():
    frame = m.encode(m.Mme(m.CM_SLAC_PARM_REQ, m.BROADCAST, EV_MAC, {"application_type": 0, "security_type": 0,
                                                                     "run_id": b"12345678"}))
    assert len(frame) == 60 and frame[12:14] == b"\x88\xe1" and frame[15:17] == b"\x64\x60"
    msg = m.decode(frame)
    assert msg.name == "CM_SLAC_PARM.REQ" and msg.src == EV_MAC and msg.fields["run_id"] == b"12345678"
