"""Configuration of the meter service (`/etc/evcharge/meter.yaml`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from evcharge.common.config import bounded


class BackendKind(enum.Enum):
    SIM = "sim"
    SIM_DC = "sim-dc"
    MODBUS_TCP = "modbus-tcp"
    MODBUS_RTU = "modbus-rtu"


PARITIES = ("N", "E", "O")


@dataclass
class MeterEntry:
    connector_id: int = bounded(1, 1, 255)
    backend: BackendKind = BackendKind.SIM
    host: str = ""                   # modbus-tcp
    port: int = bounded(502, 1, 65535)
    unit_id: int = bounded(1, 1, 247)  # Modbus device address (247 is the highest unicast one)
    serial_port: str = ""            # modbus-rtu
    baudrate: int = bounded(9600, 1200, 115200)
    parity: str = "N"
    stopbits: int = bounded(1, 1, 2)

    def validate(self) -> None:
        if self.backend is BackendKind.MODBUS_TCP and not self.host:
            raise ValueError(f"meter for connector {self.connector_id}: backend modbus-tcp needs 'host'")
        if self.backend is BackendKind.MODBUS_RTU and not self.serial_port:
            raise ValueError(f"meter for connector {self.connector_id}: backend modbus-rtu needs 'serial_port'")
        if self.parity not in PARITIES:
            raise ValueError(f"meter for connector {self.connector_id}: parity must be one of "
                             f"{', '.join(PARITIES)}, got {self.parity!r}")


@dataclass
class MeterConfig:
    poll_interval_s: float = bounded(1.0, 0.05, 60.0)
    timeout_s: float = bounded(0.5, 0.05, 30.0)
    meters: list[MeterEntry] = field(default_factory=list)

    def validate(self) -> None:
        seen: set[int] = set()
        units: set[tuple[str, ...]] = set()
        lines: dict[str, MeterEntry] = {}
        dc: MeterEntry | None = None
        for m in self.meters:
            if m.connector_id in seen:
                raise ValueError(f"meters: connector_id {m.connector_id} appears more than once")
            seen.add(m.connector_id)
            if m.backend is BackendKind.SIM_DC:
                # There is one DC power service (org.evcharge.PowerSupply1) per charger.
                if dc is not None:
                    raise ValueError(f"meters: backend sim-dc on connectors {dc.connector_id} and {m.connector_id}; "
                                     "the DC supply (org.evcharge.PowerSupply1) has one output")
                dc = m
            if m.backend in (BackendKind.SIM, BackendKind.SIM_DC):
                continue
            where = (m.host, str(m.port)) if m.backend is BackendKind.MODBUS_TCP else (m.serial_port,)
            if (*where, str(m.unit_id)) in units:
                raise ValueError(f"meters: two meters at {':'.join(where)} unit_id {m.unit_id}")
            units.add((*where, str(m.unit_id)))
            if m.backend is BackendKind.MODBUS_RTU:
                # Meters on one RS-485 line share one port, so they must agree on its settings.
                first = lines.setdefault(m.serial_port, m)
                if (first.baudrate, first.parity, first.stopbits) != (m.baudrate, m.parity, m.stopbits):
                    raise ValueError(f"meters on {m.serial_port} must use the same baudrate, parity and stopbits "
                                     f"(connectors {first.connector_id} and {m.connector_id} differ)")
