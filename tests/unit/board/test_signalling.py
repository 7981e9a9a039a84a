import pytest
from evcharge.board.signalling import cable_ampacity, current_for_duty, duty_for_current


@pytest.mark.parametrize("amps,duty", [(6, 10.0), (10, 16.667), (16, 26.667), (32, 53.333), (51, 85.0),
                                       (52, 85.0), (52.5, 85.0), (63, 89.2), (80, 96.0)])
def test_duty_from_amps(amps, duty):
    assert duty_for_current(amps) == pytest.approx(duty, abs=1e-3)


@pytest.mark.parametrize("amps", [0, 5.9, 80.1, float("nan")])
def test_duty_rejects_unsignalable_currents(amps):
    with pytest.raises(ValueError):
        duty_for_current(amps)


@pytest.mark.parametrize("amps", [6, 13, 16, 20, 32, 40, 51, 63, 80])
def test_ev_reads_back_the_advertised_current(amps):
    assert current_for_duty(duty_for_current(amps)) == pytest.approx(amps)


def test_special_duties_carry_no_current():
    assert current_for_duty(5.0) == 0.0    # digital communication
    assert current_for_duty(100.0) == 0.0  # X1
    assert current_for_duty(0.0) == 0.0


@pytest.mark.parametrize("ohm,amps", [(1500, 13), (680, 20), (220, 32), (100, 63), (None, 0), (5000, 0),
                                      (50, 0), (1000, 0)])
def test_pp_resistor_coding(ohm, amps):
    assert cable_ampacity(ohm) == amps
