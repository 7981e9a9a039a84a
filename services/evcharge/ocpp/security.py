"""OCPP 2.0.1 security (functional block A) for the station: one place that decides.

- Security events (Appendix 1): every event goes to the security log (`<state_dir>/security.log`,
  JSON lines, mode 0600, fsync per line; also the logger `evcharge.ocpp.security` with journal
  field EVCHARGE_SECURITY_EVENT); critical ones are queued as SecurityEventNotification in the
  durable message queue, so they survive a lost connection or a kill and leave in order.
- Connection targets: network connection profiles (slots) in the order of
  OCPPCommCtrlr.NetworkConfigurationPriority; the URL, security profile, basic-auth header and
  TLS context of each attempt. After NetworkProfileConnectionAttempts failures the next slot is
  tried. Once a slot with a higher security profile has connected, that profile is the floor:
  slots below it leave the priority list and can never be set again (A05.FR.06, B09.FR.04).
- BasicAuthPassword (A01): checked, stored in `<state_dir>/basic_auth_password` (0600), then
  the station reconnects with it.
- Certificates (A02/A03, M03-M05): see `certificates.CertificateStore`; here the OCPP answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.config import ConfigError
from ..common.persist import read_json, write_json_atomic
from .certificates import CertificateError, CertificateStore, write_private
from .devicemodel import RW, WO, Variable
from .tls import client_context, failure_event

if TYPE_CHECKING:
    from .service import OcppService

log = logging.getLogger("evcharge.ocpp.security")

# Appendix 1: the events this station raises, and whether they are critical (pushed to the CSMS).
CRITICAL = {
    "FirmwareUpdated": True, "FailedToAuthenticateAtCsms": False, "CsmsFailedToAuthenticate": False,
    "SettingSystemTime": True, "StartupOfTheDevice": True, "ResetOrReboot": True, "SecurityLogWasCleared": True,
    "ReconfigurationOfSecurityParameters": False, "MemoryExhaustion": True, "InvalidMessages": False,
    "AttemptedReplayAttacks": False, "TamperDetectionActivated": True, "InvalidFirmwareSignature": False,
    "InvalidFirmwareSigningCertificate": False, "InvalidCsmsCertificate": True,
    "InvalidChargingStationCertificate": True, "InvalidTLSVersion": True, "InvalidTLSCipherSuite": True,
    "MaintenanceLoginAccepted": True, "MaintenanceLoginFailed": True,
}
PASSWORD_RX = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{16,40}$")  # passwordString (Part 2, 2.1.x primitive types)
MAX_SLOTS = 4            # configurationSlot 0..3; slot 0 is ocpp.yaml's csms_url / security_profile
SECURITY_LOG_MAX = 1024 * 1024
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_password(value: str) -> str | None:
    if not 16 <= len(value) <= 40:
        return f"must be 16..40 characters, got {len(value)}"
    if not PASSWORD_RX.match(value):
        return "only letters, digits and *-_=:+|@. are allowed"
    return None


def check_profile_data(data: dict[str, Any], floor: int) -> str | None:
    """Why a SetNetworkProfile connectionData cannot be stored (None: it can)."""
    if data.get("ocppVersion") != "OCPP20":
        return "only ocppVersion OCPP20 is supported"
    if data.get("ocppTransport") != "JSON":
        return "only ocppTransport JSON is supported"
    profile = data.get("securityProfile")
    if not isinstance(profile, int) or not 1 <= profile <= 3:
        return "securityProfile must be 1, 2 or 3"
    if profile < floor:
        return f"security profile {profile} is lower than the one in use ({floor}): no downgrade"
    url = str(data.get("ocppCsmsUrl", ""))
    if not url.startswith(("ws://", "wss://")):
        return "ocppCsmsUrl must start with ws:// or wss://"
    if profile >= 2 and not url.startswith("wss://"):
        return f"security profile {profile} needs a wss:// URL"
    return None


def parse_priority(value: str) -> list[int] | None:
    try:
        slots = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        return None
    return slots if slots and len(set(slots)) == len(slots) else None


@dataclass
class Target:
    slot: int
    url: str
    profile: int
    headers: dict[str, str]
    ssl: ssl.SSLContext | None


class Security:
    def __init__(self, svc: OcppService) -> None:
        self.svc = svc
        cfg = svc.cfg
        self.dir: Path = svc.state_dir
        self.store = CertificateStore(self.dir / "certs")
        try:
            self.store.seed(cfg.ca_file, cfg.client_cert_file, cfg.client_key_file)
        except (OSError, CertificateError) as e:
            key = "ca_file" if cfg.ca_file and (isinstance(e, CertificateError) or cfg.ca_file in str(e)) \
                else "client_cert_file/client_key_file"
            raise ConfigError(cfg.ca_file or cfg.client_cert_file, key,
                              f"cannot use it: {getattr(e, 'strerror', None) or e}") from None
        self.log_path = self.dir / "security.log"
        self.password_path = self.dir / "basic_auth_password"
        self.state_path = self.dir / "security.json"
        st = read_json(self.state_path) or {}
        self.slots: dict[int, dict[str, Any]] = {int(k): v for k, v in st.get("slots", {}).items()}
        self.slots[0] = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppInterface": "Any",
                         "ocppCsmsUrl": cfg.csms_url, "securityProfile": cfg.security_profile,
                         "messageTimeout": int(cfg.message_timeout_s)}
        # The floor only rises: a configuration file edited to a lower profile does not lower it.
        self.floor = max(int(st.get("floor", 0)), cfg.security_profile)
        self.priority: list[int] = [s for s in st.get("priority", [0]) if s in self.slots
                                    and self.slots[s]["securityProfile"] >= self.floor] or [0]
        self.index = 0            # position in priority of the slot being tried
        self.failures = 0         # failed attempts on that slot
        self.active_slot: int | None = None
        self.last_boot_id = st.get("boot_id")
        self.reported: set[str] = set()   # connection failure events already raised in this outage
        self.signing: asyncio.Task[Any] | None = None
        self.signed_received = asyncio.Event()
        self.last_signed_ok = False

    # --- device model -------------------------------------------------------------------------
    def variables(self) -> list[Variable]:
        return [
            Variable("SecurityCtrlr", "BasicAuthPassword", "", "string", WO, persistent=False,
                     validator=check_password),
            Variable("SecurityCtrlr", "CertSigningWaitMinimum", "60", "integer", RW, unit="s", min_limit=1),
            Variable("SecurityCtrlr", "CertSigningRepeatTimes", "3", "integer", RW, min_limit=0, max_limit=100),
            Variable("SecurityCtrlr", "CertificateEntries", "0", "integer", "ReadOnly", persistent=False),
            Variable("SecurityCtrlr", "MaxCertificateChainSize", "5600", "integer", "ReadOnly"),
            Variable("OCPPCommCtrlr", "ActiveNetworkProfile", "0", "integer", "ReadOnly", persistent=False),
        ]

    def attach(self) -> None:
        """Hook the device model (after the service built it)."""
        dm = self.svc.dm
        for v in self.variables():
            dm.add(v)
        prio = dm.find_local("OCPPCommCtrlr", "NetworkConfigurationPriority")
        prio.mutability = RW
        prio.data_type = "SequenceList"
        prio.values_list = tuple(str(i) for i in range(MAX_SLOTS))
        prio.validator = self.check_priority
        prio.persistent = False   # kept in security.json with the slots
        prio.value = prio.default = ",".join(map(str, self.priority))
        dm.on_change.append(self.on_variable_changed)
        self._publish_vars()

    def _publish_vars(self) -> None:
        dm = self.svc.dm
        dm.set_local("SecurityCtrlr", "SecurityProfile", str(self.current_profile()))
        dm.set_local("OCPPCommCtrlr", "NetworkConfigurationPriority", ",".join(map(str, self.priority)))
        dm.set_local("SecurityCtrlr", "CertificateEntries", str(len(self.store.roots())))
        if self.active_slot is not None:
            dm.set_local("OCPPCommCtrlr", "ActiveNetworkProfile", str(self.active_slot))

    def check_priority(self, value: str) -> str | None:
        slots = parse_priority(value)
        if slots is None:
            return "expected a comma separated list of configuration slots"
        for s in slots:
            data = self.slots.get(s)
            if data is None:
                return f"configuration slot {s} is empty"
            profile = data["securityProfile"]
            if profile < self.floor:
                return f"slot {s} has security profile {profile}, lower than the one in use ({self.floor})"
            if profile >= 2 and not self.store.roots("CSMSRootCertificate"):
                return f"slot {s} needs security profile {profile}: no CSMSRootCertificate installed"  # A05.FR.02
            if profile == 3 and not self.store.has_station_certificate():
                return f"slot {s} needs security profile 3: no valid ChargingStationCertificate"  # A05.FR.03
        return None

    def on_variable_changed(self, v: Variable) -> None:
        if (v.component, v.name) == ("SecurityCtrlr", "BasicAuthPassword"):
            write_private(self.password_path, v.value.encode())
            v.value = ""   # write-only: nothing to keep in memory beyond the file
            self.event("ReconfigurationOfSecurityParameters", "BasicAuthPassword changed")
            self.svc.password = self.password()
            self._reconnect_soon()   # A01.FR.11/12: the next connection uses the new password
        elif (v.component, v.name) == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            self.priority = parse_priority(v.value) or self.priority
            self.index = self.failures = 0
            self._save()
            self.event("ReconfigurationOfSecurityParameters", f"NetworkConfigurationPriority {v.value}")
            if self.active_slot != self.priority[0]:
                self._reconnect_soon()

    def _reconnect_soon(self) -> None:
        # After the SetVariablesResponse went out (the handler runs before the answer is sent).
        asyncio.get_running_loop().call_later(0.2, self.svc.reconnect)

    # --- persistence --------------------------------------------------------------------------
    def _save(self) -> None:
        write_json_atomic(self.state_path, {"slots": {str(k): v for k, v in self.slots.items() if k != 0},
                                            "priority": self.priority, "floor": self.floor,
                                            "boot_id": self.last_boot_id})

    def password(self) -> str | None:
        try:
            pw = self.password_path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return pw or None

    # --- security events ----------------------------------------------------------------------
    def event(self, kind: str, tech_info: str = "") -> bool:
        """Log a security event; queue it for the CSMS if critical. True if queued."""
        critical = CRITICAL.get(kind, True)
        ts = utc_now()
        entry = {"timestamp": ts, "type": kind, "critical": critical}
        if tech_info:
            entry["techInfo"] = tech_info[:255]
        self._append_log(json.dumps(entry, separators=(",", ":")))
        log.warning("security event %s%s", kind, f": {tech_info}" if tech_info else "",
                    extra={"EVCHARGE_SECURITY_EVENT": kind})
        if not critical:
            return False
        payload: dict[str, Any] = {"type": kind, "timestamp": ts}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        self.svc.queue.enqueue("SecurityEventNotification", payload)
        self.svc._wake_sender.set()
        self.svc.publish()
        return True

    def _append_log(self, line: str) -> None:
        try:
            if self.log_path.exists() and self.log_path.stat().st_size > SECURITY_LOG_MAX:
                os.replace(self.log_path, self.log_path.with_name("security.log.1"))
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            log.error("cannot write the security log %s: %s", self.log_path, e)

    def startup(self) -> None:
        """StartupOfTheDevice once per machine boot (a restart of this service is not one)."""
        try:
            boot_id = BOOT_ID.read_text().strip()
        except OSError:
            boot_id = None
        if boot_id is None or boot_id != self.last_boot_id:
            self.last_boot_id = boot_id
            self._save()
            self.event("StartupOfTheDevice", f"firmware {self.svc.cfg.station.firmware_version}")

    # --- connection ---------------------------------------------------------------------------
    def current_profile(self) -> int:
        slot = self.active_slot if self.active_slot is not None else self.priority[min(self.index,
                                                                                      len(self.priority) - 1)]
        return int(self.slots[slot]["securityProfile"])

    def url(self) -> str:
        data = self.slots[self.priority[self.index % len(self.priority)]]
        return f"{str(data['ocppCsmsUrl']).rstrip('/')}/{self.svc.cfg.station_id}"

    def target(self) -> Target:
        slot = self.priority[self.index % len(self.priority)]
        data = self.slots[slot]
        profile = int(data["securityProfile"])
        if profile < self.floor:   # only when ocpp.yaml was edited to a lower profile after an upgrade
            raise PermissionError(f"network profile slot {slot} has security profile {profile}, below {self.floor} "
                                  f"already in use: no downgrade (reset {self.state_path} to allow it)")
        url = self.url()
        headers: dict[str, str] = {}
        pw = self.svc.password
        if profile in (1, 2) and pw:
            cred = base64.b64encode(f"{self.svc.cfg.station_id}:{pw}".encode()).decode()
            headers["Authorization"] = f"Basic {cred}"
        ctx = None
        if url.startswith("wss://"):
            roots = self.store.roots_pem("CSMSRootCertificate")
            if profile == 3:
                ctx = client_context(roots, cert_file=self.store.station_cert_path, key_file=self.store.station_key_path)
            else:
                ctx = client_context(roots)
        return Target(slot, url, profile, headers, ctx)

    def connect_failed(self, exc: BaseException) -> None:
        found = failure_event(exc)
        if found and found[0] not in self.reported:
            self.reported.add(found[0])   # once per outage: a retry loop must not flood the queue
            self.event(found[0], found[1])
        self.failures += 1
        attempts = max(1, self.svc.dm.get_int("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"))
        if self.failures >= attempts:
            self.failures = 0
            if self.store.restore_previous():
                log.warning("the new charging station certificate did not connect: back to the previous one")
            elif len(self.priority) > 1:
                self.index = (self.index + 1) % len(self.priority)
                log.warning("network profile slot %d: giving up after %d attempts; trying slot %d",
                            self.priority[self.index - 1], attempts, self.priority[self.index])

    def connected(self, target: Target) -> None:
        self.failures = 0
        self.reported.clear()
        if self.active_slot is not None and self.active_slot != target.slot:
            self.svc.boot.accepted_content = None   # another CSMS endpoint: boot there (B09/B10)
        self.active_slot = target.slot
        self.store.forget_previous()
        if target.profile > self.floor:
            old = self.floor
            self.floor = target.profile
            self.priority = [s for s in self.priority if self.slots[s]["securityProfile"] >= self.floor]
            self.index = self.priority.index(target.slot)
            self.event("ReconfigurationOfSecurityParameters", f"security profile {old} -> {self.floor}")
        self._save()
        self._publish_vars()

    # --- SetNetworkProfile --------------------------------------------------------------------
    def set_network_profile(self, slot: int, data: dict[str, Any]) -> tuple[str, str | None]:
        if not 0 <= slot < MAX_SLOTS:
            return "Rejected", f"configurationSlot must be 0..{MAX_SLOTS - 1}"
        if slot == self.active_slot:
            return "Rejected", "the slot is in use"
        why = check_profile_data(data, self.floor)
        if why:
            log.info("SetNetworkProfile slot %d rejected: %s", slot, why)
            return "Rejected", why
        self.slots[slot] = data
        self._save()
        self.event("ReconfigurationOfSecurityParameters", f"network profile slot {slot} set")
        return "Accepted", None

    # --- certificates -------------------------------------------------------------------------
    def trigger_sign(self) -> str:
        return "Accepted"   # a key is made on the device, so a CSR can always be sent

    async def sign(self) -> None:
        """SignCertificate, then resend while no CertificateSigned arrives (A02.FR.17/18)."""
        if self.signing is not None and not self.signing.done():
            self.signing.cancel()
        self.signing = asyncio.current_task()
        self.signed_received.clear()
        resends = 0
        while True:
            if not await self._send_csr():
                return
            repeat = self.svc.dm.get_int("SecurityCtrlr", "CertSigningRepeatTimes")
            wait = self.svc.dm.get_int("SecurityCtrlr", "CertSigningWaitMinimum") * (2 ** resends)
            try:
                await asyncio.wait_for(self.signed_received.wait(), wait)
                return
            except TimeoutError:
                pass
            # TC_A_23_CS: with CertSigningRepeatTimes 1 the OCTT expects resends after W and 2W.
            if resends > repeat:
                log.warning("no CertificateSigned after %d SignCertificate requests: giving up", resends + 1)
                return
            resends += 1

    async def _send_csr(self) -> bool:
        cfg = self.svc.cfg
        cn = cfg.station.serial_number or cfg.station_id
        csr = self.store.new_csr(cn, self.svc.dm.get("SecurityCtrlr", "OrganizationName"))
        try:
            resp = await self.svc.call_csms("SignCertificate", {"csr": csr,
                                                                "certificateType": "ChargingStationCertificate"})
        except Exception as e:  # noqa: BLE001 - offline, timeout or CALLERROR: A03 tries again later
            log.warning("SignCertificate failed: %s", e)
            return False
        log.info("SignCertificate: %s", resp.status)
        return resp.status == "Accepted"

    def certificate_signed(self, chain_pem: str, use: str | None) -> tuple[str, str | None]:
        self.last_signed_ok = False
        if (use or "ChargingStationCertificate") != "ChargingStationCertificate":
            return "Rejected", "only ChargingStationCertificate is handled here"
        roots = self.store.root_certs("CSMSRootCertificate", "ManufacturerRootCertificate")
        try:
            self.store.accept_signed(chain_pem, roots)
        except CertificateError as e:
            log.warning("CertificateSigned rejected: %s", e)
            self.event("InvalidChargingStationCertificate", str(e))
            return "Rejected", str(e)
        self.signed_received.set()
        self.last_signed_ok = True
        self.event("ReconfigurationOfSecurityParameters", "new ChargingStationCertificate installed")
        return "Accepted", None

    def after_certificate_signed(self) -> None:
        # A02.FR.09: the new certificate is used from the next connection; with profile 3 that is now.
        if self.last_signed_ok and self.current_profile() == 3:
            self._reconnect_soon()

    def install(self, use: str, pem: str) -> tuple[str, str | None]:
        try:
            self.store.install_root(use, pem)
        except CertificateError as e:
            log.warning("InstallCertificate %s rejected: %s", use, e)
            return "Rejected", str(e)
        except OSError as e:
            return "Failed", str(e)
        self._publish_vars()
        self.event("ReconfigurationOfSecurityParameters", f"{use} installed")
        return "Accepted", None

    def installed_ids(self, uses: list[str] | None) -> list[dict[str, Any]]:
        return self.store.installed_ids(uses)

    def delete(self, hash_data: dict[str, Any]) -> tuple[str, str | None]:
        if self.store.is_station_certificate(hash_data):
            return "Failed", "the charging station certificate cannot be deleted"  # M04.FR.06
        found = self.store.find(hash_data)
        if found is None:
            return "NotFound", None
        if found.use == "CSMSRootCertificate" and self.floor >= 2 and len(self.store.roots(found.use)) == 1:
            return "Failed", "the only CSMS root certificate is in use for the connection"
        try:
            self.store.delete(found)
        except OSError as e:
            return "Failed", str(e)
        self._publish_vars()
        self.event("ReconfigurationOfSecurityParameters", f"{found.use} deleted")
        return "Accepted", None



__all__ = ["CRITICAL", "Security", "Target", "check_password", "check_profile_data", "parse_priority"]
