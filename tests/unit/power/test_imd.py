"""The isolation monitor's classification and the simulated monitor (pure)."""

import pytest
from evcharge.power.imd import IsolationStatus, SimIsolationMonitor, classify
from evcharge.sim.power_supply import SimPowerSupply


@pytest.mark.parametrize("ohm,status", [
    (49_999.0, IsolationStatus.FAULT),      # < 100 ohm/V x 500 V
    (50_000.0, IsolationStatus.WARNING),
    (249_999.0, IsolationStatus.WARNING),   # < 500 ohm/V x 500 V
    (250_000.0, IsolationStatus.VALID),
])
def test_thresholds_scale_with_the_test_voltage(ohm, status):
    assert classify(ohm, 500.0, 100.0, 500.0) is status


def test_sim_monitor_measures_after_check_s_and_resets():
    imd = SimIsolationMonitor(resistance_ohm=10_000.0, check_s=0.3)
    assert imd.status is IsolationStatus.IDLE and imd.deadline is None
    imd.start(500.0, 10.0)
    assert imd.update(10.29) is IsolationStatus.ONGOING and imd.deadline == pytest.approx(10.3)
    assert imd.update(10.3) is IsolationStatus.FAULT and imd.measured_ohm == 10_000.0
    imd.reset()
    assert imd.status is IsolationStatus.IDLE and imd.measured_ohm == 0.0
    imd.resistance_ohm = 1e7
    imd.start(400.0, 20.0)
    assert imd.update(21.0) is IsolationStatus.VALID


def test_supply_current_flows_only_behind_a_closed_contactor():
    ps = SimPowerSupply(slew_v_per_s=1000.0, slew_a_per_s=100.0)
    ps.set(400.0, 50.0, 0.0)
    assert ps.present(0.2) == (pytest.approx(200.0), 0.0)
    assert ps.present(1.0) == (400.0, 0.0)
    ps.connect(True, 1.0)
    assert ps.present(1.25)[1] == pytest.approx(25.0)
    assert ps.present(2.0) == (400.0, 50.0)
    ps.off(2.0)
    assert ps.present(3.0) == (0.0, 0.0)
