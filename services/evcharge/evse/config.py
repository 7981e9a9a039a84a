from __future__ import annotations

from dataclasses import dataclass, field

from ..common.config import bounded


@dataclass
class EvseConnector:
    id: int = 1
    max_current_a: float = bounded(32.0, 6.0, 80.0)
    meter_id: int = 0  # 0: the meter with the connector's id
    # An ISO 15118 / DIN 70121 SECC (org.evcharge.V2g1) serves this connector: 5 % PWM, power per HLC.
    hlc: bool = False
    # HLC: what a failed SLAC matching (org.evcharge.Slac1 Result) leads to: this many retries
    # (state F for 4 s, the E/F wake-up, then 5 % again), then "basic" (nominal PWM after 3 s of X1, IEC 61851-1
    # charging) or "stop" (the session stops, X1 until unplug).
    slac_retries: int = bounded(1, 0, 10)
    slac_fallback: str = "basic"
    # HLC: a SLAC match without a V2G SessionSetup within this many seconds counts as a failure.
    v2g_after_match_s: float = bounded(20.0, 1.0, 600.0)
    # HLC: a V2G session ending in an error (sequence error, timeout, TCP drop, ...): "stop" the
    # session (X1 until unplug) or "basic" charging (nominal PWM after 3 s of X1; only when the
    # session is authorized, else it stops).
    hlc_error_fallback: str = "stop"

    @property
    def meter(self) -> int:
        return self.meter_id or self.id


CONNECTION_TIMEOUT_MIN_S = 1.0
CONNECTION_TIMEOUT_MAX_S = 3600.0


@dataclass
class EvseConfig:
    # Well inside the board's heartbeat timeout (2 s by default): a late beat costs a charging stop.
    heartbeat_interval_s: float = bounded(0.5, 0.05, 10.0)
    # How long a token presented before plug-in waits for a cable. Evse1.SetConnectionTimeout
    # (OCPP's EVConnectionTimeOut) overrides it; the override is kept in the state directory.
    connection_timeout_s: float = bounded(60.0, CONNECTION_TIMEOUT_MIN_S, CONNECTION_TIMEOUT_MAX_S)
    # Ended sessions kept in the history (ListSessions).
    history_size: int = bounded(200, 1, 100000)
    connectors: list[EvseConnector] = field(default_factory=lambda: [EvseConnector(1), EvseConnector(2)])

    def validate(self) -> None:
        for c in self.connectors:
            if c.hlc_error_fallback not in ("basic", "stop"):
                raise ValueError(f"connector {c.id}: hlc_error_fallback must be basic or stop, "
                                 f"got {c.hlc_error_fallback!r}")
            if c.slac_fallback not in ("basic", "stop"):
                raise ValueError(f"connector {c.id}: slac_fallback must be basic or stop, got {c.slac_fallback!r}")
        ids = [c.id for c in self.connectors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"connectors: ids must be unique, got {ids}")
