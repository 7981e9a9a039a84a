from __future__ import annotations

from dataclasses import dataclass

from ..common.config import bounded


@dataclass
class SlacConfig:
    connector_id: int = bounded(1, 1, 64)
    interface: str = "eth1"                   # the PLC modem's interface (board profile)
    modem_mac: str = "00:B0:52:00:00:01"      # the local modem (QCA7000 default address)
    slac_init_s: float = bounded(50.0, 1.0, 600.0)   # TT_EVSE_SLAC_init: plug-in to CM_SLAC_PARM.REQ
    # "board": match when the board's connector shows an EV (B/C) with 5 % PWM, reset at unplug;
    # "now": once at start (tests, bench).
    start: str = "board"

    def validate(self) -> None:
        if self.start not in ("board", "now"):
            raise ValueError(f"start must be board or now, got {self.start!r}")
