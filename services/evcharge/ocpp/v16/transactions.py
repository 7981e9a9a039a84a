"""OCPP 1.6 transaction messages from evse session events (pure).

A 1.6 transaction starts when the plugged EV is authorized (StartTransaction with the idTag and
meterStart) and stops at the first of: the session is stopped (card, remote, fault: reason from
evse) or the EV is unplugged (EVDisconnected). The CSMS assigns the transactionId in its
StartTransaction.conf, so a transaction has a *local id* until then: the evse session id (with
`#n` for a second transaction in the same session). StopTransaction and MeterValues are queued
with that local id and get the CSMS's id when they are sent (`resolve`); the mapping is stored
with the builder's state, so messages queued offline are delivered with the right id after a
restart. Payloads are camelCase dicts with `transactionId` None until resolved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# evse stop reasons (OCPP 2.0.1 ReasonEnumType) -> OCPP 1.6 Reason
STOP_REASONS = {"DeAuthorized": "DeAuthorized", "EmergencyStop": "EmergencyStop", "EVDisconnected": "EVDisconnected",
                "ImmediateReset": "HardReset", "Reboot": "SoftReset", "Local": "Local", "PowerLoss": "PowerLoss",
                "Remote": "Remote", "MasterPass": "Local"}
ID_TAG_MAX = 20  # IdToken is CiString20Type in 1.6


def stop_reason(evse_reason: str) -> str:
    return STOP_REASONS.get(evse_reason, "Other")


@dataclass
class Session16:
    session_id: str
    connector_id: int              # OCPP 1.6 connectorId
    local_id: str | None = None    # the running transaction's local id, None before StartTransaction
    count: int = 0                 # transactions started in this session
    id_tag: str | None = None


@dataclass
class TxBuilder16:
    # evcharge connector -> OCPP 1.6 connectorId
    connectors: dict[int, int]
    sessions: dict[int, Session16] = field(default_factory=dict)
    # local id -> transactionId assigned by the CSMS
    ids: dict[str, int] = field(default_factory=dict)
    # connector -> idTag of a RemoteStartTransaction waiting for the EV / evse
    remote_starts: dict[int, str] = field(default_factory=dict)

    # --- persistence --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"sessions": {str(c): asdict(s) for c, s in self.sessions.items()}, "ids": dict(self.ids),
                "remote_starts": {str(c): t for c, t in self.remote_starts.items()}}

    def load_json(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.sessions = {int(c): Session16(**s) for c, s in data.get("sessions", {}).items()}
        self.ids = {k: int(v) for k, v in data.get("ids", {}).items()}
        self.remote_starts = {int(c): t for c, t in data.get("remote_starts", {}).items()}

    # --- lookups -------------------------------------------------------------------------------
    def session_id(self, connector: int) -> str | None:
        s = self.sessions.get(connector)
        return s.session_id if s else None

    def running(self, connector: int) -> str | None:
        """The local id of the transaction running on a connector."""
        s = self.sessions.get(connector)
        return s.local_id if s else None

    def transaction_id(self, connector: int) -> int | None:
        """The CSMS's id of the transaction running on a connector (None before StartTransaction.conf)."""
        local = self.running(connector)
        return self.ids.get(local) if local else None

    def connector_of(self, transaction_id: int) -> int | None:
        return next((c for c, s in self.sessions.items() if s.local_id and self.ids.get(s.local_id) == transaction_id),
                    None)

    def resolve(self, local_id: str | None) -> int | None:
        return self.ids.get(local_id) if local_id else None

    # --- CSMS answers -------------------------------------------------------------------------
    def assigned(self, local_id: str, transaction_id: int) -> None:
        self.ids[local_id] = transaction_id

    def forget(self, local_id: str) -> None:
        """Every message of this transaction was delivered (or given up)."""
        self.ids.pop(local_id, None)

    # --- evse events -> (local id, payload) ---------------------------------------------------
    def session_started(self, connector: int, session_id: str) -> None:
        if connector in self.connectors and self.session_id(connector) != session_id:
            self.sessions[connector] = Session16(session_id, self.connectors[connector])

    def authorized(self, connector: int, id_tag: str, meter_wh: float | None, ts: str
                   ) -> tuple[str, dict[str, Any]] | None:
        """StartTransaction when an authorized EV is plugged (once per transaction)."""
        s = self.sessions.get(connector)
        if s is None or s.local_id is not None:
            return None
        s.count += 1
        s.local_id = s.session_id if s.count == 1 else f"{s.session_id}#{s.count}"
        s.id_tag = id_tag[:ID_TAG_MAX]
        self.remote_starts.pop(connector, None)
        return s.local_id, {"connectorId": s.connector_id, "idTag": s.id_tag, "meterStart": _wh(meter_wh),
                            "timestamp": ts}

    def stopped(self, connector: int, evse_reason: str, meter_wh: float | None, ts: str, *,
                transaction_data: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, Any]] | None:
        """StopTransaction for the running transaction (session stopped, or the EV unplugged)."""
        s = self.sessions.get(connector)
        if s is None or s.local_id is None:
            return None
        local, s.local_id = s.local_id, None
        payload: dict[str, Any] = {"transactionId": None, "meterStop": _wh(meter_wh), "timestamp": ts,
                                   "reason": stop_reason(evse_reason)}
        if s.id_tag and evse_reason in ("Local", "MasterPass"):
            payload["idTag"] = s.id_tag
        if transaction_data:
            payload["transactionData"] = transaction_data
        return local, payload

    def ended(self, connector: int, session_id: str, evse_reason: str, meter_wh: float | None, ts: str, *,
              transaction_data: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, Any]] | None:
        s = self.sessions.get(connector)
        if s is None or s.session_id != session_id:
            return None
        out = self.stopped(connector, evse_reason or "EVDisconnected", meter_wh, ts, transaction_data=transaction_data)
        del self.sessions[connector]
        return out

    def meter_values(self, connector: int, meter_value: list[dict[str, Any]], *, with_transaction: bool = True
                     ) -> tuple[str | None, dict[str, Any]] | None:
        """MeterValues for a connector, of its running transaction when there is one."""
        if connector not in self.connectors or not meter_value:
            return None
        payload: dict[str, Any] = {"connectorId": self.connectors[connector], "meterValue": meter_value}
        local = self.running(connector) if with_transaction else None
        if local:
            payload["transactionId"] = None
        return local, payload


def _wh(value: float | None) -> int:
    return int(round(value)) if value is not None else 0


def meter_value(ts: str, context: str, *, energy_wh: float | None, power_w: float | None,
                measurands: list[str]) -> list[dict[str, Any]]:
    """A 1.6 meterValue list (values are strings) with the configured measurands we have values for."""
    sv: list[dict[str, Any]] = []
    if energy_wh is not None and "Energy.Active.Import.Register" in measurands:
        sv.append({"value": f"{energy_wh:.1f}", "context": context, "measurand": "Energy.Active.Import.Register",
                   "unit": "Wh"})
    if power_w is not None and "Power.Active.Import" in measurands:
        sv.append({"value": f"{power_w:.1f}", "context": context, "measurand": "Power.Active.Import", "unit": "W"})
    return [{"timestamp": ts, "sampledValue": sv}] if sv else []


def next_aligned(now_epoch: float, interval_s: int) -> float:
    """The next clock-aligned sample time: multiples of the interval from midnight UTC."""
    day = now_epoch - now_epoch % 86400
    n = int((now_epoch - day) // interval_s) + 1
    return min(day + n * interval_s, day + 86400)
