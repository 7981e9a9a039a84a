"""Configuration of the OCPP service (`/etc/evcharge/ocpp.yaml`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..common.config import bounded

MAX_STATION_ID_LEN = 48  # identity in the URL path (OCPP 2.0.1 SecurityCtrlr.Identity is string[48])


class Protocol(enum.Enum):
    OCPP201 = "ocpp2.0.1"
    OCPP16 = "ocpp1.6"      # OCPP 1.6J (edition 2) with the security extension: ocpp/v16/


@dataclass
class EvseMapping:
    """An evcharge connector (evse service connector id) as OCPP EVSE / connector."""

    connector: int = 1        # evse service connector id (and meter id unless meter_id is set)
    evse_id: int = 1          # OCPP evseId (> 0)
    connector_id: int = 1     # OCPP connectorId within the EVSE (> 0)
    meter_id: int = 0         # meter service meter id, 0: the connector id


@dataclass
class RetryConfig:
    # Reconnect back-off (OCPPCommCtrlr.RetryBackOff*): wait = min * 2^n (n < repeat_times) + random(0, range).
    backoff_wait_minimum_s: float = bounded(3.0, 0.01, 3600.0)
    backoff_random_range_s: float = bounded(10.0, 0.0, 3600.0)
    backoff_repeat_times: int = bounded(5, 0, 20)
    # Transaction messages (OCPPCommCtrlr.MessageAttempts/MessageAttemptInterval TransactionEvent).
    transaction_event_attempts: int = bounded(3, 1, 100)
    transaction_event_interval_s: float = bounded(10.0, 0.01, 3600.0)


@dataclass
class StationInfo:
    vendor_name: str = "evcharge"
    model: str = "evcharge-ac"
    serial_number: str = ""
    firmware_version: str = "0.1.0"


@dataclass
class OcppConfig:
    # The CSMS endpoint; the station id is appended: <csms_url>/<station_id>.
    csms_url: str = "ws://127.0.0.1:9000/ocpp"
    station_id: str = "evcharge-001"
    protocol: Protocol = Protocol.OCPP201
    # 1: ws:// or wss:// with HTTP basic auth; 2: wss:// + basic auth; 3: wss:// + client certificate.
    security_profile: int = bounded(1, 0, 3)
    basic_auth_password_file: str = ""  # profile 1/2; empty: no Authorization header (profile 0, tests)
    ca_file: str = ""                   # profile 2/3: CSMS root certificate(s); empty: system store
    client_cert_file: str = ""          # profile 3
    client_key_file: str = ""           # profile 3
    # A03: the station asks for a new certificate (SignCertificate) when its own expires within this.
    certificate_renew_days: int = bounded(30, 1, 365)
    heartbeat_interval_s: int = bounded(300, 1, 86400)  # until the CSMS sets one at boot
    message_timeout_s: float = bounded(30.0, 0.1, 600.0)
    websocket_ping_interval_s: float = bounded(60.0, 0.0, 3600.0)  # 0: no pings
    offline_threshold_s: int = bounded(300, 0, 86400)
    meter_sample_interval_s: int = bounded(60, 0, 86400)  # SampledDataCtrlr.TxUpdatedInterval, 0: none
    # GetCompositeSchedule reports these where no charging profile limits an EVSE / the station.
    evse_max_current_a: float = bounded(32.0, 0.0, 1000.0)
    site_limit_a: float = bounded(32.0, 0.0, 10000.0)
    retry: RetryConfig = field(default_factory=RetryConfig)
    station: StationInfo = field(default_factory=StationInfo)
    evses: list[EvseMapping] = field(default_factory=lambda: [EvseMapping(1, 1, 1), EvseMapping(2, 2, 1)])

    def validate(self) -> None:
        if not self.csms_url.startswith(("ws://", "wss://")):
            raise ValueError(f"csms_url must start with ws:// or wss://, got {self.csms_url!r}")
        if not self.station_id or len(self.station_id) > MAX_STATION_ID_LEN or "/" in self.station_id \
                or not self.station_id.isprintable() or " " in self.station_id:
            raise ValueError(f"station_id must be 1..{MAX_STATION_ID_LEN} printable characters without '/' or space")
        if self.security_profile >= 2 and not self.csms_url.startswith("wss://"):
            raise ValueError(f"security_profile {self.security_profile} needs a wss:// csms_url")
        if self.security_profile == 3 and not (self.client_cert_file and self.client_key_file):
            raise ValueError("security_profile 3 needs client_cert_file and client_key_file")
        conns = [e.connector for e in self.evses]
        if len(set(conns)) != len(conns):
            raise ValueError(f"evses: connector ids must be unique, got {conns}")
        pairs = [(e.evse_id, e.connector_id) for e in self.evses]
        if len(set(pairs)) != len(pairs) or any(a < 1 or b < 1 for a, b in pairs):
            raise ValueError("evses: (evse_id, connector_id) must be unique and >= 1")

    @property
    def url(self) -> str:
        return f"{self.csms_url.rstrip('/')}/{self.station_id}"
