"""Reset (OCPP 2.0.1 B11 / B12): whether and when the station resets, and how it is carried out.

What a reset is on this charger: the OCPP station restarts. The ocpp service ends the OCPP
transactions (Immediate: TransactionEvent Ended, triggerReason ResetCommand, stoppedReason
ImmediateReset, queued durably before anything else happens, and evse `Stop("ImmediateReset")`
so that no more energy flows), waits a bounded time for the queue to reach the CSMS, stores the
BootNotification reason for the next start (RemoteReset / ScheduledReset), then exits with
`EXIT_RESTART`; systemd (`Restart=on-failure`) or the SIL supervisor starts it again and it
boots with that reason. The evse and board services keep running: the safety functions (lock,
contactor, CP) never go through an unsupervised window, sessions and availability are persisted
by evse, and an EV still plugged in stays in a stopped evse session (Finishing, reported as
Occupied) until it is unplugged: it is not reopened as a new OCPP transaction.

Resetting one EVSE (evseId given) is not supported: Rejected (B11.FR.09 / B12.FR.09).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import OcppService

log = logging.getLogger("evcharge.ocpp.reset")

STATE_KEY = "reset"
DRAIN_S = 10.0  # at most this long for the Ended events to reach the CSMS; the rest is delivered after the restart


@dataclass(frozen=True)
class Plan:
    status: str          # ResetStatusEnumType: Accepted, Scheduled, Rejected
    now: bool            # reset right after answering
    end_transactions: bool
    boot_reason: str     # BootReasonEnumType for the BootNotification after the restart


def decide(reset_type: str, evse_id: int | None, transactions: int) -> Plan:
    """The answer to a ResetRequest (pure)."""
    if evse_id is not None:
        return Plan("Rejected", False, False, "")
    if reset_type == "Immediate":
        return Plan("Accepted", True, True, "RemoteReset")
    if transactions:
        return Plan("Scheduled", False, False, "ScheduledReset")
    return Plan("Accepted", True, False, "RemoteReset")


@dataclass
class ResetState:
    """Persisted (queue database, key `reset`): survives the restart it causes."""

    scheduled: bool = False                 # OnIdle: reset once the last transaction ended
    boot_reason: str = ""                   # reason for the next BootNotification ("" = PowerUp)
    closed_sessions: list[str] = field(default_factory=list)  # evse sessions ended by an Immediate reset

    def to_json(self) -> dict[str, Any]:
        return {"scheduled": self.scheduled, "boot_reason": self.boot_reason, "closed_sessions": self.closed_sessions}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ResetState:
        data = data or {}
        return cls(bool(data.get("scheduled")), str(data.get("boot_reason") or ""),
                   [str(s) for s in data.get("closed_sessions") or []])


class Resetter:
    def __init__(self, station: OcppService) -> None:
        self.station = station
        self.state = ResetState.from_json(station.queue.get_state(STATE_KEY))
        self.pending: Plan | None = None
        self.running = False

    def _save(self) -> None:
        self.station.queue.put_state(STATE_KEY, self.state.to_json())

    # --- boot reason -------------------------------------------------------------------------
    def boot_reason(self) -> str:
        return self.state.boot_reason or "PowerUp"

    def boot_accepted(self) -> None:
        if self.state.boot_reason:
            self.state.boot_reason = ""
            self._save()

    # --- sessions an Immediate reset ended ----------------------------------------------------
    def is_closed(self, session_id: str) -> bool:
        return session_id in self.state.closed_sessions

    def forget_closed(self, present: set[str]) -> None:
        """Drop closed sessions evse no longer has (the EV was unplugged)."""
        keep = [s for s in self.state.closed_sessions if s in present]
        if keep != self.state.closed_sessions:
            self.state.closed_sessions = keep
            self._save()

    # --- the request ---------------------------------------------------------------------------
    def request(self, reset_type: str, evse_id: int | None) -> str:
        plan = decide(reset_type, evse_id, len(self.station.tx.active))
        log.info("Reset %s%s: %s", reset_type, f" evse {evse_id}" if evse_id is not None else "", plan.status)
        if plan.status == "Scheduled":
            self.state.scheduled = True
            self.state.boot_reason = plan.boot_reason
            self._save()
        elif plan.now:
            self.pending = plan
        return plan.status

    async def run_pending(self) -> None:
        """After the ResetResponse went out."""
        plan, self.pending = self.pending, None
        if plan is not None:
            await self.execute(plan.boot_reason, end_transactions=plan.end_transactions)

    def on_idle_check(self) -> None:
        """A transaction ended (or the service started): a scheduled reset runs once none is left."""
        if self.state.scheduled and not self.station.tx.active and not self.running:
            self.station.spawn(self.execute(self.state.boot_reason or "ScheduledReset", end_transactions=False))

    async def execute(self, boot_reason: str, *, end_transactions: bool) -> None:
        if self.running:
            return
        self.running = True
        st = self.station
        self.state.scheduled = False
        self.state.boot_reason = boot_reason
        if end_transactions:
            # The evse sessions (a transaction begun before the cable has its own id, transactions.py).
            ending = {cid: tx.session or tx.transaction_id for cid, tx in st.tx.active.items()}
            # Stored before the Ended events: a crash in between leaves the transaction open, not reopened twice.
            self.state.closed_sessions = sorted(set(self.state.closed_sessions) | set(ending.values()))
            self._save()
            for cid in ending:
                st.end_for_reset(cid)
            for cid in ending:
                await st.stop_for_reset(cid)
        else:
            self._save()
        deadline = time.monotonic() + DRAIN_S
        while st.online and len(st.queue) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        log.warning("resetting the OCPP station (next BootNotification reason %s, %d message(s) queued)",
                    boot_reason, len(st.queue))
        st.request_restart()
