"""OCPP 1.6J security whitepaper (edition 2) certificate management on the shared certificate store.

The store (`ocpp.certificates.CertificateStore`, the one 2.0.1 uses) keeps roots by their 2.0.1
use name; 1.6 calls the CSMS root `CentralSystemRootCertificate`. A station runs one protocol at
a time, so both share `<state_dir>/certs`.

Use cases: A02/A03 (ExtendedTriggerMessage SignChargePointCertificate -> SignCertificate with a
CSR whose key never leaves the device -> CertificateSigned), M03 GetInstalledCertificateIds,
M04 DeleteCertificate, M05 InstallCertificate. AdditionalRootCertificateCheck (M05.FR.08-10) is
not implemented, so the key is not reported.

Security profiles (whitepaper 2): 1 basic auth, 2 TLS (server checked against the installed
CentralSystemRootCertificates) + basic auth, 3 mutual TLS with the charge point certificate.
The profile in use is kept in `<state_dir>/security16.json`; it only rises (ChangeConfiguration
SecurityProfile, 7.6): a lower value is Rejected, and an `ocpp.yaml` edited to a lower profile
does not lower it. The URL scheme follows the profile (wss:// from profile 2 on).
"""

from __future__ import annotations

import base64
import logging
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...common.persist import read_json, write_json_atomic
from ..renewal import RenewalTimer
from ..tls import client_context, failure_event

if TYPE_CHECKING:
    from ..certificates import CertificateStore
    from .service import Ocpp16Service

log = logging.getLogger("evcharge.ocpp.security")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

USES_16_TO_201 = {"CentralSystemRootCertificate": "CSMSRootCertificate",
                  "ManufacturerRootCertificate": "ManufacturerRootCertificate"}
USES_201_TO_16 = {v: k for k, v in USES_16_TO_201.items()}
# 2.0.1 event names from `tls.failure_event` as the whitepaper's chapter 8 spells them
EVENT_NAMES_16 = {"InvalidCsmsCertificate": "InvalidCentralSystemCertificate",
                  "FailedToAuthenticateAtCsms": "FailedToAuthenticateAtCentralSystem"}
FALLBACK_AFTER_FAILURES = 3   # connection attempts with a new charge point certificate before going back


class Security16:
    def __init__(self, svc: Ocpp16Service) -> None:
        self.svc = svc
        self._store: CertificateStore | None = None
        cfg = svc.cfg
        if cfg.ca_file or cfg.client_cert_file or any((svc.state_dir / "certs").glob("*/*.pem")):
            _ = self.store   # a bad ca_file / client certificate is a configuration error at start
        self.last_signed_ok = False
        self.renewal = RenewalTimer(cfg.certificate_renew_days)
        self.state_path = svc.state_dir / "security16.json"
        st = read_json(self.state_path) or {}
        self.profile = max(int(st.get("profile", 0)), cfg.security_profile)
        self.reported: set[str] = set()   # connection failure events raised in this outage
        self.failures = 0

    @property
    def store(self) -> CertificateStore:
        # `cryptography` is imported only when certificates are configured or used.
        if self._store is None:
            from ..certificates import open_store
            self._store = open_store(self.svc.state_dir / "certs", self.svc.cfg)
        return self._store

    # --- what firmware.FirmwareAgent uses of the 2.0.1 `Security` -------------------------------
    @property
    def dir(self) -> Path:
        return self.svc.state_dir

    def record(self, kind: str, tech_info: str = "") -> dict[str, Any]:
        """A SecurityEventNotification payload, for a caller that queues it with other messages."""
        log.warning("security event %s%s", kind, f": {tech_info}" if tech_info else "")
        payload: dict[str, Any] = {"type": kind, "timestamp": utc_now()}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        return payload

    def event(self, kind: str, tech_info: str = "", *, send: bool = True) -> bool:
        """Queue a SecurityEventNotification (1.6 has no criticality filter: every event is sent)."""
        self.svc.security_event(kind, tech_info)
        return True

    # --- security profiles ---------------------------------------------------------------------------
    def url(self) -> str:
        url = self.svc.cfg.url
        if self.profile >= 2 and url.startswith("ws://"):
            url = "wss://" + url[len("ws://"):]
        return url

    def transport(self) -> tuple[dict[str, str], ssl.SSLContext | None]:
        """Authorization header and TLS context for the next connection attempt."""
        headers: dict[str, str] = {}
        pw = self.svc.password
        if self.profile in (1, 2) and pw:
            cred = base64.b64encode(f"{self.svc.cfg.station_id}:{pw}".encode()).decode()
            headers["Authorization"] = f"Basic {cred}"
        if not self.url().startswith("wss://"):
            return headers, None
        roots = self.store.roots_pem("CSMSRootCertificate")
        if self.profile == 3:
            return headers, client_context(roots, cert_file=self.store.station_cert_path,
                                           key_file=self.store.station_key_path)
        return headers, client_context(roots)

    def change_profile(self, value: str) -> str:
        """ChangeConfiguration SecurityProfile (7.6): only upward, only with its prerequisites."""
        try:
            wanted = int(value.strip())
        except ValueError:
            return "Rejected"
        if wanted == self.profile:
            return "Accepted"
        if not 0 < wanted <= 3 or wanted < self.profile:
            log.info("SecurityProfile %s rejected: only an upgrade from %d to at most 3", value, self.profile)
            return "Rejected"
        if wanted in (1, 2) and not self.svc.password:
            return "Rejected"   # basic auth needs an AuthorizationKey / configured password
        if wanted >= 2 and not self.store.roots("CSMSRootCertificate"):
            log.info("SecurityProfile %d rejected: no CentralSystemRootCertificate installed", wanted)
            return "Rejected"
        if wanted == 3 and not self.store.has_station_certificate():
            log.info("SecurityProfile 3 rejected: no valid charge point certificate")
            return "Rejected"
        old, self.profile = self.profile, wanted
        write_json_atomic(self.state_path, {"profile": self.profile})
        self.svc.conf.set_local("SecurityProfile", str(wanted))
        self.svc.security_event("ReconfigurationOfSecurityParameters", f"security profile {old} -> {wanted}")
        self.svc.reconnect_soon()   # 7.6: disconnect and reconnect with the new profile
        return "Accepted"

    def connect_failed(self, exc: BaseException) -> None:
        found = failure_event(exc)
        if found is not None:
            kind = EVENT_NAMES_16.get(found[0], found[0])
            if kind not in self.reported:
                self.reported.add(kind)   # once per outage: a retry loop must not flood the queue
                self.svc.security_event(kind, found[1])
        self.failures += 1
        # A new charge point certificate that does not connect: back to the previous one.
        if self.failures >= FALLBACK_AFTER_FAILURES and self._store is not None \
                and self._store.restore_previous():
            self.failures = 0
            log.warning("the new charge point certificate did not connect: back to the previous one")

    def connected(self) -> None:
        self.failures = 0
        self.reported.clear()
        if self._store is not None:
            self._store.forget_previous()

    # --- A02/A03: the charge point certificate --------------------------------------------------
    def sign_status(self) -> str:
        # A02/A03 prerequisite: CpoName goes into the CSR's organizationName (A02.FR.13).
        return "Accepted" if self.svc.conf.get("CpoName") else "Rejected"

    def renewal_due(self, now_mono: float) -> bool:
        """A03 (renewal.py): time to ask for a new charge point certificate (CpoName set, as for a trigger)."""
        if self.sign_status() != "Accepted":
            return False
        expires = self.renewal.due(self._store, now_mono)
        if expires is None:
            return False
        log.info("the charge point certificate expires on %s: asking for a new one (A03)", expires.isoformat())
        return True

    async def sign(self) -> None:
        """SignCertificate.req with a CSR for a key made here (kept in the store's pending/)."""
        cfg = self.svc.cfg
        cn = cfg.station.serial_number or cfg.station_id
        csr = self.store.new_csr(cn, self.svc.conf.get("CpoName"))
        status = await self.svc.call_direct("SignCertificate", {"csr": csr})
        log.info("SignCertificate: %s", status)

    def certificate_signed(self, chain_pem: str) -> str:
        from ..certificates import CertificateError
        self.last_signed_ok = False
        if len(chain_pem) > self.svc.conf.get_int("CertificateSignedMaxChainSize"):
            self.svc.security_event("InvalidChargePointCertificate", "certificate chain longer than "
                                    "CertificateSignedMaxChainSize")
            return "Rejected"
        roots = self.store.root_certs("CSMSRootCertificate", "ManufacturerRootCertificate")
        try:
            self.store.accept_signed(chain_pem, roots)
        except CertificateError as e:
            log.warning("CertificateSigned rejected: %s", e)
            self.svc.security_event("InvalidChargePointCertificate", str(e))   # A02.FR.07
            return "Rejected"
        self.last_signed_ok = True
        self.svc.security_event("ReconfigurationOfSecurityParameters", "new charge point certificate installed")
        return "Accepted"

    def after_certificate_signed(self) -> None:
        # A02.FR.07: with profile 3 the new certificate is used at once (reconnect); else from the next connection.
        if self.last_signed_ok and self.profile == 3:
            self.svc.reconnect_soon()

    # --- M03-M05: roots ---------------------------------------------------------------------------
    def install(self, use16: str, pem: str) -> str:
        from ..certificates import CertificateError
        use = USES_16_TO_201.get(use16)
        if use is None:
            return "Rejected"
        if len(self.store.roots()) >= self.svc.conf.get_int("CertificateStoreMaxLength"):
            log.warning("InstallCertificate %s rejected: the certificate store is full", use16)
            return "Rejected"   # M05.FR.03
        try:
            self.store.install_root(use, pem)
        except CertificateError as e:
            log.warning("InstallCertificate %s rejected: %s", use16, e)
            return "Rejected"   # M05.FR.06
        except OSError as e:
            log.error("InstallCertificate %s failed: %s", use16, e)
            return "Failed"     # M05.FR.04
        self.svc.security_event("ReconfigurationOfSecurityParameters", f"{use16} installed")
        return "Accepted"

    def installed_ids(self, use16: str) -> list[dict[str, Any]]:
        """certificateHashData entries of one certificate type (M03: the type is required in 1.6)."""
        use = USES_16_TO_201.get(use16)
        if use is None:
            return []
        return [e["certificateHashData"] for e in self.store.installed_ids([use])]

    def delete(self, hash_data: dict[str, Any]) -> str:
        if self.store.is_station_certificate(hash_data):
            return "Failed"   # M04.FR.06: the charge point certificate is not deleted this way
        found = self.store.find(hash_data)
        if found is None or found.use not in USES_201_TO_16:
            return "NotFound"
        if found.use == "CSMSRootCertificate" and self.profile >= 2 \
                and len(self.store.roots(found.use)) == 1:
            return "Failed"   # the connection depends on it
        try:
            self.store.delete(found)
        except OSError as e:
            log.error("DeleteCertificate failed: %s", e)
            return "Failed"
        self.svc.security_event("ReconfigurationOfSecurityParameters", f"{USES_201_TO_16[found.use]} deleted")
        return "Accepted"
