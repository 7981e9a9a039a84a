"""The published state of a meter: changes, offline/online transitions, Read()."""

from datetime import UTC, datetime

import pytest
from evcharge.meter.reading import MeterState, Reading, rfc3339

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


def reading(energy=1000.0, power=0.0, at=T0, current=(0.0, 0.0, 0.0)):
    return Reading(energy_wh=energy, power_w=power, voltage_v=(230.0, 230.0, 230.0), current_a=current,
                   frequency_hz=50.0, at=at)


def test_before_first_reading_everything_is_zero_and_offline():
    s = MeterState(1, "sim")
    p = s.properties()
    assert p["Online"] is False and p["LastReadingAt"] == "" and p["VoltageV"] == [0.0, 0.0, 0.0]


def test_first_reading_publishes_everything_then_only_changes():
    s = MeterState(1, "modbus-tcp")
    changed, came_online = s.update(reading())
    assert came_online
    # Everything but the constant ConnectorId and Backend; CurrentA stays [0, 0, 0].
    assert set(changed) == {"Online", "EnergyWh", "VoltageV", "LastReadingAt"}
    assert changed["LastReadingAt"] == "2026-03-01T12:00:00.250Z"
    changed, came_online = s.update(reading(energy=1001.5, at=T0))
    assert not came_online
    assert changed == {"EnergyWh": 1001.5}


def test_failure_keeps_values_and_reports_the_transition_once():
    s = MeterState(2, "modbus-rtu")
    s.update(reading(energy=5.0))
    changed, went = s.fail("no answer")
    assert went and changed == {"Online": False}
    assert s.properties()["EnergyWh"] == 5.0
    changed, went = s.fail("no answer")
    assert not went and changed == {}
    changed, came = s.update(reading(energy=6.0))
    assert came and changed == {"Online": True, "EnergyWh": 6.0}


def test_a_meter_that_never_answered_reports_offline_once():
    s = MeterState(1, "modbus-tcp")
    assert s.fail("refused")[1] is True
    assert s.fail("refused")[1] is False


def test_non_finite_reading_is_refused_and_state_unchanged():
    s = MeterState(1, "modbus-tcp")
    s.update(reading(energy=7.0))
    with pytest.raises(ValueError):
        s.update(reading(energy=float("nan")))
    assert s.properties()["EnergyWh"] == 7.0 and s.online


def test_read_result_has_the_dbus_types():
    s = MeterState(3, "sim")
    s.update(reading(energy=12.0, power=3680.0, current=(16.0, 0.0, 0.0)))
    r = s.read_result()
    assert r["ConnectorId"].signature == "u" and r["ConnectorId"].value == 3
    assert r["CurrentA"].signature == "ad" and r["CurrentA"].value == [16.0, 0.0, 0.0]
    assert r["EnergyWh"].value == 12.0 and r["PowerW"].value == 3680.0
    assert r["FrequencyHz"].value == 50.0


def test_rfc3339_is_utc_with_z():
    from datetime import timedelta, timezone
    local = datetime(2026, 3, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    assert rfc3339(local) == "2026-03-01T12:00:00.000Z"
