"""Configuration of the DC power service (`/etc/evcharge/power.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.config import bounded


@dataclass
class PowerConfig:
    connector_id: int = bounded(1, 1, 64)
    # "sim": a simulated supply and isolation monitor (SIL, tests). Hardware backends come with a board.
    backend: str = "sim"
    max_voltage_v: float = bounded(500.0, 50.0, 1500.0)
    max_current_a: float = bounded(125.0, 1.0, 1000.0)
    max_power_w: float = bounded(50000.0, 100.0, 1000000.0)
    # The output switches itself off when no SetOutput came for this long while on (the SECC
    # sends one per PreCharge / CurrentDemand, every 0.25 s at most): a SECC that crashed or hangs
    # must not leave the output live. 0 disables the check.
    setpoint_timeout_s: float = bounded(5.0, 0.0, 600.0)
    # Present values are published at most this often while they change.
    publish_interval_s: float = bounded(0.05, 0.01, 5.0)
    # IEC 61557-8 / IEC 61851-23: an insulation resistance below fault_ohm_per_v x test voltage is
    # a fault, below warning_ohm_per_v x test voltage a warning.
    fault_ohm_per_v: float = bounded(100.0, 1.0, 10000.0)
    warning_ohm_per_v: float = bounded(500.0, 1.0, 10000.0)
    # sim backend
    sim_slew_v_per_s: float = bounded(2000.0, 1.0, 100000.0)
    sim_slew_a_per_s: float = bounded(1000.0, 1.0, 100000.0)
    sim_isolation_ohm: float = bounded(10_000_000.0, 0.0, 1e12)   # what the simulated IMD measures
    sim_check_s: float = bounded(0.3, 0.0, 60.0)                  # how long its measurement takes

    def validate(self) -> None:
        if self.backend != "sim":
            raise ValueError(f"backend must be sim (the only one so far), got {self.backend!r}")
        if self.warning_ohm_per_v < self.fault_ohm_per_v:
            raise ValueError("warning_ohm_per_v must be at least fault_ohm_per_v")
