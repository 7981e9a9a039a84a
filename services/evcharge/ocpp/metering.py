"""Clock-aligned and transaction-ended meter values (pure; OCPP 2.0.1 J01, J02, E06 meter data).

- AlignedDataCtrlr.Interval (s, 0 = off): at every multiple of the interval since UTC midnight
  each EVSE's values (AlignedDataCtrlr.Measurands, context Sample.Clock) go out: inside a
  transaction as TransactionEvent Updated / MeterValueClock, otherwise as MeterValues.
- AlignedDataCtrlr.TxEndedInterval: clock-aligned samples (AlignedDataCtrlr.TxEndedMeasurands)
  kept during a transaction and sent in its Ended event.
- SampledDataCtrlr.TxEndedInterval: samples every interval from the transaction's start
  (SampledDataCtrlr.TxEndedMeasurands, Sample.Periodic), also kept for the Ended event.
Times are explicit (wall clock seconds in, the adapter owns the timers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DAY_S = 86400.0
MAX_ENDED_SAMPLES = 200   # bound the Ended message (BytesPerMessage); the oldest are dropped first


def next_aligned(now: float, interval: float) -> float:
    """The next time after `now` that is a multiple of `interval` counted from UTC midnight."""
    midnight = math.floor(now / DAY_S) * DAY_S
    k = math.floor((now - midnight) / interval) + 1
    t = midnight + k * interval
    return min(t, midnight + DAY_S)   # an interval not dividing a day restarts at midnight


@dataclass
class Ticker:
    """Fires once per aligned (or periodic) tick; `interval` 0 disables it."""

    aligned: bool = True
    due: float | None = None
    interval: float = 0.0

    def check(self, now: float, interval: float) -> float | None:
        """The tick time (a boundary, for the timestamp) if a tick is due at `now`, else None."""
        if interval <= 0:
            self.due, self.interval = None, 0.0
            return None
        if self.due is None or interval != self.interval:
            self.interval = interval
            self.due = next_aligned(now, interval) if self.aligned else now + interval
            return None
        if now < self.due:
            return None
        fired = self.due
        if self.aligned:
            self.due = next_aligned(now, interval)
        else:
            self.due += interval * (math.floor((now - self.due) / interval) + 1)
        return fired


@dataclass
class EndedSamples:
    """Per connector, the samples a transaction's Ended event carries."""

    samples: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, cid: int, meter_values: list[dict[str, Any]]) -> None:
        kept = self.samples.setdefault(cid, [])
        kept.extend(meter_values)
        del kept[:-MAX_ENDED_SAMPLES]

    def take(self, cid: int) -> list[dict[str, Any]]:
        return self.samples.pop(cid, [])

    def drop(self, cid: int) -> None:
        self.samples.pop(cid, None)
