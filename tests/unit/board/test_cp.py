import pytest
from evcharge.board.cp import CpState, Debouncer, classify, diode_ok

A, B, C, D, E, F, X = CpState.A, CpState.B, CpState.C, CpState.D, CpState.E, CpState.F, CpState.INVALID


@pytest.mark.parametrize("volts,state", [
    (12.0, A), (11.0, A), (13.0, A), (9.0, B), (8.0, B), (10.0, B), (6.0, C), (5.0, C), (7.0, C),
    (3.0, D), (0.0, E), (-1.0, E), (-12.0, F), (-13.0, F), (-11.0, F),
    (13.5, X), (-5.0, X), (-14.0, X),
])
def test_accepted_bands(volts, state):
    assert classify(volts, A if state is not A else B) is state


@pytest.mark.parametrize("volts,previous,kept", [
    (10.5, A, A), (10.5, B, B), (7.5, B, B), (7.5, C, C), (4.5, C, C), (4.5, D, D),
    (-1.5, E, E), (-10.5, F, F),
])
def test_gaps_keep_the_previous_neighbouring_state(volts, previous, kept):
    assert classify(volts, previous) is kept


def test_gap_from_a_non_neighbour_takes_the_nearer_band():
    assert classify(7.8, A) is B
    assert classify(7.2, A) is C


def test_gaps_without_a_neighbour_state_are_faults_or_edges():
    assert classify(-1.5, C) is E
    assert classify(-10.5, C) is F


def test_diode_check():
    assert diode_ok(-12.0, False)
    assert not diode_ok(-9.0, True)      # no diode: EV resistors load the negative half
    assert not diode_ok(6.0, True)       # shorted diode
    assert diode_ok(-10.5, True) and not diode_ok(-10.5, False)  # hysteresis


def test_debounce_needs_two_equal_samples():
    d = Debouncer(A)
    assert not d.feed(B) and d.value is A and d.pending
    assert d.feed(B) and d.value is B and not d.pending


def test_debounce_glitch_is_ignored():
    d = Debouncer(B)
    d.feed(C)
    d.feed(B)  # back to confirmed: the candidate is forgotten
    assert not d.feed(C)
    assert d.value is B


def test_debounce_alternating_candidates_restart_the_count():
    d = Debouncer(A)
    d.feed(B)
    d.feed(C)
    assert d.value is A
    assert d.feed(C) and d.value is C
