"""Board profiles: what a board has and where, validated on load.

A profile (`board-support/boards/<board>.yaml`, installed to /usr/share/evcharge/boards/) names
the backend and every connector's capabilities. The backend-specific part (`linux:` GPIO lines,
PWM chips, IIO channels by name; `mcu:` serial port) is checked by the same loader, so a
malformed profile is refused with file, key and reason before any pin is touched.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..common.config import ConfigError, bounded, from_dict, load_yaml
from .backends.linux_config import LinuxConnectorIo
from .backends.mcu_config import McuLink

BOARDS_DIR = Path(os.environ.get("EVCHARGE_BOARDS_DIR", "/usr/share/evcharge/boards"))


class BackendKind(enum.Enum):
    SIM = "sim"
    LINUX = "linux"
    MCU = "mcu"


@dataclass
class ConnectorProfile:
    id: int = 1
    max_current_a: float = bounded(32.0, 6.0, 80.0)
    phases: int = bounded(3, 1, 3)
    # A socket has a PP resistor in the plug that limits the current; a tethered cable does not.
    socket: bool = True
    lock: bool = True
    contactor_feedback: bool = True
    rcd: bool = True
    # Contactor aux contact must follow the command within this time, else welded / failed to close.
    contactor_feedback_timeout_ms: float = bounded(100.0, 5.0, 2000.0)
    linux: LinuxConnectorIo | None = None

    def validate(self) -> None:
        if self.id < 1:
            raise ValueError(f"connector id must be >= 1, got {self.id}")


@dataclass
class BoardProfile:
    name: str = ""
    description: str = ""
    backend: BackendKind = BackendKind.SIM
    # The evse service must call Heartbeat at least this often, else the board makes itself safe.
    heartbeat_timeout_s: float = bounded(2.0, 0.2, 30.0)
    # Poll period for backends that do not push changes; push backends are sampled on change too.
    cp_sample_period_ms: float = bounded(10.0, 1.0, 100.0)
    connectors: list[ConnectorProfile] = field(default_factory=lambda: [ConnectorProfile()])
    mcu: McuLink | None = None

    def validate(self) -> None:
        if not self.name:
            raise ValueError("name: a board profile needs a name")
        if not self.connectors:
            raise ValueError("connectors: at least one connector is required")
        ids = [c.id for c in self.connectors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"connectors: connector ids must be unique, got {ids}")
        if self.backend is BackendKind.MCU and self.mcu is None:
            raise ValueError("mcu: the mcu backend needs an 'mcu:' section (serial port)")
        if self.backend is BackendKind.LINUX:
            missing = [c.id for c in self.connectors if c.linux is None]
            if missing:
                raise ValueError(f"connectors: the linux backend needs a 'linux:' section for connector(s) {missing}")
            for c in self.connectors:
                assert c.linux is not None
                c.linux.check_against(c)

    def connector(self, connector_id: int) -> ConnectorProfile:
        for c in self.connectors:
            if c.id == connector_id:
                return c
        raise KeyError(connector_id)


def resolve_profile_path(name_or_path: str) -> Path:
    """A profile given as a path, or by board name from the installed boards directory."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return p
    return BOARDS_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str) -> BoardProfile:
    path = resolve_profile_path(name_or_path)
    data = load_yaml(path)
    if data is None:
        raise ConfigError(path, "", "empty board profile")
    return from_dict(BoardProfile, data, file=str(path))
