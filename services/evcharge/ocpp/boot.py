"""Connection and boot state machine with explicit timers (pure).

The adapter feeds it events (connected, response received, disconnected) and the monotonic
time; it answers what to send and when. OCPP 2.0.1 B01-B03: nothing but BootNotification
before the CSMS accepted the station (Pending: also answers to the CSMS and messages it
triggers); Pending/Rejected retry after the interval the CSMS gave; after a reconnect within
the same run, no new BootNotification unless its content changed (the CSMS knows us).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DISCONNECTED, BOOTING, PENDING, REJECTED, ACCEPTED = "Disconnected", "Booting", "Pending", "Rejected", "Accepted"
DEFAULT_RETRY_S = 30.0  # a Pending/Rejected answer with interval 0


@dataclass
class Backoff:
    """Randomised exponential reconnect back-off (OCPPCommCtrlr.RetryBackOff*)."""

    wait_minimum_s: float
    random_range_s: float
    repeat_times: int
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        doubling = min(self.attempt, self.repeat_times)
        self.attempt += 1
        return self.wait_minimum_s * (2 ** doubling) + self.rng.uniform(0, self.random_range_s)

    def reset(self) -> None:
        self.attempt = 0


def report_all_after_offline(offline_s: float, threshold_s: float) -> bool:
    """B04: back online after longer than OfflineThreshold, every connector's status is reported
    (FR.01); after a shorter time only those that changed (FR.02)."""
    return offline_s > threshold_s


@dataclass
class BootMachine:
    heartbeat_s: float
    state: str = DISCONNECTED
    accepted_content: str | None = None   # BootNotification content the CSMS accepted in this run
    next_boot_at: float | None = None
    next_heartbeat_at: float | None = None

    def connected(self, now: float, content: str) -> bool:
        """True: send a BootNotification now. False: the CSMS accepted this content before."""
        if self.accepted_content == content:
            self.state = ACCEPTED
            self.next_heartbeat_at = now + self.heartbeat_s
            return False
        self.state = BOOTING
        self.next_boot_at = None
        return True

    def boot_response(self, now: float, status: str, interval_s: float, content: str) -> None:
        if status == ACCEPTED:
            self.state = ACCEPTED
            self.accepted_content = content
            if interval_s > 0:
                self.heartbeat_s = interval_s
            self.next_heartbeat_at = now + self.heartbeat_s
            self.next_boot_at = None
        else:
            self.state = PENDING if status == PENDING else REJECTED
            self.next_boot_at = now + (interval_s if interval_s > 0 else DEFAULT_RETRY_S)

    def boot_failed(self, now: float) -> None:
        """No answer (timeout, CALLERROR): try again after the default interval."""
        self.state = BOOTING
        self.next_boot_at = now + DEFAULT_RETRY_S

    def disconnected(self) -> None:
        self.state = DISCONNECTED
        self.next_boot_at = self.next_heartbeat_at = None

    def boot_due(self, now: float) -> bool:
        return self.state in (PENDING, REJECTED, BOOTING) and self.next_boot_at is not None and now >= self.next_boot_at

    def heartbeat_due(self, now: float) -> bool:
        return self.state == ACCEPTED and self.next_heartbeat_at is not None and now >= self.next_heartbeat_at

    def message_sent(self, now: float) -> None:
        """Any message to the CSMS restarts the heartbeat timer (B05: heartbeat only when idle)."""
        if self.state == ACCEPTED:
            self.next_heartbeat_at = now + self.heartbeat_s

    def set_heartbeat(self, now: float, interval_s: float) -> None:
        self.heartbeat_s = interval_s
        if self.state == ACCEPTED:
            self.next_heartbeat_at = now + interval_s

    def may_send(self, action: str) -> bool:
        if self.state == ACCEPTED:
            return True
        return action == "BootNotification" and self.state != DISCONNECTED

    def may_answer(self) -> bool:
        """B03.FR.?: while Rejected the station does not act on CSMS requests."""
        return self.state != REJECTED

    def next_wakeup(self) -> float | None:
        times = [t for t in (self.next_boot_at, self.next_heartbeat_at) if t is not None]
        return min(times) if times else None
