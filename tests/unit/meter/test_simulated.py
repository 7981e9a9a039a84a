"""The simulated meter's energy integration and its persisted register."""

import json

import pytest
from evcharge.meter.energy_store import EnergyStore
from evcharge.meter.simulated import SimulatedDcMeter, SimulatedMeter


def test_three_phase_16a_for_an_hour_is_11_04_kwh():
    m = SimulatedMeter()
    m.set_draw(100.0, current_a=16.0, phases=3)
    assert m.power_w == pytest.approx(3 * 230.0 * 16.0)
    m.advance(100.0 + 3600.0)
    assert m.energy_wh == pytest.approx(11040.0)


def test_steps_are_integrated_exactly_whatever_the_sampling():
    # 10 A on one phase for 30 min, then 0 A for 30 min, then 32 A on one phase for 15 min.
    coarse, fine = SimulatedMeter(energy_wh=500.0), SimulatedMeter(energy_wh=500.0)
    for m in (coarse, fine):
        m.set_draw(0.0, current_a=10.0, phases=1)
    for t in range(1, 1800):
        fine.advance(float(t))
    for m in (coarse, fine):
        m.set_draw(1800.0, current_a=0.0)
        m.advance(2700.0)
        m.set_draw(3600.0, current_a=32.0)
        m.advance(4500.0)
    expected = 500.0 + 2300.0 * 0.5 + 7360.0 * 0.25
    assert coarse.energy_wh == pytest.approx(expected)
    assert fine.energy_wh == pytest.approx(expected)


def test_phases_limit_the_current_reported_and_the_power():
    m = SimulatedMeter()
    m.set_draw(0.0, current_a=20.0, phases=2)
    assert m.currents_a == (20.0, 20.0, 0.0)
    assert m.voltages_v == (230.0, 230.0, 230.0)
    assert m.power_w == pytest.approx(9200.0)


def test_time_going_backwards_or_bad_values_never_lower_the_register():
    m = SimulatedMeter(energy_wh=10.0)
    m.set_draw(50.0, current_a=16.0)
    m.advance(40.0)
    assert m.energy_wh == 10.0
    m.set_draw(60.0, current_a=float("nan"))
    e = m.energy_wh
    m.set_draw(70.0, current_a=-5.0, phases=0)
    m.advance(100.0)
    assert m.current_a == 0.0 and m.phases == 1 and m.energy_wh == e


def test_dc_meter_integrates_the_supply_output():
    # 400 V x 50 A for 6 min = 2 kWh, then the supply ramps down to 0 A: nothing more.
    m = SimulatedDcMeter(energy_wh=100.0)
    m.set_output(0.0, voltage_v=400.0, current_a=50.0)
    assert m.power_w == pytest.approx(20000.0)
    m.set_output(360.0, current_a=0.0)
    m.advance(1000.0)
    assert m.energy_wh == pytest.approx(2100.0)
    assert (m.voltage_v, m.current_a) == (400.0, 0.0)


def test_dc_meter_never_runs_its_register_back():
    m = SimulatedDcMeter(energy_wh=10.0)
    m.set_output(50.0, voltage_v=400.0, current_a=-20.0)  # a discharge is not import energy
    m.advance(100.0)
    assert m.energy_wh == 10.0 and m.power_w == 0.0
    m.set_output(100.0, voltage_v=float("nan"), current_a=10.0)
    m.advance(90.0)  # time going backwards
    m.advance(200.0)
    assert m.energy_wh == 10.0


def test_energy_store_round_trip_and_rate_limit(tmp_path):
    s = EnergyStore(tmp_path, min_interval_s=5.0)
    assert s.get(1) == 0.0
    s.set(1, 12.5)
    s.maybe_save(100.0)
    assert json.loads((tmp_path / "energy.json").read_text()) == {"energy_wh": {"1": 12.5}}
    s.set(1, 13.0)
    s.maybe_save(102.0)  # too soon
    assert EnergyStore(tmp_path).get(1) == 12.5
    s.maybe_save(105.0)
    assert EnergyStore(tmp_path).get(1) == 13.0
    s.set(2, 1.0)
    s.save()
    again = EnergyStore(tmp_path)
    assert (again.get(1), again.get(2)) == (13.0, 1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["energy.json"]  # no temp file left behind


def test_corrupt_energy_file_starts_from_zero(tmp_path):
    (tmp_path / "energy.json").write_text("{not json")
    assert EnergyStore(tmp_path).get(1) == 0.0
