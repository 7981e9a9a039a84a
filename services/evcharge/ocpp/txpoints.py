"""When an OCPP transaction starts and stops: TxCtrlr.TxStartPoint / TxStopPoint (pure, E01/E06).

The evse service runs sessions from plug-in to unplug; this module decides which part of a
session is the OCPP transaction. Per connector it keeps the conditions the trigger points
name, fed by evse events:

| point | true while |
|---|---|
| EVConnected | the evse session runs (plug-in .. unplug) |
| Authorized | the session is authorized and not stopped (Stop / StopAuthorized / Deauthorized) |
| PowerPathClosed | authorized, from the first Charging of the session until it is stopped |
| EnergyTransfer | the connector is Charging |

PowerPathClosed is not "the contactor is closed right now": an AC EV that pauses (SuspendedEV,
state B) opens the contactor, but the session keeps its power path in OCPP's sense (TC_E_37
starts from a suspended transfer). evse's SuspendedEV also covers "authorized, EV not ready
yet", before any energy flowed, which is not PowerPathClosed (TC_E_01).

A transaction starts when the first start point becomes true (E01.FR.01..06) and ends when a
stop point that was true during the transaction becomes false (E06.FR.01..07): with TxStopPoint
PowerPathClosed a transaction started at plug-in does not end before the power path ever closed.
ParkingBayOccupancy (no bay sensor) and DataSigned (no signed meter) are not supported: the
device model refuses them. One transaction per evse session: its transactionId stays the evse
session id, and once a stop point ended it early the session starts no second one. Every method
returns the TransactionEvent payloads to queue, in order; the builder (transactions.py) numbers
them. The one transaction that starts before a session is a remote start with TxStartPoint
Authorized (the adapter opens it, E03/F02): the plug-in's session continues it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .transactions import STOP_TRIGGERS, TxBuilder

SUPPORTED_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")
ENERGY_STATES = frozenset({"Charging"})
# evse connector State -> OCPP chargingState while a transaction runs
CHARGING_STATE = {"Charging": "Charging", "SuspendedEV": "SuspendedEV", "SuspendedEVSE": "SuspendedEVSE"}

Meter = Callable[[int, str, str], list[dict[str, Any]]]   # (connector, context, measurands variable)


@dataclass
class Conditions:
    session: str | None = None
    token: tuple[str, str] | None = None   # (idToken, type) once authorized
    authorized: bool = False
    state: str = "Available"
    stop_reason: str | None = None         # the evse stop reason in this session
    power_path: bool = False               # Charging was reached and the session was not stopped since
    reached: frozenset[str] = frozenset()  # points true at some time during the running transaction


def parse_points(value: str, default: str = "EVConnected") -> set[str]:
    points = {p.strip() for p in value.split(",") if p.strip()} & set(SUPPORTED_POINTS)
    return points or {default}


class TxFlow:
    def __init__(self, builder: TxBuilder, start_points: Callable[[], set[str]],
                 stop_points: Callable[[], set[str]], meter: Meter) -> None:
        self.tx = builder
        self.start_points = start_points
        self.stop_points = stop_points
        self.meter = meter
        self.conds: dict[int, Conditions] = {}

    def _c(self, cid: int) -> Conditions:
        return self.conds.setdefault(cid, Conditions())

    @staticmethod
    def met(c: Conditions, point: str) -> bool:
        if point == "EVConnected":
            return c.session is not None
        if point == "Authorized":
            return c.session is not None and c.authorized
        if point == "PowerPathClosed":
            return c.session is not None and c.authorized and c.power_path
        if point == "EnergyTransfer":
            return c.session is not None and c.state in ENERGY_STATES
        return False

    def _charging_state(self, c: Conditions) -> str:
        return CHARGING_STATE.get(c.state, "EVConnected")

    def _maybe_start(self, cid: int, ts: str, trigger: str, offline: bool) -> list[dict[str, Any]]:
        c = self._c(cid)
        if cid in self.tx.active or c.session is None or self.tx.finished.get(cid) == c.session:
            return []
        if not any(self.met(c, p) for p in self.start_points()):
            return []
        c.reached = frozenset()
        msg = self.tx.started(cid, c.session, ts, offline=offline, trigger=trigger,
                              token=c.token if c.authorized else None, charging_state=self._charging_state(c),
                              meter=self.meter(cid, "Transaction.Begin", "TxStartedMeasurands"))
        return [msg] if msg else []

    def _maybe_stop(self, cid: int, ts: str, offline: bool, trigger: str, reason: str) -> list[dict[str, Any]]:
        c = self._c(cid)
        if cid not in self.tx.active or c.session is None:
            return []
        if not any(p in c.reached and not self.met(c, p) for p in self.stop_points()):
            return []
        # The cable is gone (TC_E_37): Idle; otherwise the EV is still there (TC_E_22).
        charging_state = "Idle" if reason == "EVDisconnected" else "EVConnected"
        msg = self.tx.ended(cid, reason, ts, offline=offline, trigger=trigger, charging_state=charging_state,
                            session_id=c.session, meter=self.meter(cid, "Transaction.End", "TxEndedMeasurands"))
        return [msg] if msg else []

    def _note(self, cid: int, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
        c = self._c(cid)
        if cid in self.tx.active:
            c.reached = c.reached | {p for p in SUPPORTED_POINTS if self.met(c, p)}
        return out

    def restore(self, cid: int, conds: Conditions) -> None:
        """Conditions read back from evse after a restart (for a running transaction: reached as now)."""
        self.conds[cid] = conds
        self._note(cid, [])

    # --- evse events ---------------------------------------------------------------------------
    def session_started(self, cid: int, session: str, ts: str, *, offline: bool) -> list[dict[str, Any]]:
        c = self._c(cid)
        c.session, c.token, c.authorized, c.stop_reason, c.power_path = session, None, False, None, False
        if self.tx.before_cable(cid):   # a remote start opened it (TxStartPoint Authorized): it goes on
            msg = self.tx.cable_plugged(cid, session, ts, offline=offline)
            return self._note(cid, [msg] if msg else [])
        return self._note(cid, self._maybe_start(cid, ts, "CablePluggedIn", offline))

    def authorized(self, cid: int, token: str, token_type: str, ts: str, *, offline: bool) -> list[dict[str, Any]]:
        c = self._c(cid)
        c.token, c.authorized = (token, token_type), True
        if cid in self.tx.active:
            msg = self.tx.authorized(cid, token, token_type, ts, offline=offline)
            return self._note(cid, [msg] if msg else [])
        return self._note(cid, self._maybe_start(cid, ts, "Authorized", offline))

    def stopped(self, cid: int, reason: str, ts: str, *, offline: bool,
                id_token: dict[str, str] | None = None) -> list[dict[str, Any]]:
        c = self._c(cid)
        c.authorized, c.stop_reason, c.power_path = False, reason, False
        ended = self._maybe_stop(cid, ts, offline, STOP_TRIGGERS.get(reason, "AbnormalCondition"), reason)
        if ended:
            return ended
        msg = self.tx.stopped(cid, reason, ts, offline=offline, id_token=id_token)
        return self._note(cid, [msg] if msg else [])

    def state(self, cid: int, state: str, ts: str, *, offline: bool) -> list[dict[str, Any]]:
        c = self._c(cid)
        c.state = state
        if state in ENERGY_STATES and c.authorized:
            c.power_path = True
        if c.session is None:
            return []
        out = self._maybe_start(cid, ts, "ChargingStateChanged", offline)
        if out:
            return self._note(cid, out)
        if state == "Available":   # unplugged; evse's SessionEnded follows
            reason, trigger = "EVDisconnected", "EVCommunicationLost"
        elif c.stop_reason:   # the power path opened because the session was stopped
            reason, trigger = c.stop_reason, STOP_TRIGGERS.get(c.stop_reason, "AbnormalCondition")
        else:               # the EV stopped drawing energy (TC_E_22)
            reason, trigger = "StoppedByEV", "ChargingStateChanged"
        out = self._maybe_stop(cid, ts, offline, trigger, reason)
        if out:
            return self._note(cid, out)
        charging = CHARGING_STATE.get(state)
        tx = self.tx.active.get(cid)
        if charging is None and state in ("Preparing", "Finishing") and tx is not None \
                and tx.charging_state != "Idle":
            charging = "EVConnected"
        if charging and tx is not None:
            msg = self.tx.charging_state(cid, charging, ts, offline=offline)
            return self._note(cid, [msg] if msg else [])
        return self._note(cid, [])

    def session_ended(self, cid: int, session: str, reason: str, ts: str, *, offline: bool) -> list[dict[str, Any]]:
        c = self._c(cid)
        out: list[dict[str, Any]] = []
        if self.tx.session_of(cid) == session:
            msg = self.tx.ended(cid, reason, ts, offline=offline,
                                meter=self.meter(cid, "Transaction.End", "TxEndedMeasurands"))
            out = [msg] if msg else []
        if c.session == session:
            self.conds[cid] = Conditions(state=c.state)
        self.tx.finished.pop(cid, None)
        return out
