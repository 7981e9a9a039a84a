"""Pure parts of OCPP security: password and network profile rules, certificate store, TLS errors."""

from __future__ import annotations

import hashlib
import json
import ssl
import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from evcharge.ocpp.certificates import CertificateError, CertificateStore, hash_data, same_hash, verify_chain
from evcharge.ocpp.security import CRITICAL, check_password, parse_priority
from evcharge.ocpp.tls import client_context, failure_event
from evcharge.sim.pki import Authority

NOW = datetime.now(UTC)


@pytest.mark.parametrize("pw,ok", [
    ("a" * 16, True), ("A1*-_=:+|@.bcdefgh", True), ("a" * 40, True),
    ("a" * 15, False), ("a" * 41, False), ("sixteen chars ok", False), ("pässwordpässword", False), ("", False),
])
def test_basic_auth_password_rules(pw, ok):
    assert (check_password(pw) is None) == ok


def test_priority_parsing():
    assert parse_priority("1,0") == [1, 0]
    assert parse_priority("2") == [2]
    assert parse_priority("1,1") is None and parse_priority("") is None and parse_priority("a,1") is None


def test_critical_events_from_appendix_1():
    for kind in ("StartupOfTheDevice", "ResetOrReboot", "SettingSystemTime", "InvalidCsmsCertificate",
                 "InvalidChargingStationCertificate", "InvalidTLSVersion", "InvalidTLSCipherSuite",
                 "FirmwareUpdated", "SecurityLogWasCleared", "TamperDetectionActivated"):
        assert CRITICAL[kind] is True, kind
    for kind in ("FailedToAuthenticateAtCsms", "ReconfigurationOfSecurityParameters", "InvalidMessages"):
        assert CRITICAL[kind] is False, kind


def test_hash_data_of_a_root():
    ca = Authority.create("Root")
    h = hash_data(ca.cert)
    assert h["hashAlgorithm"] == "SHA256"
    assert h["issuerNameHash"] == hashlib.sha256(ca.cert.subject.public_bytes()).hexdigest()
    point = ca.cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert h["issuerKeyHash"] == hashlib.sha256(point).hexdigest()
    assert h["serialNumber"] == format(ca.cert.serial_number, "x") and not h["serialNumber"].startswith("0")
    assert same_hash(h, {**h, "serialNumber": "000" + h["serialNumber"].upper()})
    assert not same_hash(h, {**h, "issuerKeyHash": "00"})


def test_verify_chain():
    root = Authority.create("Root")
    leaf = root.issue("station").cert
    assert verify_chain([leaf], [root.cert], NOW) == root.cert
    with pytest.raises(CertificateError, match="installed root"):
        verify_chain([leaf], [Authority.create("Other").cert], NOW)
    with pytest.raises(CertificateError, match="no root"):
        verify_chain([leaf], [], NOW)
    with pytest.raises(CertificateError, match="expired"):
        verify_chain([root.issue("old", expired=True).cert], [root.cert], NOW)
    with pytest.raises(CertificateError, match="expired"):
        verify_chain([leaf], [root.cert], NOW + timedelta(days=400))


def test_store_install_roots(tmp_path):
    store = CertificateStore(tmp_path / "certs")
    root = Authority.create("Root")
    store.install_root("CSMSRootCertificate", root.cert_pem)
    with pytest.raises(CertificateError, match="CA"):
        store.install_root("CSMSRootCertificate", root.issue("leaf").cert_pem)
    with pytest.raises(CertificateError, match="PEM"):
        store.install_root("CSMSRootCertificate", "nonsense")
    with pytest.raises(CertificateError, match="cannot be installed"):
        store.install_root("ChargingStationCertificate", root.cert_pem)
    ids = store.installed_ids(None)
    assert [i["certificateType"] for i in ids] == ["CSMSRootCertificate"]
    found = store.find(ids[0]["certificateHashData"])
    assert found is not None and found.cert == root.cert
    store.delete(found)
    assert store.installed_ids(["CSMSRootCertificate"]) == []


def test_store_csr_and_signed_certificate(tmp_path):
    store = CertificateStore(tmp_path / "certs")
    root = Authority.create("Root")
    csr_pem = store.new_csr("station-7", "CPO")
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    assert stat.S_IMODE(store.pending_key_path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in csr_pem.encode()
    with pytest.raises(CertificateError, match="pending"):
        store.accept_signed(root.issue("station-7").cert_pem, [root.cert])   # another key
    with pytest.raises(CertificateError, match="installed root"):
        store.accept_signed(Authority.create("X").sign_csr(csr_pem), [root.cert])
    assert not store.has_station_certificate()
    store.accept_signed(root.sign_csr(csr_pem), [root.cert])
    assert store.has_station_certificate()
    assert stat.S_IMODE(store.station_key_path.stat().st_mode) == 0o600
    assert not store.pending_key_path.exists()
    chain = store.station_chain()
    leaf_hash = hash_data(chain[0], chain[1])
    assert store.is_station_certificate(leaf_hash)


def test_store_seeds_once_from_configuration(tmp_path):
    root = Authority.create("Root")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(root.cert_pem)
    store = CertificateStore(tmp_path / "certs")
    store.seed(str(ca_file), "", "")
    (only,) = store.roots("CSMSRootCertificate")
    store.delete(only)
    CertificateStore(tmp_path / "certs").seed(str(ca_file), "", "")
    assert store.roots("CSMSRootCertificate") == [], "a root the CSMS deleted is not brought back"


def test_client_context_is_tls12_or_newer():
    ctx = client_context("")
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED


def test_failure_events():
    e = ssl.SSLCertVerificationError(1, "certificate verify failed")
    e.verify_message = "unable to get local issuer certificate"
    assert failure_event(e) == ("InvalidCsmsCertificate", "unable to get local issuer certificate")
    wrapped = ConnectionError("handshake")
    wrapped.__cause__ = e
    assert failure_event(wrapped)[0] == "InvalidCsmsCertificate"
    v = ssl.SSLError(1, "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol")
    v.reason = "UNSUPPORTED_PROTOCOL"
    assert failure_event(v)[0] == "InvalidTLSVersion"
    assert failure_event(ConnectionRefusedError()) is None


# --- the Security decisions with a real device model, queue and store (no network) -----------------
class _Svc:
    """The parts of OcppService that Security uses."""

    def __init__(self, state_dir, profile: int = 1, url: str = "ws://127.0.0.1:9/ocpp") -> None:
        import asyncio

        from evcharge.ocpp.boot import BootMachine
        from evcharge.ocpp.config import OcppConfig
        from evcharge.ocpp.devicemodel import Variable, standard_model
        from evcharge.ocpp.netprofile import NetworkProfiles
        from evcharge.ocpp.queue import MessageQueue

        self.cfg = OcppConfig(csms_url=url, security_profile=profile)
        self.state_dir = state_dir
        self.queue = MessageQueue(state_dir / "queue.sqlite")
        self.dm = standard_model(heartbeat_s=300, message_timeout_s=30, offline_threshold_s=300, attempts=3,
                                 attempt_interval_s=10, backoff_min_s=3, backoff_range_s=10, backoff_repeat=5,
                                 ping_s=60, sample_interval_s=60, security_profile=profile,
                                 identity=self.cfg.station_id, evse_ids=[1])
        self.dm.add([Variable("OCPPCommCtrlr", "NetworkConfigurationPriority", "0", "SequenceList",
                              values_list=("0", "1", "2", "3"))], replace=True)
        self.network = NetworkProfiles()
        self.active_slot = 0
        self.boot_reason = "PowerUp"
        self._wake_sender = asyncio.Event()
        self.password = "a" * 16
        self.boot = BootMachine(heartbeat_s=300)
        self.saved = 0

    def publish(self) -> None:
        pass

    def reconnect(self) -> None:
        pass

    def _save_dm(self) -> None:
        self.saved += 1


def _security(svc):
    from evcharge.ocpp.security import Security

    sec = Security(svc)
    sec.attach()
    return sec


def _set(sec, component, name, value):
    return sec.svc.dm.set_variables([{"component": {"name": component}, "variable": {"name": name},
                                      "attributeValue": value}])[0]


def _slot(profile: int, url: str) -> dict:
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
            "securityProfile": profile, "ocppInterface": "Wired0"}


async def test_profile_only_rises_and_survives_a_restart(tmp_path):
    from evcharge.ocpp.netprofile import Target

    svc = _Svc(tmp_path)
    sec = _security(svc)
    svc.network.store(1, _slot(2, "wss://127.0.0.1:10/ocpp"))
    res = _set(sec, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0")
    assert res["attributeStatus"] == "Rejected" and "CSMSRootCertificate" in res["attributeStatusInfo"]["additionalInfo"]
    assert sec.install("CSMSRootCertificate", Authority.create("Root").cert_pem)[0] == "Accepted"
    assert _set(sec, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0")["attributeStatus"] == "RebootRequired"
    assert _set(sec, "OCPPCommCtrlr", "NetworkConfigurationPriority", "0")["attributeStatus"] == "Accepted"
    svc.network.store(3, _slot(3, "wss://127.0.0.1:10/ocpp"))
    res = _set(sec, "OCPPCommCtrlr", "NetworkConfigurationPriority", "3,0")
    assert res["attributeStatus"] == "Rejected" and "ChargingStationCertificate" in res["attributeStatusInfo"][
        "additionalInfo"]
    _set(sec, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0")
    target = Target(1, "wss://127.0.0.1:10/ocpp/evcharge-001", 2, 30.0)
    headers, ctx = sec.transport(target)
    assert ctx is not None and headers["Authorization"].startswith("Basic ")
    svc.active_slot = 1
    sec.connected(target)
    assert sec.floor == 2 and svc.dm.get("OCPPCommCtrlr", "NetworkConfigurationPriority") == "1"
    assert svc.dm.get("SecurityCtrlr", "SecurityProfile") == "2" and svc.saved == 1
    res = _set(sec, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0")
    assert res["attributeStatus"] == "Rejected" and "lower" in res["attributeStatusInfo"]["additionalInfo"]

    again = _security(_Svc(tmp_path))          # restart with the same (profile 1) ocpp.yaml
    assert again.floor == 2
    with pytest.raises(PermissionError, match="no downgrade"):
        again.transport(Target(0, "ws://127.0.0.1:9/ocpp/evcharge-001", 1, 30.0))


async def test_reset_and_startup_events(tmp_path):
    svc = _Svc(tmp_path)
    svc.boot_reason = "RemoteReset"
    sec = _security(svc)
    sec.startup()
    sec.startup()   # the same machine boot: no second StartupOfTheDevice
    types = [m.payload["type"] for m in svc.queue.all()]
    assert types == ["ResetOrReboot", "StartupOfTheDevice", "ResetOrReboot"]


async def test_security_events_are_logged_and_critical_ones_queued(tmp_path):
    svc = _Svc(tmp_path)
    sec = _security(svc)
    e = ssl.SSLCertVerificationError(1, "certificate verify failed")
    e.verify_message = "self-signed certificate"
    sec.connect_failed(e)
    sec.connect_failed(e)                            # the same outage: one event
    sec.event("ReconfigurationOfSecurityParameters", "test")   # not critical: log only
    sec.event("InvalidFirmwareSignature", "fw 1", send=True)      # not critical, but L01.FR.03 sends it
    queued = [(m.action, m.payload["type"]) for m in svc.queue.all()]
    assert queued == [("SecurityEventNotification", "InvalidCsmsCertificate"),
                      ("SecurityEventNotification", "InvalidFirmwareSignature")]
    lines = (tmp_path / "security.log").read_text().splitlines()
    assert [json.loads(x)["type"] for x in lines] == ["InvalidCsmsCertificate", "ReconfigurationOfSecurityParameters",
                                                      "InvalidFirmwareSignature"]
    assert stat.S_IMODE((tmp_path / "security.log").stat().st_mode) == 0o600


async def test_password_change_is_stored_private_and_write_only(tmp_path):
    svc = _Svc(tmp_path)
    sec = _security(svc)
    assert _set(sec, "SecurityCtrlr", "BasicAuthPassword", "short")["attributeStatus"] == "Rejected"
    assert _set(sec, "SecurityCtrlr", "BasicAuthPassword", "b" * 20)["attributeStatus"] == "Accepted"
    assert svc.password == "b" * 20 and sec.password() == "b" * 20
    assert stat.S_IMODE((tmp_path / "basic_auth_password").stat().st_mode) == 0o600
    assert all("BasicAuthPassword" not in str(k) for k, _v in svc.dm.overrides())
