"""Sharing a site current limit between connectors (pure).

Water-filling: every connector that asks gets an equal share, a connector that asks for less
than its share keeps only what it asked, and the rest is shared again. Below the 6 A an EV can
use, a share is worthless, so when the limit cannot give every asking connector 6 A the most
recent requests get nothing until capacity frees up (first come, first served).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_CHARGING_CURRENT_A = 6.0


@dataclass(frozen=True)
class Demand:
    connector_id: int
    max_a: float       # what the connector can use now (evse request, capped by hardware and limits)
    order: int         # request order: lower came first


def allocate(site_limit_a: float, demands: list[Demand], min_a: float = MIN_CHARGING_CURRENT_A) -> dict[int, float]:
    result = {d.connector_id: 0.0 for d in demands}
    active = sorted((d for d in demands if d.max_a >= min_a), key=lambda d: d.order)
    while active and site_limit_a < min_a * len(active):
        active.pop()  # the latest request waits
    remaining = site_limit_a
    pending = sorted(active, key=lambda d: d.max_a)
    while pending:
        share = remaining / len(pending)
        d = pending.pop(0)
        give = min(d.max_a, share)
        # Tenths of an amp: PWM cannot signal finer, and it keeps the sum within the limit.
        give = int(give * 10 + 1e-9) / 10
        result[d.connector_id] = give
        remaining -= give
    return result
