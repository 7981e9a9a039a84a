"""TransactionEvent messages from evse session events (pure).

An OCPP transaction is (part of) one evse session: with the default TxStartPoint and
TxStopPoint `EVConnected` it starts at plug-in (`SessionStarted`) and ends at unplug
(`SessionEnded`); other trigger points move its start and end inside the session (txpoints.py
decides, this module builds the messages). The transactionId is the evse session id, so the two
services name a session alike in the journal; the exception is a transaction that a remote start
opens before the cable (TxStartPoint Authorized): it has its own id and takes the evse session
that the plug-in starts (`Tx.session`).
Every message of a transaction carries seqNo 0, 1, 2... with no gap: the builder hands out the
number, and the adapter stores the message together with `to_json()` in one commit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# evse stop reasons are OCPP 2.0.1 ReasonEnumType values already; the trigger that goes with each.
STOP_TRIGGERS = {"Remote": "RemoteStop", "Local": "StopAuthorized", "MasterPass": "StopAuthorized",
                 "DeAuthorized": "Deauthorized",
                 "EVDisconnected": "EVCommunicationLost", "EnergyLimitReached": "EnergyLimitReached",
                 "TimeLimitReached": "TimeLimitReached", "ImmediateReset": "ResetCommand"}
TOKEN_TYPES = {"Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"}


def id_token_of(token: str, token_type: str) -> dict[str, str]:
    """IdTokenType of an evse token; a type OCPP does not know is a backend's (Central)."""
    return {"idToken": token, "type": token_type if token_type in TOKEN_TYPES else "Central"}


@dataclass
class Tx:
    transaction_id: str
    evse_id: int
    connector_id: int
    seq: int = 0                                 # next seqNo
    id_token: dict[str, str] | None = None
    remote_start_id: int | None = None
    charging_state: str = "EVConnected"
    session: str | None = None                   # the evse session it runs in; None: before the cable


@dataclass
class TxBuilder:
    # evcharge connector -> (evseId, connectorId)
    evses: dict[int, tuple[int, int]]
    active: dict[int, Tx] = field(default_factory=dict)
    # connector -> (remoteStartId, idToken) of a RequestStartTransaction waiting for its authorization
    remote_starts: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)
    # connector -> evse session whose transaction already ended (a TxStopPoint other than
    # EVConnected): no second transaction in the same session (see txpoints.py)
    finished: dict[int, str] = field(default_factory=dict)

    # --- persistence ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"active": {str(c): asdict(t) for c, t in self.active.items()},
                "remote_starts": {str(c): [r, tok] for c, (r, tok) in self.remote_starts.items()},
                "finished": {str(c): s for c, s in self.finished.items()}}

    def load_json(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        # Saved before `session` existed: the transaction ran in the session of the same id.
        self.active = {int(c): Tx(**({"session": t["transaction_id"]} | t)) for c, t in data.get("active", {}).items()}
        self.remote_starts = {int(c): (r, tok) for c, (r, tok) in data.get("remote_starts", {}).items()}
        self.finished = {int(c): s for c, s in data.get("finished", {}).items()}

    def transaction_id(self, connector: int) -> str | None:
        tx = self.active.get(connector)
        return tx.transaction_id if tx else None

    def session_of(self, connector: int) -> str | None:
        """The evse session of the connector's transaction (None: none, or not plugged in yet)."""
        tx = self.active.get(connector)
        return tx.session if tx else None

    def before_cable(self, connector: int) -> bool:
        tx = self.active.get(connector)
        return tx is not None and tx.session is None

    def connector_of(self, transaction_id: str) -> int | None:
        return next((c for c, t in self.active.items() if t.transaction_id == transaction_id), None)

    # --- events -> TransactionEventRequest payloads (camelCase) ---------------------------------
    def _msg(self, tx: Tx, event_type: str, trigger: str, ts: str, *, offline: bool,
             meter: list[dict[str, Any]] | None = None, id_token: dict[str, str] | None = None,
             stopped_reason: str | None = None, with_evse: bool = False) -> dict[str, Any]:
        info: dict[str, Any] = {"transactionId": tx.transaction_id, "chargingState": tx.charging_state}
        if tx.remote_start_id is not None and trigger == "RemoteStart":
            info["remoteStartId"] = tx.remote_start_id
        if stopped_reason:
            info["stoppedReason"] = stopped_reason
        msg: dict[str, Any] = {"eventType": event_type, "timestamp": ts, "triggerReason": trigger,
                               "seqNo": tx.seq, "transactionInfo": info}
        tx.seq += 1
        if offline:
            msg["offline"] = True
        if with_evse or event_type == "Started":
            msg["evse"] = {"id": tx.evse_id, "connectorId": tx.connector_id}
        if id_token:
            msg["idToken"] = id_token
        if meter:
            msg["meterValue"] = meter
        return msg

    def started(self, connector: int, session_id: str, ts: str, *, offline: bool = False,
                meter: list[dict[str, Any]] | None = None, trigger: str = "CablePluggedIn",
                token: tuple[str, str] | None = None, charging_state: str = "EVConnected") -> dict[str, Any] | None:
        """Started; `token` (idToken, type) when the transaction starts authorized (TxStartPoint
        Authorized / PowerPathClosed / EnergyTransfer): its trigger becomes Authorized or RemoteStart."""
        if connector not in self.evses or connector in self.active:
            return None
        evse_id, conn_id = self.evses[connector]
        tx = Tx(session_id, evse_id, conn_id, charging_state=charging_state, session=session_id)
        self.active[connector] = tx
        id_token = None
        if token is not None:
            id_token, auth_trigger = self._authorize(connector, tx, *token)
            if trigger == "Authorized":
                trigger = auth_trigger
        return self._msg(tx, "Started", trigger, ts, offline=offline, meter=meter, id_token=id_token)

    def remote_started(self, connector: int, transaction_id: str, ts: str, *, offline: bool = False,
                       meter: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """Started / RemoteStart before the cable (TxStartPoint Authorized): chargingState Idle, no
        session yet; the connector's waiting remote start (remoteStartId, idToken) goes into it."""
        if connector not in self.evses or connector in self.active or connector not in self.remote_starts:
            return None
        rs = self.remote_starts.pop(connector)
        evse_id, conn_id = self.evses[connector]
        tx = Tx(transaction_id, evse_id, conn_id, charging_state="Idle", session=None,
                remote_start_id=rs[0], id_token=rs[1])
        self.active[connector] = tx
        return self._msg(tx, "Started", "RemoteStart", ts, offline=offline, meter=meter, id_token=rs[1])

    def authorized_before_cable(self, connector: int, transaction_id: str, token: str, token_type: str, ts: str, *,
                                offline: bool = False, meter: list[dict[str, Any]] | None = None
                                ) -> dict[str, Any] | None:
        """Started / Authorized before the cable (TxStartPoint Authorized, a card presented first):
        chargingState Idle, no session yet, like a remote start's transaction but without remoteStartId."""
        if connector not in self.evses or connector in self.active:
            return None
        evse_id, conn_id = self.evses[connector]
        id_token = id_token_of(token, token_type)
        tx = Tx(transaction_id, evse_id, conn_id, charging_state="Idle", session=None, id_token=id_token)
        self.active[connector] = tx
        return self._msg(tx, "Started", "Authorized", ts, offline=offline, meter=meter, id_token=id_token)

    def cable_plugged(self, connector: int, session_id: str, ts: str, *,
                      offline: bool = False) -> dict[str, Any] | None:
        """The plug-in of a transaction begun before the cable: it takes the evse session."""
        tx = self.active.get(connector)
        if tx is None or tx.session is not None:
            return None
        tx.session = session_id
        tx.charging_state = "EVConnected"
        return self._msg(tx, "Updated", "CablePluggedIn", ts, offline=offline)

    def _authorize(self, connector: int, tx: Tx, token: str, token_type: str) -> tuple[dict[str, str], str]:
        id_token = id_token_of(token, token_type)
        trigger = "Authorized"
        rs = self.remote_starts.pop(connector, None)
        if rs is not None and rs[1].get("idToken", "").casefold() == token.casefold():
            tx.remote_start_id = rs[0]
            id_token = rs[1]
            trigger = "RemoteStart"
        tx.id_token = id_token
        return id_token, trigger

    def authorized(self, connector: int, token: str, token_type: str, ts: str, *,
                   offline: bool = False) -> dict[str, Any] | None:
        tx = self.active.get(connector)
        if tx is None:
            return None
        if tx.session != tx.transaction_id and tx.id_token is not None \
                and tx.id_token.get("idToken", "").casefold() == token.casefold():
            return None   # begun before the cable: the remote start's token was in its Started event
        id_token, trigger = self._authorize(connector, tx, token, token_type)
        return self._msg(tx, "Updated", trigger, ts, offline=offline, id_token=id_token)

    def charging_state(self, connector: int, state: str, ts: str, *, offline: bool = False) -> dict[str, Any] | None:
        tx = self.active.get(connector)
        if tx is None or tx.charging_state == state:
            return None
        tx.charging_state = state
        return self._msg(tx, "Updated", "ChargingStateChanged", ts, offline=offline)

    def stopped(self, connector: int, reason: str, ts: str, *, offline: bool = False,
                id_token: dict[str, str] | None = None) -> dict[str, Any] | None:
        """`id_token`: the card that stopped it when not the one that started it (C09 same GroupId, C16
        Master Pass). A Master Pass stop names its reason already here, before Ended (TC_C_49 step 3;
        the 2023-12 errata: stoppedReason is what began the stop, not only the Ended event's)."""
        tx = self.active.get(connector)
        if tx is None:
            return None
        tx.charging_state = "EVConnected"
        return self._msg(tx, "Updated", STOP_TRIGGERS.get(reason, "AbnormalCondition"), ts, offline=offline,
                         id_token=id_token, stopped_reason=reason if reason == "MasterPass" else None)

    def meter(self, connector: int, meter: list[dict[str, Any]], ts: str, *, trigger: str = "MeterValuePeriodic",
              offline: bool = False) -> dict[str, Any] | None:
        tx = self.active.get(connector)
        if tx is None or not meter:
            return None
        return self._msg(tx, "Updated", trigger, ts, offline=offline, meter=meter)

    def rate_changed(self, connector: int, ts: str, *, offline: bool = False,
                     meter: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """Updated / ChargingRateChanged: the limit applied to the transaction changed significantly."""
        tx = self.active.get(connector)
        if tx is None:
            return None
        return self._msg(tx, "Updated", "ChargingRateChanged", ts, offline=offline, meter=meter)

    def ended(self, connector: int, reason: str, ts: str, *, offline: bool = False,
              meter: list[dict[str, Any]] | None = None, trigger: str | None = None,
              charging_state: str = "Idle", session_id: str | None = None) -> dict[str, Any] | None:
        """Ended. At unplug chargingState is Idle; a TxStopPoint reached while the EV stays
        plugged in passes its own trigger and chargingState, and `session_id` so that the
        session does not start a second transaction."""
        tx = self.active.pop(connector, None)
        if tx is None:
            return None
        if session_id is not None:
            self.finished[connector] = session_id
        tx.charging_state = charging_state
        if trigger is None:
            trigger = "EVCommunicationLost" if reason == "EVDisconnected" else \
                STOP_TRIGGERS.get(reason, "AbnormalCondition")
        return self._msg(tx, "Ended", trigger, ts, offline=offline, meter=meter, stopped_reason=reason or "Other")


def sampled_values(ts: str, context: str, *, energy_wh: float | None, power_w: float | None,
                   measurands: list[str]) -> list[dict[str, Any]]:
    """A meterValue list with the configured measurands we have values for."""
    sv: list[dict[str, Any]] = []
    if energy_wh is not None and "Energy.Active.Import.Register" in measurands:
        sv.append({"value": round(energy_wh, 1), "context": context, "measurand": "Energy.Active.Import.Register",
                   "unitOfMeasure": {"unit": "Wh"}})
    if power_w is not None and "Power.Active.Import" in measurands:
        sv.append({"value": round(power_w, 1), "context": context, "measurand": "Power.Active.Import",
                   "unitOfMeasure": {"unit": "W"}})
    return [{"timestamp": ts, "sampledValue": sv}] if sv else []
