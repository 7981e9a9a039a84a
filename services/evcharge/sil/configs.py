"""What the SIL runner runs: the simulated board profile and one config file per service.

The profile is found in a checkout (`board-support/boards/sim.yaml` beside `services/`) or where
packages install it (`/usr/share/evcharge/boards/sim.yaml`, or $EVCHARGE_BOARDS_DIR), so the
runner works from a git clone and from an installed image alike. Configs are generated, not
shipped: they depend on the profile's connectors, and a developer can override any of them with
`--config-dir`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import evcharge

from ..board.profile import BOARDS_DIR, load_profile

# Start order: the board first (it owns safety and the simulated EV), the evse service last
# (it uses all the others). The supervisor stops them in reverse.
ALL_SERVICES = ("board", "energy", "meter", "auth", "evse")
# With --hlc: the DC power supply (with --dc), SLAC (with --plc-interface) and the SECC, after evse.
HLC_SERVICES = ("power", "slac", "iso15118")

SIM_READER = "rfid0"

# Cards for `evchargectl auth tap <uid>`: ISO 14443 UIDs are 8, 14 or 20 hex digits.
DEMO_TOKENS: tuple[dict[str, str], ...] = (
    {"token": "04A1B2C3", "token_type": "ISO14443", "status": "Accepted"},
    {"token": "04C0FFEE123456", "token_type": "ISO14443", "status": "Accepted"},
    {"token": "DEADBEEF", "token_type": "ISO14443", "status": "Blocked"},
)


class SilSetupError(Exception):
    pass


def profile_candidates() -> list[Path]:
    checkout = Path(evcharge.__file__).resolve().parents[2] / "board-support" / "boards" / "sim.yaml"
    return [checkout, BOARDS_DIR / "sim.yaml"]


def find_profile(explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SilSetupError(f"board profile {path} does not exist")
        return path.resolve()
    for path in profile_candidates():
        if path.is_file():
            return path
    tried = ", ".join(map(str, profile_candidates()))
    raise SilSetupError(f"no simulated board profile found (tried {tried}); pass --profile PATH")


def installed(service: str) -> bool:
    """Whether `python -m evcharge.<service>` can run here (a service may be missing from a build)."""
    return importlib.util.find_spec(f"evcharge.{service}.service") is not None


@dataclass(frozen=True)
class HlcSetup:
    """ISO 15118 / DIN 70121 on one connector: the SECC on loopback (SDP by unicast to ::1) or on
    a PLC interface (SDP multicast, SLAC on the same interface)."""

    connector: int
    dc: bool = False
    plc_interface: str = ""
    sdp_port: int = 15118

    @property
    def services(self) -> list[str]:
        return [s for s in HLC_SERVICES if s == "iso15118" or (s == "power" and self.dc)
                or (s == "slac" and self.plc_interface)]


def service_configs(profile: Path, site_limit_a: float, hlc: HlcSetup | None = None) -> dict[str, dict[str, Any]]:
    prof = load_profile(str(profile))
    conns: list[dict[str, Any]] = [{"id": c.id, "max_current_a": c.max_current_a} for c in prof.connectors]
    extra: dict[str, dict[str, Any]] = {}
    if hlc is not None:
        if hlc.connector not in [c["id"] for c in conns]:
            raise SilSetupError(f"--hlc {hlc.connector}: the board profile has connectors "
                                f"{', '.join(str(c['id']) for c in conns)}")
        evse_conns = [dict(c, hlc=True) if c["id"] == hlc.connector else c for c in conns]
        v2g: dict[str, Any] = {"connector_id": hlc.connector, "controller": "evse", "dc": hlc.dc,
                               "sdp_port": hlc.sdp_port}
        if hlc.plc_interface:
            v2g["interface"] = hlc.plc_interface
        else:  # loopback: evchargectl ev hlc finds the SECC with SDP by unicast to ::1
            v2g.update(interface="lo", address="::1")
        extra["iso15118"] = v2g
        extra["power"] = {"connector_id": hlc.connector}
        extra["slac"] = {"connector_id": hlc.connector, "interface": hlc.plc_interface or "lo"}
    else:
        evse_conns = conns
    return {
        "board": {"profile": str(profile)},
        "energy": {"site_limit_a": site_limit_a, "connectors": conns},
        # Fast polling so that `evchargectl status` shows energy rising while you watch.
        # A DC connector is billed from a DC meter on the supply's output, not from the AC draw.
        "meter": {"poll_interval_s": 0.5, "meters": [
            {"connector_id": c.id, "backend": "sim-dc" if hlc and hlc.dc and c.id == hlc.connector else "sim"}
            for c in prof.connectors]},
        "auth": {"allow_list": [dict(t) for t in DEMO_TOKENS], "readers": [{"name": SIM_READER, "type": "sim"}]},
        "evse": {"connectors": evse_conns},
        **extra,
    }


def write_configs(workdir: Path, generated: dict[str, dict[str, Any]], services: list[str],
                  override_dir: Path | None) -> dict[str, Path]:
    """One config file per service: from `override_dir` where it has one, else the generated one."""
    paths: dict[str, Path] = {}
    for name in services:
        own = override_dir / f"{name}.yaml" if override_dir else None
        if own is not None and own.is_file():
            paths[name] = own.resolve()
            continue
        path = workdir / "config" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# generated by evcharge-sil\n{yaml.safe_dump(generated[name], sort_keys=False)}")
        paths[name] = path
    return paths
