"""GetCompositeSchedule (1.6 5.7 / 3.13.3) from the shared profile store (pure).

The composite limit of a connector at t is the lower of the Charge Point's limit
(ChargePointMaxProfile) and the connector's (TxProfile of the running transaction, else
TxDefaultProfile); for connector 0 it is the Charge Point's limit. The limit can change only
where a profile's schedule starts, a period starts, a schedule's duration ends or a profile
becomes valid / invalid, so it is evaluated exactly at those instants within the window.
"""

from __future__ import annotations

import math
from typing import Any

from ..smartcharging import ProfileStore, parse_time

RECURRENCE_S = {"Daily": 86400.0, "Weekly": 7 * 86400.0}


def _schedule_starts(profile: dict[str, Any], t0: float, t1: float, tx_start: float | None) -> list[float]:
    sch = profile["chargingSchedule"][0]
    kind = profile.get("chargingProfileKind")
    if kind == "Relative":
        return [tx_start] if tx_start is not None else []
    start = parse_time(sch["startSchedule"])
    if kind != "Recurring":
        return [start]
    period = RECURRENCE_S.get(profile.get("recurrencyKind", ""), 86400.0)
    first = max(0, math.floor((t0 - start) / period))
    return [start + k * period for k in range(first, first + int((t1 - t0) // period) + 2)]


def change_points(store: ProfileStore, t0: float, t1: float, tx_start: float | None) -> list[float]:
    points = {t0}
    for _e, p in store.profiles.values():
        for key in ("validFrom", "validTo"):
            if p.get(key):
                points.add(parse_time(p[key]))
        sch = p["chargingSchedule"][0]
        for s in _schedule_starts(p, t0, t1, tx_start):
            points.update(s + per["startPeriod"] for per in sch["chargingSchedulePeriod"])
            if sch.get("duration") is not None:
                points.add(s + sch["duration"])
    return sorted(t for t in points if t0 <= t < t1)


def composite(store: ProfileStore, connector_id: int, t0: float, duration_s: int, tx_id: str | None,
              tx_start: float | None, unlimited_a: float) -> list[dict[str, Any]]:
    """chargingSchedulePeriod entries (startPeriod relative to t0, limit in A); where no profile
    limits the connector its own maximum (`unlimited_a`) is the limit."""
    periods: list[dict[str, Any]] = []
    for t in change_points(store, t0, t0 + duration_s, tx_start):
        limits = [v for v in (store.station_limit(t),
                              store.evse_limit(connector_id, t, tx_id, tx_start) if connector_id else None)
                  if v is not None]
        limit = round(min([*limits, unlimited_a]), 1)
        if periods and periods[-1]["limit"] == limit:
            continue
        periods.append({"startPeriod": int(round(t - t0)), "limit": limit})
    return periods
