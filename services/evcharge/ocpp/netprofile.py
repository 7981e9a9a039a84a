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
