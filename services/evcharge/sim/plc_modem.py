"""A fake HomePlug AV (QCA) modem for SLAC tests: the EVSE's modem as seen on the wire.

It answers the host's CM_SET_KEY.REQ with CM_SET_KEY.CNF (result 1, as Qualcomm modems do, where
the standard says 0) and reports every CM_MNBC_SOUND.IND it hears with a CM_ATTEN_PROFILE.IND to
the host (fixed attenuation around 20 dB). Run it on the EV's side of a veth pair so that its frames
reach the EVSE host as they would from the modem:

    python -m evcharge.sim.plc_modem --interface veth-ev [--set-key-result 1] [--silent]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import dataclass

from ..slac import messages as m

log = logging.getLogger("evcharge.sim.plc_modem")

QCA_SET_KEY_SUCCESS = 1


@dataclass
class PlcModem:
    mac: bytes = bytes.fromhex("00B052000001")
    set_key_result: int = QCA_SET_KEY_SUCCESS
    answer_set_key: bool = True
    host_mac: bytes = b""
    nmk: bytes = b""
    sounds: int = 0

    def feed(self, frame: bytes) -> list[bytes]:
        try:
            msg = m.decode(frame)
        except m.MmeError:
            return []
        if msg.src == self.mac:
            return []
        if msg.mmtype == m.CM_SET_KEY_REQ and msg.dst in (self.mac, m.BROADCAST):
            self.host_mac, self.nmk = msg.src, msg.fields["new_key"]
            if not self.answer_set_key:
                return []
            return [m.encode(m.Mme(m.CM_SET_KEY_CNF, msg.src, self.mac, {
                "result": self.set_key_result, "my_nonce": 0, "your_nonce": msg.fields["my_nonce"], "pid": 4,
                "prn": 0, "pmn": 0, "cco_cap": 0}))]
        if msg.mmtype == m.CM_MNBC_SOUND_IND and self.host_mac:
            self.sounds += 1
            aag = bytes(20 + (i + self.sounds) % 5 for i in range(m.NUM_GROUPS))
            return [m.encode(m.Mme(m.CM_ATTEN_PROFILE_IND, self.host_mac, self.mac, {
                "pev_mac": msg.src, "num_groups": m.NUM_GROUPS, "rsvd": 0, "aag": aag}))]
        return []


async def run(args: argparse.Namespace) -> None:
    from ..slac.rawsock import RawSocket

    modem = PlcModem(set_key_result=args.set_key_result, answer_set_key=not args.silent)
    # All frames of the interface, outgoing ones included: the EV's sounds leave through it.
    sock = RawSocket(args.interface, all_frames=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def on_frame(frame: bytes) -> None:
        for out in modem.feed(frame):
            sock.send(out)

    sock.start(on_frame)
    print("ready", flush=True)
    await stop.wait()
    sock.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="evcharge-sim-plc-modem", description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--interface", required=True)
    p.add_argument("--set-key-result", type=int, default=QCA_SET_KEY_SUCCESS)
    p.add_argument("--silent", action="store_true", help="do not answer CM_SET_KEY (a dead modem)")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(run(p.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
