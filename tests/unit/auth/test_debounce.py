"""One TokenPresented per tap."""

from evcharge.auth.debounce import TapDebouncer


def test_a_card_resting_on_the_reader_is_one_tap():
    d = TapDebouncer(absent_s=1.0)
    taps = [d.seen("04A1B2C3", t * 0.2) for t in range(50)]  # 10 s of polls
    assert taps.count(True) == 1 and taps[0]


def test_same_card_again_only_after_one_second_away():
    d = TapDebouncer(absent_s=1.0)
    assert d.seen("A", 0.0)
    assert not d.seen("A", 0.75)  # unseen for 0.75 s only
    assert not d.seen("A", 1.5)   # measured from the last sighting, not the first
    assert d.seen("A", 2.5)       # unseen for 1.0 s
    assert not d.seen("A", 2.75)


def test_another_card_is_a_new_tap_at_once():
    d = TapDebouncer(absent_s=1.0)
    assert d.seen("A", 0.0)
    assert d.seen("B", 0.2)
    assert d.seen("A", 0.4)
