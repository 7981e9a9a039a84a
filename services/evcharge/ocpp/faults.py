"""Board / evse faults -> OCPP 2.0.1 NotifyEvent problems with ChargeX error codes (pure).

The one place that maps evcharge fault names to what a CSMS sees. NEVI-funded chargers must
report the ChargeX "Minimum Required Error Codes" (MREC, CX001..); in OCPP 2.0.1 that is a
NotifyEvent with trigger Alerting on variable `Problem` of the component at fault, techCode
the CX code and techInfo the evcharge fault name. A fault that goes away is sent again with
cleared = true. Only the MREC numbers confirmed from the public ChargeX list are used
(CX001 ConnectorLockFailure, CX002 GroundFailure, CX003 HighTemperature, CX004
OverCurrentFailure, CX005 OverVoltage, CX006 UnderVoltage); faults without a confirmed MREC
carry the OCPP 1.6 error code name as techCode, so nothing is invented.

Faults are remembered per connector and what the CSMS was told is tracked separately: after a
reconnect the difference is sent, so a fault raised (or cleared) offline is not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VARIABLE = "Problem"


@dataclass(frozen=True)
class FaultMap:
    component: str          # Part 2 Appendix 3 standardized component
    code: str               # techCode: the ChargeX MREC number, else the OCPP 1.6 ChargePointErrorCode
    mrec: str               # the MREC / OCPP 1.6 error name


# evcharge fault (board `Faults`, evse `Faults`, evse stop reasons) -> what the CSMS sees.
FAULTS: dict[str, FaultMap] = {
    "RcdTrip": FaultMap("RCD", "CX002", "GroundFailure"),
    "GroundFault": FaultMap("RCD", "CX002", "GroundFailure"),
    "OvercurrentFault": FaultMap("OverCurrentProtection", "CX004", "OverCurrentFailure"),
    "ConnectorLockFailure": FaultMap("ConnectorPlugRetentionLock", "CX001", "ConnectorLockFailure"),
    "HighTemperature": FaultMap("Connector", "CX003", "HighTemperature"),
    "OverVoltage": FaultMap("ElectricalFeed", "CX005", "OverVoltage"),
    "UnderVoltage": FaultMap("ElectricalFeed", "CX006", "UnderVoltage"),
    "ContactorWelded": FaultMap("PowerContactor", "PowerSwitchFailure", "PowerSwitchFailure"),
    "ContactorFailedToClose": FaultMap("PowerContactor", "PowerSwitchFailure", "PowerSwitchFailure"),
    "DiodeFault": FaultMap("ConnectedEV", "EVCommunicationError", "EVCommunicationError"),
    "CpInvalid": FaultMap("CPPWMController", "EVCommunicationError", "EVCommunicationError"),
    "CpShortCircuit": FaultMap("CPPWMController", "EVCommunicationError", "EVCommunicationError"),
    "VentilationNotAvailable": FaultMap("AreaVentilation", "OtherError", "OtherError"),
    "HeartbeatLost": FaultMap("Controller", "InternalError", "InternalError"),
    "HardwareLinkLost": FaultMap("Controller", "InternalError", "InternalError"),
}
UNKNOWN = FaultMap("EVSE", "OtherError", "OtherError")


def lookup(fault: str) -> FaultMap:
    return FAULTS.get(fault, UNKNOWN)


def event_data(event_id: int, ts: str, fault: str, evse_id: int, connector_id: int, *,
               cleared: bool) -> dict[str, Any]:
    m = lookup(fault)
    data: dict[str, Any] = {
        "eventId": event_id, "timestamp": ts, "trigger": "Alerting", "actualValue": "false" if cleared else "true",
        "techCode": m.code, "techInfo": f"{fault} ({m.mrec})",
        "component": {"name": m.component, "evse": {"id": evse_id, "connectorId": connector_id}},
        "variable": {"name": VARIABLE}, "eventNotificationType": "HardWiredNotification"}
    if cleared:
        data["cleared"] = True
    return data


@dataclass
class FaultReporter:
    active: dict[int, set[str]] = field(default_factory=dict)    # connector -> faults now
    told: dict[int, set[str]] = field(default_factory=dict)      # connector -> faults the CSMS knows about

    def set_faults(self, cid: int, faults: list[str] | tuple[str, ...] | set[str]) -> None:
        self.active[cid] = set(faults)

    def raise_fault(self, cid: int, fault: str) -> None:
        self.active.setdefault(cid, set()).add(fault)

    def clear_fault(self, cid: int, fault: str) -> None:
        self.active.setdefault(cid, set()).discard(fault)

    def pending(self, cid: int) -> tuple[list[str], list[str]]:
        """(raised, cleared) not yet told to the CSMS."""
        now, told = self.active.get(cid, set()), self.told.get(cid, set())
        return sorted(now - told), sorted(told - now)

    def sent(self, cid: int, raised: list[str], cleared: list[str]) -> None:
        told = self.told.setdefault(cid, set())
        told |= set(raised)
        told -= set(cleared)

    def to_json(self) -> dict[str, list[str]]:
        return {str(c): sorted(f) for c, f in self.told.items() if f}

    def load_json(self, data: dict[str, list[str]] | None) -> None:
        self.told = {int(c): set(f) for c, f in (data or {}).items()}
