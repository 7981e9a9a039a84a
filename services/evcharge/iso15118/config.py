from __future__ import annotations

from dataclasses import dataclass, field

from ..common.config import bounded


@dataclass
class V2gConfig:
    connector_id: int = bounded(1, 1, 64)
    # The PLC modem's network interface (board profile); SDP listens there, TCP binds its link-local address.
    interface: str = "eth1"
    # Bind/announce this address instead of the interface's link-local one (e.g. "::1" in a test).
    address: str = ""
    tcp_port: int = bounded(0, 0, 65535)   # 0: any free port, announced by SDP
    sdp_port: int = bounded(15118, 1, 65535)
    protocols: list[str] = field(default_factory=lambda: ["iso2", "din"])
    evse_id: str = "DE*EVC*E1"
    dc: bool = False
    # "evse": the charger over D-Bus (evse, board, energy, meter); "sim": a self-contained simulated EVSE.
    controller: str = "evse"
    sequence_timeout_s: float = bounded(60.0, 0.5, 600.0)
    # sim controller only
    sim_auth_delay_s: float = bounded(0.2, 0.0, 600.0)
    sim_cable_check_s: float = bounded(0.3, 0.0, 600.0)
    sim_isolation_fault: bool = False

    def validate(self) -> None:
        bad = [p for p in self.protocols if p not in ("iso2", "din")]
        if bad or not self.protocols:
            raise ValueError(f"protocols: each must be iso2 or din, got {self.protocols}")
        if self.controller not in ("evse", "sim"):
            raise ValueError(f"controller must be evse or sim, got {self.controller!r}")
        if "din" in self.protocols and not self.dc and self.protocols == ["din"]:
            raise ValueError("DIN 70121 is DC only: set dc: true or add iso2")
