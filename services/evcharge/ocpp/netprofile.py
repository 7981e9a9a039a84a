"""Network connection profiles (OCPP 2.0.1 B09 SetNetworkProfile; pure).

Slot 0 is the connection configured in ocpp.yaml; the CSMS may store profiles in slots 0..3
(`MAX_SLOTS`) and order them with OCPPCommCtrlr.NetworkConfigurationPriority (only slots that
hold a profile may be named). A profile is Rejected when its slot is out of range or is the one
in use, when it asks for what this station cannot do (OCPP 1.x / SOAP, an APN or VPN: the OS
owns modems and tunnels), when its URL does not fit its security profile (1: ws://, 2 and 3:
wss://), or when it would lower the security profile (A05: no downgrade). Stored profiles are
persisted (queue database, key `network_profiles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_SLOTS = 4
STATE_KEY = "network_profiles"


def check_profile(slot: int, data: dict[str, Any], *, active_slot: int, current_security_profile: int) -> str | None:
    """None if the profile can be stored, else the reason (for statusInfo.additionalInfo)."""
    if not 0 <= slot < MAX_SLOTS:
        return f"configurationSlot must be 0..{MAX_SLOTS - 1}"
    if slot == active_slot:
        return "the slot in use cannot be overwritten"
    if data.get("ocppVersion") != "OCPP20":
        return "only OCPP20 (OCPP 2.0.1) is supported"
    if data.get("ocppTransport") != "JSON":
        return "only the JSON transport is supported"
    if data.get("apn") or data.get("vpn"):
        return "APN and VPN settings are not managed by this station"
    url = str(data.get("ocppCsmsUrl", ""))
    profile = data.get("securityProfile")
    if not isinstance(profile, int) or not 1 <= profile <= 3:
        return "securityProfile must be 1..3"
    if profile < current_security_profile:
        return f"securityProfile {profile} is below the current {current_security_profile}"
    scheme = "wss://" if profile >= 2 else "ws://"
    if not url.startswith(scheme) or len(url) <= len(scheme):
        return f"securityProfile {profile} needs a {scheme} ocppCsmsUrl"
    timeout = data.get("messageTimeout")
    if not isinstance(timeout, int) or timeout <= 0:
        return "messageTimeout must be a positive number of seconds"
    return None


class NetworkProfiles:
    def __init__(self) -> None:
        self.slots: dict[int, dict[str, Any]] = {}

    def store(self, slot: int, data: dict[str, Any]) -> None:
        self.slots[slot] = data

    def configured(self) -> list[int]:
        return sorted({0} | set(self.slots))

    def to_json(self) -> dict[str, Any]:
        return {str(k): v for k, v in self.slots.items()}

    def load_json(self, data: dict[str, Any] | None) -> None:
        self.slots = {int(k): v for k, v in (data or {}).items() if k.isdigit()}


@dataclass(frozen=True)
class Target:
    slot: int
    url: str                 # with the station identity appended
    security_profile: int
    message_timeout_s: float


class Selector:
    """Which slot to connect with (B10): the NetworkConfigurationPriority order, moving on to the
    next slot after NetworkProfileConnectionAttempts failed connection attempts (wrapping round)."""

    def __init__(self) -> None:
        self.index = 0
        self.failures = 0

    @staticmethod
    def order(priority: str, profiles: NetworkProfiles) -> list[int]:
        slots = [int(s) for s in priority.split(",") if s.strip().isdigit()]
        usable = [s for s in slots if s == 0 or s in profiles.slots]
        return usable or [0]

    def current(self, order: list[int]) -> int:
        return order[self.index % len(order)]

    def failed(self, attempts: int, order: list[int]) -> bool:
        """Count a failed attempt; True if the next attempt uses another slot."""
        self.failures += 1
        if self.failures >= max(1, attempts) and len(order) > 1:
            self.index = (self.index + 1) % len(order)
            self.failures = 0
            return True
        return False

    def succeeded(self) -> None:
        self.failures = 0


def target(slot: int, profiles: NetworkProfiles, *, station_id: str, default_url: str, default_profile: int,
           default_timeout_s: float) -> Target:
    data = profiles.slots.get(slot)
    if data is None:
        return Target(slot, default_url, default_profile, default_timeout_s)
    return Target(slot, f"{str(data['ocppCsmsUrl']).rstrip('/')}/{station_id}", int(data["securityProfile"]),
                  float(data["messageTimeout"]))
