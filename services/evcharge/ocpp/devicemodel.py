"""The OCPP 2.0.1 device model (pure): components, variables, Get/SetVariables, reports.

Only the `Actual` attribute is kept. Values are strings on the wire; each variable has a data
type that a SetVariables value must parse as. Values a CSMS set are returned by `overrides()`
for the adapter to persist and given back with `load()` on start (defaults come from code and
configuration, so a firmware update can change a default that was never overridden).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .masterpass import check_group_id
from .smartcharging import MAX_ENTRIES, MAX_PERIODS, MAX_STACK_LEVEL

ACTUAL = "Actual"
ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
RW, RO, WO = "ReadWrite", "ReadOnly", "WriteOnly"
MAX_VALUE_LEN = 1000  # attributeValue is string[1000] (valuesList etc. likewise)
_DATETIME_RX = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


@dataclass
class Variable:
    component: str
    name: str
    value: str
    data_type: str = "string"          # string, decimal, integer, dateTime, boolean, OptionList, SequenceList, MemberList
    mutability: str = RW
    instance: str | None = None
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None    # with evse_id: a Connector component (evse.connectorId)
    unit: str | None = None
    values_list: tuple[str, ...] = ()  # OptionList / MemberList / SequenceList
    min_limit: float | None = None
    max_limit: float | None = None
    persistent: bool = True
    # The value lives in another service (which keeps it); the device model reads and sets it there
    # and does not store it itself.
    mirrored: bool = False
    constant: bool = False
    reboot_required: bool = False
    # Extra check of a value the CSMS sets (None: fits, else why not), e.g. security rules.
    validator: Callable[[str], str | None] | None = field(default=None, repr=False, compare=False)
    default: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.default = self.value

    @property
    def key(self) -> tuple:
        # connector_id last: keys saved before it existed (5 items) still load (DeviceModel.load).
        return (self.component, self.component_instance, self.evse_id, self.name, self.instance, self.connector_id)

    def check(self, value: str) -> str | None:
        """None if `value` fits, else why not."""
        if len(value) > MAX_VALUE_LEN:
            return "too long"
        if self.validator is not None and (why := self.validator(value)) is not None:
            return why
        t = self.data_type
        if t == "boolean":
            return None if value in ("true", "false") else "expected true or false"
        if t == "dateTime":
            return None if _is_datetime(value) else "expected an RFC 3339 date and time"
        if t in ("integer", "decimal"):
            try:
                num = int(value) if t == "integer" else float(value)
            except ValueError:
                return f"expected {t}"
            if self.min_limit is not None and num < self.min_limit:
                return f"below {self.min_limit:g}"
            if self.max_limit is not None and num > self.max_limit:
                return f"above {self.max_limit:g}"
            return None
        if t == "OptionList":
            return None if value in self.values_list else "not in valuesList"
        if t in ("MemberList", "SequenceList"):
            items = [v.strip() for v in value.split(",") if v.strip()] if value else []
            bad = [i for i in items if i not in self.values_list]
            return f"not supported: {','.join(bad)}" if bad else None
        return None


def _is_datetime(value: str) -> bool:
    """An RFC 3339 date-time with a time zone, as OCPP's dateTime is."""
    if not _DATETIME_RX.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _id(component: dict[str, Any], variable: dict[str, Any]) -> tuple:
    evse = component.get("evse") or {}
    return (component.get("name"), component.get("instance"), evse.get("id"), variable.get("name"),
            variable.get("instance"), evse.get("connectorId"))


class DeviceModel:
    def __init__(self, variables: Iterable[Variable]) -> None:
        self._vars: dict[tuple, Variable] = {}
        for v in variables:
            if v.key in self._vars:
                raise ValueError(f"duplicate variable {v.key}")
            self._vars[v.key] = v
        self._components = {(v.component, v.component_instance, v.evse_id, v.connector_id)
                            for v in self._vars.values()}
        # Called with the variable after a CSMS changed it (the adapter applies side effects).
        self.on_change: list[Callable[[Variable], None]] = []

    def add(self, variables: Iterable[Variable], *, replace: bool = False) -> None:
        """More variables (a feature module's controller); replace=True redefines existing ones."""
        for v in variables:
            if v.key in self._vars and not replace:
                raise ValueError(f"duplicate variable {v.key}")
            self._vars[v.key] = v
            self._components.add((v.component, v.component_instance, v.evse_id, v.connector_id))

    # --- local access ---------------------------------------------------------------------
    def get(self, component: str, name: str, instance: str | None = None) -> str:
        return self._vars[(component, None, None, name, instance, None)].value

    def get_int(self, component: str, name: str, instance: str | None = None) -> int:
        return int(self.get(component, name, instance))

    def get_bool(self, component: str, name: str, instance: str | None = None) -> bool:
        return self.get(component, name, instance) == "true"

    def set_local(self, component: str, name: str, value: str, instance: str | None = None,
                  evse_id: int | None = None, connector_id: int | None = None) -> None:
        """The station itself updates a value (no mutability check, no persistence)."""
        v = self._vars.get((component, None, evse_id, name, instance, connector_id))
        if v is not None:
            v.value = value

    def variables(self) -> list[Variable]:
        return list(self._vars.values())

    def find_local(self, component: str, name: str, instance: str | None = None) -> Variable:
        return self._vars[(component, None, None, name, instance, None)]

    # --- persistence ---------------------------------------------------------------------------
    def overrides(self) -> list[list]:
        return [[list(k), v.value] for k, v in self._vars.items()
                if v.persistent and not v.mirrored and v.mutability != RO and v.value != v.default]

    def load(self, data: list[list] | None) -> None:
        for key, value in data or []:
            if not isinstance(key, list) or len(key) not in (5, 6):
                continue
            v = self._vars.get(tuple(key) + (None,) * (6 - len(key)))
            if v is not None and v.mutability != RO and isinstance(value, str) and v.check(value) is None:
                v.value = value

    # --- GetVariables / SetVariables ----------------------------------------------------------
    def _find(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[Variable | None, str | None]:
        evse = component.get("evse") or {}
        ckey = (component.get("name"), component.get("instance"), evse.get("id"), evse.get("connectorId"))
        if ckey not in self._components:
            return None, "UnknownComponent"
        v = self._vars.get(_id(component, variable))
        if v is None:
            return None, "UnknownVariable"
        return v, None

    def get_variables(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """getVariableData (camelCase dicts) -> getVariableResult."""
        out = []
        for r in requests:
            attr = r.get("attributeType") or ACTUAL
            res: dict[str, Any] = {"attributeType": attr, "component": r["component"], "variable": r["variable"]}
            v, err = self._find(r["component"], r["variable"])
            if err:
                res["attributeStatus"] = err
            elif attr != ACTUAL:
                res["attributeStatus"] = "NotSupportedAttributeType"
            elif v.mutability == WO:
                res["attributeStatus"] = "Rejected"
                res["attributeStatusInfo"] = {"reasonCode": "WriteOnly"}
            else:
                res["attributeStatus"] = "Accepted"
                res["attributeValue"] = v.value
            out.append(res)
        return out

    def set_variables(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """setVariableData -> setVariableResult; the accepted values are applied in order."""
        out = []
        for r in requests:
            attr = r.get("attributeType") or ACTUAL
            res: dict[str, Any] = {"attributeType": attr, "component": r["component"], "variable": r["variable"]}
            v, err = self._find(r["component"], r["variable"])
            value = r.get("attributeValue", "")
            if err:
                res["attributeStatus"] = err
            elif attr != ACTUAL:
                res["attributeStatus"] = "NotSupportedAttributeType"
            elif v.mutability == RO:
                res["attributeStatus"] = "Rejected"
                res["attributeStatusInfo"] = {"reasonCode": "ReadOnly"}
            elif (why := v.check(value)) is not None:
                res["attributeStatus"] = "Rejected"
                res["attributeStatusInfo"] = {"reasonCode": "InvalidValue", "additionalInfo": why[:512]}
            else:
                v.value = value
                res["attributeStatus"] = "RebootRequired" if v.reboot_required else "Accepted"
                for cb in list(self.on_change):
                    cb(v)
            out.append(res)
        return out

    # --- reports -----------------------------------------------------------------------------
    def report(self, base: str) -> list[dict[str, Any]] | None:
        """reportData for GetBaseReport `base`; None if the base is not supported."""
        if base == "FullInventory":
            chosen = self.variables()
        elif base == "ConfigurationInventory":
            chosen = [v for v in self.variables() if v.mutability != RO]
        else:
            return None
        return [report_data(v) for v in chosen]


def report_data(v: Variable) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": v.component}
    if v.component_instance:
        comp["instance"] = v.component_instance
    if v.evse_id is not None:
        comp["evse"] = {"id": v.evse_id} | ({"connectorId": v.connector_id} if v.connector_id is not None else {})
    var: dict[str, Any] = {"name": v.name}
    if v.instance:
        var["instance"] = v.instance
    attr: dict[str, Any] = {"type": ACTUAL, "mutability": v.mutability, "persistent": v.persistent,
                            "constant": v.constant}
    if v.mutability != WO:
        attr["value"] = v.value
    ch: dict[str, Any] = {"dataType": v.data_type, "supportsMonitoring": False}
    if v.unit:
        ch["unit"] = v.unit
    if v.values_list:
        ch["valuesList"] = ",".join(v.values_list)
    if v.min_limit is not None:
        ch["minLimit"] = v.min_limit
    if v.max_limit is not None:
        ch["maxLimit"] = v.max_limit
    return {"component": comp, "variable": var, "variableAttribute": [attr], "variableCharacteristics": ch}


def pages(items: list[Any], per_page: int) -> list[list[Any]]:
    per_page = max(1, per_page)
    return [items[i:i + per_page] for i in range(0, len(items), per_page)] or [[]]


AVAILABILITY = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
SUPPLY_PHASES = 3
# OCPP ConnectorEnumType of the hardware: an IEC 62196 Type 2 socket (no tethered cable).
CONNECTOR_TYPE = "sType2"
NOMINAL_VOLTAGE_V = 230.0   # per phase, for EVSE.Power's maxLimit

MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")
TRIGGER_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer", "ParkingBayOccupancy",
                  "DataSigned")
TX_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")  # the ones txpoints.py supports


def standard_model(*, heartbeat_s: int, message_timeout_s: float, offline_threshold_s: int,
                   attempts: int, attempt_interval_s: float, backoff_min_s: float, backoff_range_s: float,
                   backoff_repeat: int, ping_s: float, sample_interval_s: int, security_profile: int,
                   identity: str, evse_ids: Iterable[int], connectors: Iterable[tuple[int, int]] = (),
                   evse_max_power_w: float | None = None) -> DeviceModel:
    """The controllers this station implements, with their defaults from configuration.

    `connectors`: the (evseId, connectorId) pairs, each a Connector component; `evse_max_power_w`:
    EVSE.Power's maxLimit (the power the EVSE can deliver at its maximum current)."""
    C = "OCPPCommCtrlr"
    b = "boolean"
    i = "integer"
    vs = [
        Variable(C, "HeartbeatInterval", str(heartbeat_s), i, unit="s", min_limit=1, max_limit=86400),
        Variable(C, "OfflineThreshold", str(offline_threshold_s), i, unit="s", min_limit=0),
        Variable(C, "MessageTimeout", str(int(message_timeout_s)), i, RO, instance="Default", unit="s"),
        Variable(C, "MessageAttempts", str(attempts), i, instance="TransactionEvent", min_limit=1, max_limit=100),
        Variable(C, "MessageAttemptInterval", str(int(attempt_interval_s)), i, instance="TransactionEvent",
                 unit="s", min_limit=0),
        Variable(C, "RetryBackOffWaitMinimum", str(int(backoff_min_s)), i, unit="s", min_limit=0),
        Variable(C, "RetryBackOffRandomRange", str(int(backoff_range_s)), i, unit="s", min_limit=0),
        Variable(C, "RetryBackOffRepeatTimes", str(backoff_repeat), i, min_limit=0, max_limit=20),
        Variable(C, "WebSocketPingInterval", str(int(ping_s)), i, unit="s", min_limit=0),
        Variable(C, "NetworkConfigurationPriority", "0", "SequenceList", RO, values_list=("0",)),
        Variable(C, "NetworkProfileConnectionAttempts", "3", i, RO),
        Variable(C, "ResetRetries", "0", i, RO),
        Variable(C, "UnlockOnEVSideDisconnect", "true", b, RO),
        Variable(C, "FileTransferProtocols", "", "MemberList", RO, values_list=("HTTP", "HTTPS", "FTP", "FTPS")),
        Variable("AuthCtrlr", "AuthorizeRemoteStart", "false", b, RO),
        Variable("AuthCtrlr", "LocalAuthorizeOffline", "true", b),
        Variable("AuthCtrlr", "LocalPreAuthorize", "true", b),
        Variable("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "false", b),
        Variable("AuthCtrlr", "DisableRemoteAuthorization", "false", b),
        # C16 without UI (masterpass.py): a token of this GroupId starts nothing and stops every
        # transaction; empty = no Master Pass group.
        Variable("AuthCtrlr", "MasterPassGroupId", "", "string", validator=check_group_id),
        Variable("AuthCacheCtrlr", "Enabled", "true", b),
        # Reservations (H01-H04) are per EVSE only: ReserveNow without evseId is Rejected.
        Variable("ReservationCtrlr", "Available", "true", b, RO),
        Variable("ReservationCtrlr", "Enabled", "true", b),
        Variable("ReservationCtrlr", "NonEvseSpecific", "true", b, RO),   # evse's Evse1.Reserve
        Variable("AuthCacheCtrlr", "DisablePostAuthorize", "false", b),
        Variable("AuthCacheCtrlr", "LifeTime", "86400", i, unit="s", min_limit=0),
        # evse's ConnectionTimeoutS (Evse1.SetConnectionTimeout keeps it across restarts).
        Variable("TxCtrlr", "EVConnectionTimeOut", "60", i, unit="s", min_limit=1, max_limit=3600, mirrored=True),
        Variable("TxCtrlr", "StopTxOnEVSideDisconnect", "true", b, RO),
        Variable("TxCtrlr", "StopTxOnInvalidId", "true", b),
        # With StopTxOnInvalidId false: Wh a deauthorized transaction may still deliver (invalidid.py).
        Variable("TxCtrlr", "MaxEnergyOnInvalidId", "0", i, unit="Wh", min_limit=0),
        # ParkingBayOccupancy (no bay sensor) and DataSigned (no signed meter) are refused (txpoints.py).
        Variable("TxCtrlr", "TxStartPoint", "EVConnected", "MemberList", values_list=TX_POINTS),
        Variable("TxCtrlr", "TxStopPoint", "EVConnected", "MemberList", values_list=TX_POINTS),
        Variable("SampledDataCtrlr", "TxStartedMeasurands", MEASURANDS[0], "MemberList", values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxUpdatedMeasurands", ",".join(MEASURANDS), "MemberList",
                 values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxEndedMeasurands", MEASURANDS[0], "MemberList", values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxUpdatedInterval", str(sample_interval_s), i, unit="s", min_limit=0),
        Variable("SampledDataCtrlr", "TxEndedInterval", "0", i, unit="s", min_limit=0),
        Variable("AlignedDataCtrlr", "Measurands", MEASURANDS[0], "MemberList", values_list=MEASURANDS),
        Variable("AlignedDataCtrlr", "Interval", "0", i, unit="s", min_limit=0),
        # J01.FR.21 (C-28): true = clock-aligned values only while no transaction runs on the EVSE
        Variable("AlignedDataCtrlr", "SendDuringIdle", "false", b),
        Variable("AlignedDataCtrlr", "TxEndedMeasurands", MEASURANDS[0], "MemberList", values_list=MEASURANDS),
        Variable("AlignedDataCtrlr", "TxEndedInterval", "0", i, unit="s", min_limit=0),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "20", i, RO, instance="GetReport"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "20", i, RO, instance="GetVariables"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "20", i, RO, instance="SetVariables"),
        Variable("DeviceDataCtrlr", "BytesPerMessage", "65000", i, RO, instance="GetReport"),
        Variable("DeviceDataCtrlr", "BytesPerMessage", "65000", i, RO, instance="GetVariables"),
        Variable("DeviceDataCtrlr", "BytesPerMessage", "65000", i, RO, instance="SetVariables"),
        Variable("ClockCtrlr", "DateTime", "", "dateTime", RO, persistent=False),
        Variable("ClockCtrlr", "TimeSource", "Heartbeat", "SequenceList", values_list=("Heartbeat", "NTP")),
        Variable("SecurityCtrlr", "SecurityProfile", str(security_profile), i, RO),
        Variable("SecurityCtrlr", "Identity", identity, "string", RO),
        Variable("SecurityCtrlr", "OrganizationName", "", "string"),
        # Smart charging (smartcharging.py): the limits it enforces, for the CSMS to read.
        Variable("SmartChargingCtrlr", "Enabled", "true", b, RO),
        Variable("SmartChargingCtrlr", "Available", "true", b, RO),
        Variable("SmartChargingCtrlr", "ProfileStackLevel", str(MAX_STACK_LEVEL), i, RO),
        Variable("SmartChargingCtrlr", "RateUnit", "A,W", "MemberList", RO, values_list=("A", "W")),
        Variable("SmartChargingCtrlr", "PeriodsPerSchedule", str(MAX_PERIODS), i, RO),
        Variable("SmartChargingCtrlr", "Entries", "0", i, RO, instance="ChargingProfiles", persistent=False,
                 max_limit=MAX_ENTRIES),
        # Percent (an integer in Part 2 appendix 3.1.16): a change of the applied limit by at least this
        # much during a transaction is reported as TransactionEvent Updated / ChargingRateChanged.
        Variable("SmartChargingCtrlr", "LimitChangeSignificance", "10", i, unit="Percent", min_limit=0,
                 max_limit=100),
        Variable("ChargingStation", "AvailabilityState", "Available", "OptionList", RO, persistent=False,
                 values_list=("Available", "Occupied", "Reserved", "Unavailable", "Faulted")),
        Variable("ChargingStation", "Available", "true", b, RO),
        Variable("ChargingStation", "SupplyPhases", str(SUPPLY_PHASES), i, RO),
    ]
    for eid in evse_ids:
        vs.append(Variable("EVSE", "AvailabilityState", "Available", "OptionList", RO, evse_id=eid,
                           persistent=False, values_list=AVAILABILITY))
        vs.append(Variable("EVSE", "Available", "true", b, RO, evse_id=eid))
        # The power the EVSE delivers now (the meter's Power.Active.Import), at most maxLimit.
        vs.append(Variable("EVSE", "Power", "0", "decimal", RO, evse_id=eid, unit="W", persistent=False,
                           max_limit=evse_max_power_w))
        vs.append(Variable("EVSE", "SupplyPhases", str(SUPPLY_PHASES), i, RO, evse_id=eid))
    for eid, cid in connectors:
        vs.append(Variable("Connector", "AvailabilityState", "Available", "OptionList", RO, evse_id=eid,
                           connector_id=cid, persistent=False, values_list=AVAILABILITY))
        vs.append(Variable("Connector", "Available", "true", b, RO, evse_id=eid, connector_id=cid))
        vs.append(Variable("Connector", "ConnectorType", CONNECTOR_TYPE, "string", RO, evse_id=eid,
                           connector_id=cid))
        vs.append(Variable("Connector", "SupplyPhases", str(SUPPLY_PHASES), i, RO, evse_id=eid, connector_id=cid))
    return DeviceModel(vs)
