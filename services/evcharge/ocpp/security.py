"""OCPP 2.0.1 security (functional block A) for the station: one place that decides.

- Security events (Appendix 1): every event goes to the security log (`<state_dir>/security.log`,
  JSON lines, mode 0600, fsync per line; also the logger `evcharge.ocpp.security` with journal
  field EVCHARGE_SECURITY_EVENT); critical ones are queued as SecurityEventNotification in the
  durable message queue, so they survive a lost connection or a kill and leave in order.
- Connections: the basic-auth header and TLS context of each attempt for the network profile
  slot `netprofile` chose. Once a slot with a higher security profile has connected, that
  profile is the floor (kept in `security.json`): slots below it leave
  OCPPCommCtrlr.NetworkConfigurationPriority and can never be set or used again (A05, B09.FR.04);
  a priority naming a profile-2/3 slot needs the certificates for it (A05.FR.02/03).
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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.persist import read_json, write_json_atomic, write_private
from .devicemodel import RW, WO, Variable
from .netprofile import Target
from .netprofile import target as network_target
from .renewal import RenewalTimer
from .tls import client_context, failure_event

if TYPE_CHECKING:
    from .certificates import CertificateStore
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


def parse_priority(value: str) -> list[int] | None:
    try:
        slots = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        return None
    return slots if slots and len(set(slots)) == len(slots) else None


class Security:
    def __init__(self, svc: OcppService) -> None:
        self.svc = svc
        cfg = svc.cfg
        self.dir: Path = svc.state_dir
        # The certificate store needs `cryptography` (~10 MiB of the service's memory); it is loaded
        # when certificates are configured, installed or asked for, never for profiles 0/1 without.
        self._store: CertificateStore | None = None
        if cfg.ca_file or cfg.client_cert_file or any((self.dir / "certs").glob("*/*.pem")):
            _ = self.store   # a bad ca_file / client certificate is a configuration error at start
        self.log_path = self.dir / "security.log"
        self.password_path = self.dir / "basic_auth_password"
        self.state_path = self.dir / "security.json"
        st = read_json(self.state_path) or {}
        # The floor only rises: a configuration file edited to a lower profile does not lower it.
        self.floor = max(int(st.get("floor", 0)), cfg.security_profile)
        self.failures = 0         # failed attempts since the last connection (certificate fallback)
        self.connected_slot: int | None = None
        self.last_boot_id = st.get("boot_id")
        self.reported: set[str] = set()   # connection failure events already raised in this outage
        self.signing: asyncio.Task[Any] | None = None
        self.signed_received = asyncio.Event()
        self.last_signed_ok = False
        self.renewal = RenewalTimer(cfg.certificate_renew_days)

    # --- device model -------------------------------------------------------------------------
    def variables(self) -> list[Variable]:
        return [
            Variable("SecurityCtrlr", "BasicAuthPassword", "", "string", WO, persistent=False,
                     validator=check_password),
            Variable("SecurityCtrlr", "CertSigningWaitMinimum", "60", "integer", RW, unit="s", min_limit=1),
            Variable("SecurityCtrlr", "CertSigningRepeatTimes", "3", "integer", RW, min_limit=0, max_limit=100),
            Variable("SecurityCtrlr", "CertificateEntries", "0", "integer", "ReadOnly", persistent=False),
            Variable("SecurityCtrlr", "MaxCertificateChainSize", "5600", "integer", "ReadOnly"),
        ]

    def attach(self) -> None:
        """Hook the device model (after the service built it)."""
        dm = self.svc.dm
        dm.add(self.variables())
        self.prio = dm.find_local("OCPPCommCtrlr", "NetworkConfigurationPriority")
        self.prio.validator = self.check_priority
        dm.on_change.append(self.on_variable_changed)
        self._publish_vars()

    @property
    def store(self) -> CertificateStore:
        if self._store is None:
            from .certificates import open_store
            self._store = open_store(self.dir / "certs", self.svc.cfg)
        return self._store

    def _publish_vars(self) -> None:
        dm = self.svc.dm
        dm.set_local("SecurityCtrlr", "SecurityProfile", str(self.current_profile()))
        entries = len(self.store.roots()) if self._store is not None else 0
        dm.set_local("SecurityCtrlr", "CertificateEntries", str(entries))

    def slot_profile(self, slot: int) -> int | None:
        data = self.svc.network.slots.get(slot)
        if data is None:
            return self.svc.cfg.security_profile if slot == 0 else None
        return int(data["securityProfile"])

    def check_priority(self, value: str) -> str | None:
        slots = parse_priority(value)
        if slots is None:
            return "expected a comma separated list of configuration slots"
        for s in slots:
            profile = self.slot_profile(s)
            if profile is None:
                return f"configuration slot {s} is empty"
            if profile < self.floor:
                return f"slot {s} has security profile {profile}, lower than the one in use ({self.floor})"
            if profile >= 2 and not self.store.roots("CSMSRootCertificate"):
                return f"slot {s} needs security profile {profile}: no CSMSRootCertificate installed"  # A05.FR.02
            if profile == 3 and not self.store.has_station_certificate():
                return f"slot {s} needs security profile 3: no valid ChargingStationCertificate"  # A05.FR.03
        # A05 (TC_A_19): a new security profile takes effect after a reset: say so. Other priority
        # changes (B10) also apply from the next connection, answered Accepted as before.
        # Profile 0 (tests, SIL) to 1 is not a security upgrade.
        self.prio.reboot_required = (self.slot_profile(slots[0]) or 0) > max(self.current_profile(), 1)
        return None

    def on_variable_changed(self, v: Variable) -> None:
        if (v.component, v.name) == ("SecurityCtrlr", "BasicAuthPassword"):
            write_private(self.password_path, v.value.encode())
            v.value = ""   # write-only: nothing to keep in memory beyond the file
            self.event("ReconfigurationOfSecurityParameters", "BasicAuthPassword changed")
            self.svc.password = self.password()
            self._reconnect_soon()   # A01.FR.11/12: the next connection uses the new password
        elif (v.component, v.name) == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            self.event("ReconfigurationOfSecurityParameters", f"NetworkConfigurationPriority {v.value}")

    def _reconnect_soon(self) -> None:
        # After the SetVariablesResponse went out (the handler runs before the answer is sent).
        asyncio.get_running_loop().call_later(0.2, self.svc.reconnect)

    # --- persistence --------------------------------------------------------------------------
    def _save(self) -> None:
        write_json_atomic(self.state_path, {"floor": self.floor, "boot_id": self.last_boot_id})

    def password(self) -> str | None:
        try:
            pw = self.password_path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return pw or None

    # --- security events ----------------------------------------------------------------------
    def event(self, kind: str, tech_info: str = "", *, send: bool = False) -> bool:
        """Log a security event; queue it for the CSMS if critical, or if `send` (a use case that
        requires the notification of a non-critical event, e.g. L01.FR.02). True if queued."""
        critical = CRITICAL.get(kind, True)
        payload = self.record(kind, tech_info)
        if not (critical or send):
            return False
        self.svc.queue.enqueue("SecurityEventNotification", payload)
        self.svc._wake_sender.set()
        self.svc.publish()
        return True

    def record(self, kind: str, tech_info: str = "") -> dict[str, Any]:
        """Write the event to the security log and the journal; its SecurityEventNotification
        payload, for a caller that queues it together with other messages (one transaction)."""
        ts = utc_now()
        entry = {"timestamp": ts, "type": kind, "critical": CRITICAL.get(kind, True)}
        if tech_info:
            entry["techInfo"] = tech_info[:255]
        self._append_log(json.dumps(entry, separators=(",", ":")))
        log.warning("security event %s%s", kind, f": {tech_info}" if tech_info else "",
                    extra={"EVCHARGE_SECURITY_EVENT": kind})
        payload: dict[str, Any] = {"type": kind, "timestamp": ts}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        return payload

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
        """StartupOfTheDevice once per machine boot (a restart of this service is not one);
        ResetOrReboot after a Reset the CSMS asked for."""
        if self.svc.boot_reason not in ("PowerUp", "ApplicationReset"):
            self.event("ResetOrReboot", f"boot reason {self.svc.boot_reason}")
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
        return self.slot_profile(self.svc.active_slot) or self.svc.cfg.security_profile

    def url(self) -> str:
        cfg = self.svc.cfg
        return network_target(self.svc.active_slot, self.svc.network, station_id=cfg.station_id,
                              default_url=cfg.url, default_profile=cfg.security_profile,
                              default_timeout_s=cfg.message_timeout_s).url

    def transport(self, target: Target) -> tuple[dict[str, str], ssl.SSLContext | None]:
        """Authorization header and TLS context for one connection attempt to `target`."""
        profile = target.security_profile
        if profile < self.floor:   # only when ocpp.yaml was edited to a lower profile after an upgrade
            raise PermissionError(f"network profile slot {target.slot} has security profile {profile}, below "
                                  f"{self.floor} already in use: no downgrade (remove {self.state_path} to allow it)")
        headers: dict[str, str] = {}
        pw = self.svc.password
        if profile in (1, 2) and pw:
            cred = base64.b64encode(f"{self.svc.cfg.station_id}:{pw}".encode()).decode()
            headers["Authorization"] = f"Basic {cred}"
        ctx = None
        if target.url.startswith("wss://"):
            roots = self.store.roots_pem("CSMSRootCertificate")
            if profile == 3:
                ctx = client_context(roots, cert_file=self.store.station_cert_path, key_file=self.store.station_key_path)
            else:
                ctx = client_context(roots)
        return headers, ctx

    def connect_failed(self, exc: BaseException) -> None:
        found = failure_event(exc)
        if found and found[0] not in self.reported:
            self.reported.add(found[0])   # once per outage: a retry loop must not flood the queue
            self.event(found[0], found[1])
        self.failures += 1
        attempts = max(1, self.svc.dm.get_int("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"))
        # A store not loaded yet holds no previous certificate (its files would have loaded it at
        # start, see __init__): no need to load `cryptography` on every failed connection.
        if self.failures >= attempts and self._store is not None and self._store.restore_previous():
            self.failures = 0
            log.warning("the new charging station certificate did not connect: back to the previous one")

    def connected(self, target: Target) -> None:
        self.failures = 0
        self.reported.clear()
        self.connected_slot = target.slot
        if self._store is not None:   # not loaded: nothing to forget (see connect_failed)
            self._store.forget_previous()
        # Security profile 0 (tests and SIL only, not an OCPP profile) leaves the floor off.
        if self.floor >= 1 and target.security_profile > self.floor:
            old, self.floor = self.floor, target.security_profile
            self._save()
            order = parse_priority(self.prio.value) or [target.slot]
            kept = [s for s in order if (self.slot_profile(s) or 0) >= self.floor] or [target.slot]
            self.prio.value = ",".join(map(str, kept))   # A05.FR.06: lower slots are gone
            self.svc._save_dm()
            self.event("ReconfigurationOfSecurityParameters", f"security profile {old} -> {self.floor}")
        self._publish_vars()

    # --- certificates -------------------------------------------------------------------------
    def trigger_sign(self) -> str:
        return "Accepted"   # a key is made on the device, so a CSR can always be sent

    def renewal_due(self, now_mono: float) -> bool:
        """A03 (renewal.py): time to ask for a new station certificate; not while a request runs."""
        expires = self.renewal.due(self._store, now_mono, busy=self.signing is not None and not self.signing.done())
        if expires is None:
            return False
        log.info("the station certificate expires on %s: asking the CSMS for a new one (A03)", expires.isoformat())
        return True

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
        from .certificates import CertificateError
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
        from .certificates import CertificateError
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



__all__ = ["CRITICAL", "Security", "check_password", "parse_priority"]
