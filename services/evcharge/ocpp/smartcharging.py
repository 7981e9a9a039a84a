"""Charging profiles -> current limits (pure; a first cut of OCPP 2.0.1 K01/K10).

Stored profiles give, at a time t, a limit in amps per EVSE and for the whole station:
- ChargingStationMaxProfile (evseId 0): the station limit (energy connector 0, the site);
- TxProfile (for the running transaction) over TxDefaultProfile (for the EVSE, else evseId 0):
  the EVSE limit; within a purpose the highest stackLevel valid at t wins.
Schedules: Absolute, Relative (to the transaction's start) and Recurring Daily/Weekly;
only chargingRateUnit "A" (W needs the voltage and phases: refused for now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PURPOSES = ("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile")


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def check_profile(evse_id: int, profile: dict[str, Any], active_tx: dict[int, str]) -> str | None:
    """None if the profile can be stored, else the reason (for statusInfo)."""
    purpose = profile.get("chargingProfilePurpose")
    if purpose not in PURPOSES:
        return "UnsupportedPurpose"
    if purpose == "ChargingStationMaxProfile" and evse_id != 0:
        return "InvalidEvse"
    if purpose == "TxProfile" and (evse_id == 0 or active_tx.get(evse_id) != profile.get("transactionId")):
        return "TxNotFound"
    schedules = profile.get("chargingSchedule") or []
    if not schedules:
        return "InvalidSchedule"
    for sch in schedules:
        if sch.get("chargingRateUnit") != "A":
            return "UnsupportedRateUnit"
        periods = sch.get("chargingSchedulePeriod") or []
        if not periods or periods[0].get("startPeriod") != 0:
            return "InvalidSchedule"
        starts = [p["startPeriod"] for p in periods]
        if starts != sorted(set(starts)):
            return "InvalidSchedule"
    kind = profile.get("chargingProfileKind")
    if kind == "Absolute" and not schedules[0].get("startSchedule"):
        return "InvalidSchedule"
    if kind == "Recurring" and (profile.get("recurrencyKind") not in ("Daily", "Weekly")
                                or not schedules[0].get("startSchedule")):
        return "InvalidSchedule"
    return None


def _schedule_start(profile: dict[str, Any], sch: dict[str, Any], now: float, tx_start: float | None) -> float | None:
    kind = profile.get("chargingProfileKind")
    if kind == "Relative":
        return tx_start
    start = parse_time(sch["startSchedule"])
    if kind == "Recurring":
        period = 86400.0 if profile.get("recurrencyKind") == "Daily" else 7 * 86400.0
        if now >= start:
            start += ((now - start) // period) * period
    return start


def value_at(profile: dict[str, Any], now: float, tx_start: float | None) -> float | None:
    """The profile's limit at `now`, or None where it does not apply."""
    if profile.get("validFrom") and now < parse_time(profile["validFrom"]):
        return None
    if profile.get("validTo") and now >= parse_time(profile["validTo"]):
        return None
    sch = profile["chargingSchedule"][0]
    start = _schedule_start(profile, sch, now, tx_start)
    if start is None or now < start:
        return None
    elapsed = now - start
    if sch.get("duration") is not None and elapsed >= sch["duration"]:
        return None
    limit = None
    for p in sch["chargingSchedulePeriod"]:
        if p["startPeriod"] <= elapsed:
            limit = float(p["limit"])
    return limit


@dataclass
class ProfileStore:
    # profile id -> (evseId, chargingProfile as camelCase dict)
    profiles: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def set(self, evse_id: int, profile: dict[str, Any]) -> None:
        # K01.FR.05: a profile with the same id replaces; same stackLevel/purpose/evse too.
        self.profiles.pop(profile["id"], None)
        for pid, (e, p) in list(self.profiles.items()):
            if e == evse_id and p["stackLevel"] == profile["stackLevel"] and \
                    p["chargingProfilePurpose"] == profile["chargingProfilePurpose"]:
                del self.profiles[pid]
        self.profiles[profile["id"]] = (evse_id, profile)

    def clear(self, profile_id: int | None = None, evse_id: int | None = None, purpose: str | None = None,
              stack_level: int | None = None) -> bool:
        gone = [pid for pid, (e, p) in self.profiles.items()
                if (profile_id is None or pid == profile_id)
                and (evse_id is None or e == evse_id)
                and (purpose is None or p["chargingProfilePurpose"] == purpose)
                and (stack_level is None or p["stackLevel"] == stack_level)]
        for pid in gone:
            del self.profiles[pid]
        return bool(gone)

    def drop_transaction(self, transaction_id: str) -> None:
        """K01.FR.?: a TxProfile ends with its transaction."""
        for pid, (_e, p) in list(self.profiles.items()):
            if p["chargingProfilePurpose"] == "TxProfile" and p.get("transactionId") == transaction_id:
                del self.profiles[pid]

    def _best(self, purpose: str, evse_ids: tuple[int, ...], now: float, tx_start: float | None,
              tx_id: str | None = None) -> float | None:
        for evse in evse_ids:  # the EVSE's own profile before evseId 0's
            cands = sorted(((p["stackLevel"], p) for e, p in self.profiles.values()
                            if e == evse and p["chargingProfilePurpose"] == purpose
                            and (purpose != "TxProfile" or p.get("transactionId") == tx_id)),
                           key=lambda x: -x[0])
            for _level, p in cands:
                v = value_at(p, now, tx_start)
                if v is not None:
                    return v
        return None

    def station_limit(self, now: float) -> float | None:
        return self._best("ChargingStationMaxProfile", (0,), now, None)

    def evse_limit(self, evse_id: int, now: float, tx_id: str | None, tx_start: float | None) -> float | None:
        if tx_id is not None:
            v = self._best("TxProfile", (evse_id,), now, tx_start, tx_id)
            if v is not None:
                return v
        return self._best("TxDefaultProfile", (evse_id, 0), now, tx_start)

    def to_json(self) -> list:
        return [[pid, e, p] for pid, (e, p) in self.profiles.items()]

    def load_json(self, data: list | None) -> None:
        self.profiles = {pid: (e, p) for pid, e, p in data or []}
