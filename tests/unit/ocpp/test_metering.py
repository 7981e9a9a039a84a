from evcharge.ocpp.metering import EndedSamples, Ticker, next_aligned

MIDNIGHT = 1_767_225_600.0   # 2026-01-01T00:00:00Z


def test_next_aligned_counts_from_utc_midnight():
    assert next_aligned(MIDNIGHT + 1, 900) == MIDNIGHT + 900
    assert next_aligned(MIDNIGHT + 900, 900) == MIDNIGHT + 1800
    assert next_aligned(MIDNIGHT + 86399, 7 * 3600) == MIDNIGHT + 86400   # 7 h does not divide a day


def test_aligned_ticker_fires_once_per_boundary():
    t = Ticker(aligned=True)
    assert not t.check(MIDNIGHT + 10, 60)          # arms for MIDNIGHT + 60
    assert not t.check(MIDNIGHT + 59.9, 60)
    assert t.check(MIDNIGHT + 60.1, 60) == MIDNIGHT + 60     # the boundary, for the timestamp
    assert not t.check(MIDNIGHT + 61, 60)
    assert t.check(MIDNIGHT + 250, 60)             # late: fires once, then the next boundary
    assert t.due == MIDNIGHT + 300
    assert not t.check(MIDNIGHT + 400, 0) and t.due is None   # 0: off


def test_periodic_ticker_counts_from_its_start():
    t = Ticker(aligned=False)
    assert not t.check(1000.5, 10)
    assert not t.check(1010.0, 10)
    assert t.check(1010.5, 10) == 1010.5
    assert t.due == 1020.5
    assert t.check(1045, 10) == 1020.5 and t.due == 1050.5


def test_ended_samples_are_bounded_and_taken_once():
    e = EndedSamples()
    for i in range(250):
        e.add(1, [{"timestamp": str(i), "sampledValue": []}])
    got = e.take(1)
    assert len(got) == 200 and got[0]["timestamp"] == "50"
    assert e.take(1) == []
