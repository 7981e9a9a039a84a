"""GetCompositeSchedule for 1.6: the lower of the Charge Point and connector limits over a window (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from evcharge.ocpp.smartcharging import ProfileStore
from evcharge.ocpp.v16.composite import composite

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def prof(pid: int, purpose: str, periods: list[tuple[int, float]], *, start: float = T0, kind: str = "Absolute",
         **extra) -> dict:
    return {"id": pid, "stackLevel": extra.pop("stackLevel", 0), "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, **extra,
            "chargingSchedule": [{"chargingRateUnit": "A", "startSchedule": iso(start),
                                  "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods]}]}


def test_no_profile_is_the_connector_maximum():
    assert composite(ProfileStore(), 1, T0, 3600, None, None, 32.0) == [{"startPeriod": 0, "limit": 32.0}]


def test_lower_of_charge_point_and_connector_with_period_changes():
    store = ProfileStore()
    store.set(0, prof(1, "ChargingStationMaxProfile", [(0, 20.0)]))
    store.set(1, prof(2, "TxDefaultProfile", [(0, 25.0), (600, 10.0), (1200, 16.0)]))
    got = composite(store, 1, T0 + 60, 3600, None, None, 32.0)
    assert got == [{"startPeriod": 0, "limit": 20.0}, {"startPeriod": 540, "limit": 10.0},
                   {"startPeriod": 1140, "limit": 16.0}]
    assert composite(store, 0, T0, 3600, None, None, 64.0) == [{"startPeriod": 0, "limit": 20.0}]


def test_valid_to_and_duration_end_a_limit_and_tx_profile_wins():
    store = ProfileStore()
    store.set(1, prof(1, "TxDefaultProfile", [(0, 12.0)], validTo=iso(T0 + 1800)))
    p = prof(2, "TxProfile", [(0, 6.0)], kind="Relative", transactionId="77")
    p["chargingSchedule"][0]["duration"] = 300
    store.set(1, p)
    got = composite(store, 1, T0, 3600, "77", T0 + 100, 32.0)
    assert got == [{"startPeriod": 0, "limit": 12.0}, {"startPeriod": 100, "limit": 6.0},
                   {"startPeriod": 400, "limit": 12.0}, {"startPeriod": 1800, "limit": 32.0}]


def test_daily_recurring_profile_repeats():
    store = ProfileStore()
    store.set(1, prof(1, "TxDefaultProfile", [(0, 8.0), (3600, 16.0)], start=T0 - 86400, kind="Recurring",
                      recurrencyKind="Daily"))
    got = composite(store, 1, T0 - 600, 7200, None, None, 32.0)
    assert got == [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 600, "limit": 8.0},
                   {"startPeriod": 4200, "limit": 16.0}]
