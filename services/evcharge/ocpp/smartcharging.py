"""Charging profiles -> current limits and composite schedules (pure; OCPP 2.0.1 use cases K01-K10).

Stored profiles give, at a time t, a limit in amps per EVSE and for the whole station:
- ChargingStationMaxProfile (evseId 0): the station limit (energy connector 0, the site);
- TxProfile (for the running transaction) over TxDefaultProfile (for the EVSE, else evseId 0):
  the EVSE limit; within a purpose the highest stackLevel valid at t wins (K01.FR.?, 3.5 of Part 2);
- an EVSE's composite limit is the lower of its own limit and the station limit (K08).
Schedules: Absolute, Relative (to the moment power could flow, see the errata on Relative) and
Recurring Daily/Weekly; chargingRateUnit A or W. W is converted with the nominal voltage and the
period's numberPhases (default 3): A = W / (V x phases); the energy service works in amps.
Everything here is a function of the stored profiles and an explicit time: the adapter asks for
`next_change()` to know when to push the next limit, so limits follow period boundaries exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PURPOSES = ("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile")
RATE_UNITS = ("A", "W")
NOMINAL_VOLTAGE_V = 230.0
DEFAULT_PHASES = 3
MAX_STACK_LEVEL = 8          # SmartChargingCtrlr.ProfileStackLevel
MAX_PERIODS = 24             # SmartChargingCtrlr.PeriodsPerSchedule
MAX_ENTRIES = 24             # SmartChargingCtrlr.Entries (MaxLimit)
RECURRENCE_S = {"Daily": 86400.0, "Weekly": 7 * 86400.0}
FAR_FUTURE = float("inf")


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_amps(limit: float, unit: str, phases: int | None, voltage: float = NOMINAL_VOLTAGE_V) -> float:
    if unit == "W":
        return limit / (voltage * (phases or DEFAULT_PHASES))
    return float(limit)


def from_amps(amps: float, unit: str, phases: int | None, voltage: float = NOMINAL_VOLTAGE_V) -> float:
    if unit == "W":
        return amps * voltage * (phases or DEFAULT_PHASES)
    return amps


def _validity(profile: dict[str, Any]) -> tuple[float, float]:
    lo = parse_time(profile["validFrom"]) if profile.get("validFrom") else -FAR_FUTURE
    hi = parse_time(profile["validTo"]) if profile.get("validTo") else FAR_FUTURE
    return lo, hi


def check_profile(evse_id: int, profile: dict[str, Any], active_tx: dict[int, str],
                  existing: Iterable[tuple[int, dict[str, Any]]] = ()) -> str | None:
    """None if the profile can be stored, else the reasonCode for statusInfo (Part 2 Appendix 5)."""
    purpose = profile.get("chargingProfilePurpose")
    if purpose not in PURPOSES:
        return "InvalidProfile"
    if not 0 <= int(profile.get("stackLevel", -1)) <= MAX_STACK_LEVEL:
        return "InvalidStackLevel"
    if purpose == "ChargingStationMaxProfile" and evse_id != 0:
        return "InvalidProfile"
    if purpose == "TxProfile":
        # K01.FR.03: a TxProfile names its transaction; K01.FR.16: it must run on that EVSE.
        if not profile.get("transactionId") or evse_id == 0 or active_tx.get(evse_id) != profile["transactionId"]:
            return "TxNotFound"
    if purpose != "TxProfile" and profile.get("transactionId"):
        return "InvalidProfile"
    try:
        lo, hi = _validity(profile)
    except ValueError:
        return "InvalidProfile"
    if lo >= hi:
        return "InvalidProfile"
    schedules = profile.get("chargingSchedule") or []
    if len(schedules) != 1:   # more than one schedule is only for ISO 15118 SASchedules
        return "InvalidSchedule"
    sch = schedules[0]
    if sch.get("chargingRateUnit") not in RATE_UNITS:
        return "UnsupportedRateUnit"
    periods = sch.get("chargingSchedulePeriod") or []
    if len(periods) > MAX_PERIODS:
        return "TooManyElements"
    if not periods or periods[0].get("startPeriod") != 0:
        return "InvalidSchedule"
    starts = [p["startPeriod"] for p in periods]
    if starts != sorted(set(starts)):
        return "InvalidSchedule"
    for p in periods:
        if p.get("limit", -1) < 0 or p.get("numberPhases", 1) not in (1, 2, 3):
            return "InvalidSchedule"
        if p.get("phaseToUse") is not None and p.get("numberPhases") != 1:
            return "InvalidSchedule"
    if sch.get("duration") is not None and sch["duration"] <= 0:
        return "InvalidSchedule"
    kind = profile.get("chargingProfileKind")
    try:
        if sch.get("startSchedule"):
            parse_time(sch["startSchedule"])
    except ValueError:
        return "InvalidSchedule"
    if kind == "Absolute" and not sch.get("startSchedule"):
        return "InvalidSchedule"
    if kind == "Recurring" and (profile.get("recurrencyKind") not in RECURRENCE_S or not sch.get("startSchedule")):
        return "InvalidSchedule"
    if kind == "Relative" and purpose == "ChargingStationMaxProfile":
        return "InvalidProfile"   # nothing for a station-wide profile to be relative to
    # Part 2 Appendix 5 DuplicateProfile: same stackLevel + purpose (+ EVSE, + transaction) with
    # another id and an overlapping validity period would make the limit ambiguous.
    for e, other in existing:
        if other["id"] == profile["id"] or e != evse_id:
            continue
        if other["chargingProfilePurpose"] != purpose or other["stackLevel"] != profile["stackLevel"]:
            continue
        if purpose == "TxProfile" and other.get("transactionId") != profile.get("transactionId"):
            continue
        olo, ohi = _validity(other)
        if olo < hi and lo < ohi:
            return "DuplicateProfile"
    return None


def _schedule_start(profile: dict[str, Any], sch: dict[str, Any], now: float, tx_start: float | None) -> float | None:
    kind = profile.get("chargingProfileKind")
    if kind == "Relative":
        return tx_start
    start = parse_time(sch["startSchedule"])
    if kind == "Recurring":
        period = RECURRENCE_S[profile["recurrencyKind"]]
        if now >= start:
            start += ((now - start) // period) * period
    return start


def _period_at(profile: dict[str, Any], now: float, tx_start: float | None) -> dict[str, Any] | None:
    lo, hi = _validity(profile)
    if not lo <= now < hi:
        return None
    sch = profile["chargingSchedule"][0]
    start = _schedule_start(profile, sch, now, tx_start)
    if start is None or now < start:
        return None
    elapsed = now - start
    if sch.get("duration") is not None and elapsed >= sch["duration"]:
        return None
    found = None
    for p in sch["chargingSchedulePeriod"]:
        if p["startPeriod"] <= elapsed:
            found = p
    return found


def value_at(profile: dict[str, Any], now: float, tx_start: float | None) -> float | None:
    """The profile's limit in amps at `now`, or None where it does not apply."""
    p = _period_at(profile, now, tx_start)
    if p is None:
        return None
    return to_amps(float(p["limit"]), profile["chargingSchedule"][0]["chargingRateUnit"], p.get("numberPhases"))


def breakpoints(profile: dict[str, Any], t0: float, t1: float, tx_start: float | None) -> set[float]:
    """Times in (t0, t1) at which the profile's value may change."""
    out: set[float] = set()
    lo, hi = _validity(profile)
    out.update((lo, hi))
    sch = profile["chargingSchedule"][0]
    kind = profile.get("chargingProfileKind")
    if kind == "Relative":
        starts = [tx_start] if tx_start is not None else []
    else:
        first = parse_time(sch["startSchedule"])
        if kind == "Recurring":
            period = RECURRENCE_S[profile["recurrencyKind"]]
            k = max(0, math.floor((t0 - first) / period))
            starts = []
            s = first + k * period
            while s < t1:
                starts.append(s)
                s += period
            starts.append(s)
        else:
            starts = [first]
    for s in starts:
        out.update(s + p["startPeriod"] for p in sch["chargingSchedulePeriod"])
        if sch.get("duration") is not None:
            out.add(s + sch["duration"])
    return {t for t in out if t0 < t < t1}


@dataclass
class ProfileStore:
    # profile id -> (evseId, chargingProfile as camelCase dict)
    profiles: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def set(self, evse_id: int, profile: dict[str, Any]) -> None:
        # K01.FR.05: a profile with the same id replaces the stored one.
        self.profiles.pop(profile["id"], None)
        self.profiles[profile["id"]] = (evse_id, profile)

    def clear(self, profile_id: int | None = None, evse_id: int | None = None, purpose: str | None = None,
              stack_level: int | None = None) -> bool:
        if profile_id is not None:  # K10.FR.?: an id clears that profile, the criteria are ignored
            return self.profiles.pop(profile_id, None) is not None
        gone = [pid for pid, (e, p) in self.profiles.items()
                if (evse_id is None or e == evse_id)
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

    def items(self) -> list[tuple[int, dict[str, Any]]]:
        return list(self.profiles.values())

    def select(self, evse_id: int | None = None, purpose: str | None = None, stack_level: int | None = None,
               ids: list[int] | None = None, sources: list[str] | None = None) -> dict[int, list[dict[str, Any]]]:
        """GetChargingProfiles criteria (K09) -> {evseId: [profiles]}; every stored profile's source is CSO."""
        if sources and "CSO" not in sources:
            return {}
        out: dict[int, list[dict[str, Any]]] = {}
        for pid, (e, p) in sorted(self.profiles.items()):
            if evse_id is not None and e != evse_id:
                continue
            if ids:
                if pid not in ids:
                    continue
            elif (purpose is not None and p["chargingProfilePurpose"] != purpose) or \
                    (stack_level is not None and p["stackLevel"] != stack_level):
                continue
            out.setdefault(e, []).append(p)
        return out

    def _candidates(self, purpose: str, evse: int, tx_id: str | None) -> list[dict[str, Any]]:
        return sorted((p for e, p in self.profiles.values()
                       if e == evse and p["chargingProfilePurpose"] == purpose
                       and (purpose != "TxProfile" or p.get("transactionId") == tx_id)),
                      key=lambda p: -p["stackLevel"])

    def _best(self, purpose: str, evse_ids: tuple[int, ...], now: float, tx_start: float | None,
              tx_id: str | None = None) -> float | None:
        for evse in evse_ids:  # the EVSE's own profile before evseId 0's
            for p in self._candidates(purpose, evse, tx_id):
                v = value_at(p, now, tx_start)
                if v is not None:
                    return v
        return None

    def station_limit(self, now: float) -> float | None:
        return self._best("ChargingStationMaxProfile", (0,), now, None)

    def evse_limit(self, evse_id: int, now: float, tx_id: str | None, tx_start: float | None) -> float | None:
        """The EVSE's own limit (TxProfile over TxDefaultProfile), without the station limit."""
        if tx_id is not None:
            v = self._best("TxProfile", (evse_id,), now, tx_start, tx_id)
            if v is not None:
                return v
        return self._best("TxDefaultProfile", (evse_id, 0), now, tx_start)

    def composite_limit(self, evse_id: int, now: float, tx_id: str | None = None,
                        tx_start: float | None = None) -> float | None:
        """The lowest limit in amps in force on the EVSE (evseId 0: the station), None if none."""
        values = [self.station_limit(now)]
        if evse_id:
            values.append(self.evse_limit(evse_id, now, tx_id, tx_start))
        values = [v for v in values if v is not None]
        return min(values) if values else None

    def next_change(self, now: float, horizon_s: float, tx_starts: dict[str | None, float | None]) -> float | None:
        """The first time after `now` (within horizon) at which some profile's value may change."""
        t1 = now + horizon_s
        times: set[float] = set()
        for _e, p in self.profiles.values():
            times |= breakpoints(p, now, t1, tx_starts.get(p.get("transactionId")) if
                                 p.get("chargingProfileKind") == "Relative" else None)
        return min(times) if times else None

    def composite_schedule(self, evse_id: int, start: float, duration: int, unit: str, *, default_a: float,
                           tx_id: str | None = None, tx_start: float | None = None,
                           phases: int = DEFAULT_PHASES) -> dict[str, Any]:
        """GetCompositeSchedule (K08): the limits of every profile combined over [start, start + duration)."""
        t1 = start + duration
        times = {start}
        for e, p in self.profiles.values():
            if e in (0, evse_id):
                times |= breakpoints(p, start, t1, tx_start if p.get("chargingProfileKind") == "Relative" else None)
        periods: list[dict[str, Any]] = []
        for t in sorted(times):
            amps = self.composite_limit(evse_id, t, tx_id, tx_start)
            amps = default_a if amps is None else min(amps, default_a)
            limit = round(from_amps(amps, unit, phases), 1)
            if periods and periods[-1]["limit"] == limit:
                continue
            periods.append({"startPeriod": int(round(t - start)), "limit": limit, "numberPhases": phases})
        return {"evseId": evse_id, "duration": duration, "scheduleStart": format_time(start),
                "chargingRateUnit": unit, "chargingSchedulePeriod": periods}

    def to_json(self) -> list:
        return [[pid, e, p] for pid, (e, p) in self.profiles.items()]

    def load_json(self, data: list | None) -> None:
        self.profiles = {pid: (e, p) for pid, e, p in data or []}
