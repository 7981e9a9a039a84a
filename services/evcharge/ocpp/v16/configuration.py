"""OCPP 1.6 configuration keys (chapter 9) with GetConfiguration / ChangeConfiguration (pure).

Only keys whose value this station honours are read-write; keys that describe fixed behaviour
of evcharge are read-only with the value that is true (LocalPreAuthorize: the evse service
checks its local list first, always). Values the CSMS changed are kept as overrides (the
adapter persists `overrides()`); defaults come from code and `ocpp.yaml`.

ChangeConfiguration answers (5.3): Accepted, Rejected (read-only key or a value that does not
parse / is out of range), RebootRequired (stored, takes effect at the next start), NotSupported
(a key this station does not know).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from .locallist import LOCAL_AUTH_LIST_MAX_LENGTH, SEND_LOCAL_LIST_MAX_LENGTH

MEASURANDS = {"Energy.Active.Import.Register", "Power.Active.Import"}  # what the meter service provides
FEATURE_PROFILES = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
GET_CONFIGURATION_MAX_KEYS = 50
CSL_MAX_ITEMS = 10
CERTIFICATE_STORE_MAX_LENGTH = 20          # roots of both types together (M05.FR.03)
CERTIFICATE_SIGNED_MAX_CHAIN_SIZE = 10000  # the whitepaper's upper limit for the key (7.3)


class Kind(enum.Enum):
    BOOL = "bool"
    INT = "int"
    CSL = "csl"        # comma separated list
    STR = "str"


@dataclass
class Key:
    name: str
    kind: Kind
    value: str
    readonly: bool = False
    reboot: bool = False                      # a change takes effect only after a restart
    minimum: int = 0
    maximum: int = 2**31 - 1
    allowed: frozenset[str] | None = None     # CSL items (measurands) this station supports
    write_only: bool = False                  # never read back (AuthorizationKey); the adapter stores it
    min_length: int = 0
    mirrored: bool = False                    # another service keeps the value; not stored here

    def check(self, value: str) -> str | None:
        """The normalised value, or None when it is not valid for this key."""
        if self.kind is Kind.BOOL:
            v = value.strip().lower()
            return v if v in ("true", "false") else None
        if self.kind is Kind.INT:
            try:
                n = int(value.strip())
            except ValueError:
                return None
            return str(n) if self.minimum <= n <= self.maximum else None
        if self.kind is Kind.CSL:
            items = [i.strip() for i in value.split(",") if i.strip()]
            if len(items) > CSL_MAX_ITEMS or (self.allowed is not None and not set(items) <= self.allowed):
                return None
            return ",".join(items)
        return value if self.min_length <= len(value) <= 500 and value.isprintable() else None


def standard_keys(*, heartbeat_s: int, sample_interval_s: int, connectors: int, attempts: int,
                  retry_interval_s: int, ping_s: int, security_profile: int) -> list[Key]:
    m = frozenset(MEASURANDS)
    return [
        # Core profile (9.1)
        Key("AllowOfflineTxForUnknownId", Kind.BOOL, "false"),
        Key("AuthorizationCacheEnabled", Kind.BOOL, "true"),
        Key("AuthorizeRemoteTxRequests", Kind.BOOL, "false", readonly=True),  # remote starts are not re-authorized
        Key("ClockAlignedDataInterval", Kind.INT, "0", maximum=86400),
        # evse's ConnectionTimeoutS: read from evse at start, set there (Evse1.SetConnectionTimeout)
        Key("ConnectionTimeOut", Kind.INT, "60", minimum=1, maximum=3600, mirrored=True),
        Key("ConnectorPhaseRotation", Kind.CSL, "NotApplicable"),
        Key("GetConfigurationMaxKeys", Kind.INT, str(GET_CONFIGURATION_MAX_KEYS), readonly=True),
        Key("HeartbeatInterval", Kind.INT, str(heartbeat_s), minimum=1, maximum=86400),
        Key("LocalAuthorizeOffline", Kind.BOOL, "true"),
        Key("LocalPreAuthorize", Kind.BOOL, "true", readonly=True),
        Key("MeterValuesAlignedData", Kind.CSL, "Energy.Active.Import.Register", allowed=m),
        Key("MeterValuesAlignedDataMaxLength", Kind.INT, str(len(m)), readonly=True),
        Key("MeterValuesSampledData", Kind.CSL, "Energy.Active.Import.Register,Power.Active.Import", allowed=m),
        Key("MeterValuesSampledDataMaxLength", Kind.INT, str(len(m)), readonly=True),
        Key("MeterValueSampleInterval", Kind.INT, str(sample_interval_s), maximum=86400),
        Key("NumberOfConnectors", Kind.INT, str(connectors), readonly=True),
        Key("ResetRetries", Kind.INT, "1", maximum=10),
        Key("StopTransactionOnEVSideDisconnect", Kind.BOOL, "true", readonly=True),
        Key("StopTransactionOnInvalidId", Kind.BOOL, "true"),
        Key("StopTxnAlignedData", Kind.CSL, "", allowed=m),
        Key("StopTxnSampledData", Kind.CSL, "", allowed=m),
        Key("SupportedFeatureProfiles", Kind.CSL, FEATURE_PROFILES, readonly=True),
        # section 8: what GetDiagnostics / GetLog upload to and UpdateFirmware downloads from
        Key("SupportedFileTransferProtocols", Kind.CSL, "FTP,FTPS,HTTP,HTTPS", readonly=True),
        # Reservation profile: per connector only, ReserveNow for connector 0 is Rejected.
        Key("ReserveConnectorZeroSupported", Kind.BOOL, "false", readonly=True),
        Key("TransactionMessageAttempts", Kind.INT, str(attempts), minimum=1, maximum=100),
        Key("TransactionMessageRetryInterval", Kind.INT, str(retry_interval_s), maximum=3600),
        Key("UnlockConnectorOnEVSideDisconnect", Kind.BOOL, "true", readonly=True),
        Key("WebSocketPingInterval", Kind.INT, str(ping_s), maximum=3600, reboot=True),
        # Local Auth List Management profile (9.2): the auth service keeps the list (v16.locallist)
        Key("LocalAuthListEnabled", Kind.BOOL, "true"),
        Key("LocalAuthListMaxLength", Kind.INT, str(LOCAL_AUTH_LIST_MAX_LENGTH), readonly=True),
        Key("SendLocalListMaxLength", Kind.INT, str(SEND_LOCAL_LIST_MAX_LENGTH), readonly=True),
        # Smart Charging profile (9.4)
        Key("ChargeProfileMaxStackLevel", Kind.INT, "10", readonly=True),
        Key("ChargingScheduleAllowedChargingRateUnit", Kind.CSL, "Current", readonly=True),
        Key("ChargingScheduleMaxPeriods", Kind.INT, "24", readonly=True),
        Key("MaxChargingProfilesInstalled", Kind.INT, "20", readonly=True),
        # Security extension (whitepaper edition 2): starts from ocpp.yaml; ChangeConfiguration goes
        # to v16.security (only upward, with its prerequisites)
        Key("SecurityProfile", Kind.INT, str(security_profile), maximum=3),
        # A01: the basic-auth password, 16..40 characters, write-only (stored apart, never reported)
        Key("AuthorizationKey", Kind.STR, "", write_only=True, min_length=16),
        # certificate management (whitepaper 7.3-7.5); CpoName goes in the CSR (A02.FR.13)
        Key("CpoName", Kind.STR, ""),
        Key("CertificateStoreMaxLength", Kind.INT, str(CERTIFICATE_STORE_MAX_LENGTH), readonly=True),
        Key("CertificateSignedMaxChainSize", Kind.INT, str(CERTIFICATE_SIGNED_MAX_CHAIN_SIZE), readonly=True),
    ]


@dataclass
class Configuration:
    keys: dict[str, Key]
    on_change: list[Callable[[Key], None]] = field(default_factory=list)
    _overrides: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, keys: list[Key]) -> Configuration:
        return cls({k.name: k for k in keys})

    # --- persistence ------------------------------------------------------------------------
    def overrides(self) -> dict[str, str]:
        return {k: v for k, v in self._overrides.items() if not self.keys[k].mirrored}

    def load(self, data: dict[str, str] | None) -> None:
        """Apply stored CSMS changes; a stored value that no longer fits its key is ignored."""
        for name, value in (data or {}).items():
            key = self.keys.get(name)
            if key is None or key.readonly or key.write_only or key.mirrored:
                continue
            v = key.check(str(value))
            if v is not None:
                key.value = v
                self._overrides[name] = v

    # --- typed access for the adapter -------------------------------------------------------
    def get(self, name: str) -> str:
        return self.keys[name].value

    def get_int(self, name: str) -> int:
        return int(self.keys[name].value)

    def get_bool(self, name: str) -> bool:
        return self.keys[name].value == "true"

    def get_list(self, name: str) -> list[str]:
        return [i for i in self.keys[name].value.split(",") if i]

    def set_local(self, name: str, value: str) -> None:
        """A value the station itself learnt (e.g. HeartbeatInterval from the BootNotification answer)."""
        key = self.keys[name]
        v = key.check(value)
        if v is not None and v != key.value:
            key.value = v
            if not key.readonly:
                self._overrides[name] = v

    # --- GetConfiguration / ChangeConfiguration ---------------------------------------------
    def get_configuration(self, names: list[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """(configurationKey entries, unknownKey) for GetConfiguration.req (5.8)."""
        wanted = list(self.keys) if not names else names
        known = [{"key": k.name, "readonly": k.readonly} if k.write_only else
                 {"key": k.name, "readonly": k.readonly, "value": k.value}
                 for n in wanted if (k := self.keys.get(n)) is not None]
        unknown = [n for n in wanted if n not in self.keys]
        return known, unknown

    def change(self, name: str, value: str) -> str:
        key = self.keys.get(name)
        if key is None:
            return "NotSupported"
        if key.readonly:
            return "Rejected"
        v = key.check(value)
        if v is None or (key.write_only and len(v) > 40):
            return "Rejected"
        if key.write_only:  # the caller stores it; nothing here keeps or reports it
            return "Accepted"
        if v != key.value:
            key.value = v
            self._overrides[name] = v
            if not key.reboot:
                for cb in self.on_change:
                    cb(key)
        return "RebootRequired" if key.reboot else "Accepted"
