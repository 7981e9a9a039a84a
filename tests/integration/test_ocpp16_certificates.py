"""OCPP 1.6J security whitepaper (edition 2) certificate management against csms16: A02 (charge
point certificate on request of the Central System), M03 GetInstalledCertificateIds, M04
DeleteCertificate, M05 InstallCertificate.

Certificates come from a test PKI made per test (evcharge.sim.pki); the expected
certificateHashData is computed here, independent of the station code.
"""

from __future__ import annotations

import hashlib
import stat

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from evcharge.sim.pki import Authority

from .test_ocpp_certificates import expired_root, pem


def expected_hash(cert: x509.Certificate) -> dict[str, str]:
    point = cert.public_key().public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    return {"hashAlgorithm": "SHA256",
            "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(point).hexdigest(),
            "serialNumber": format(cert.serial_number, "x")}


def norm(h: dict) -> tuple:
    return (h["hashAlgorithm"], h["issuerNameHash"].lower(), h["issuerKeyHash"].lower(),
            h["serialNumber"].lower().lstrip("0"))


def cert_of(authority: Authority) -> x509.Certificate:
    return x509.load_pem_x509_certificate(authority.cert_pem.encode())


async def install(csms16, cert_type: str, certificate: str) -> str:
    r = await csms16.call("InstallCertificate", {"certificateType": cert_type, "certificate": certificate})
    return r["status"]


async def installed(csms16, cert_type: str) -> dict:
    return await csms16.call("GetInstalledCertificateIds", {"certificateType": cert_type})


async def test_M05_install_M03_get_installed_M04_delete_certificates(start_ocpp16, csms16):
    """M05: CentralSystemRootCertificate and ManufacturerRootCertificate are Accepted; an expired or
    a non-CA certificate is Rejected. M03: each type lists only its own (NotFound when none).
    M04: DeleteCertificate removes one (Accepted), then NotFound."""
    await start_ocpp16()
    assert (await installed(csms16, "CentralSystemRootCertificate"))["status"] == "NotFound"
    csms_root, maker_root = Authority.create("CSMS Root 16"), Authority.create("Maker Root 16")
    assert await install(csms16, "CentralSystemRootCertificate", csms_root.cert_pem) == "Accepted"
    assert await install(csms16, "ManufacturerRootCertificate", maker_root.cert_pem) == "Accepted"
    assert await install(csms16, "CentralSystemRootCertificate", pem(expired_root("Old Root"))) == "Rejected"
    leaf = csms_root.issue("not-a-ca").cert_pem
    assert await install(csms16, "ManufacturerRootCertificate", leaf) == "Rejected"
    assert await install(csms16, "CentralSystemRootCertificate", "garbage") == "Rejected"

    r = await installed(csms16, "CentralSystemRootCertificate")
    assert r["status"] == "Accepted"
    assert [norm(h) for h in r["certificateHashData"]] == [norm(expected_hash(cert_of(csms_root)))]
    r = await installed(csms16, "ManufacturerRootCertificate")
    assert [norm(h) for h in r["certificateHashData"]] == [norm(expected_hash(cert_of(maker_root)))]

    await csms16.wait_for("SecurityEventNotification", 2,
                          where=lambda p: p["type"] == "ReconfigurationOfSecurityParameters")
    r = await csms16.call("DeleteCertificate", {"certificateHashData": expected_hash(cert_of(maker_root))})
    assert r["status"] == "Accepted"
    assert (await installed(csms16, "ManufacturerRootCertificate"))["status"] == "NotFound"
    r = await csms16.call("DeleteCertificate", {"certificateHashData": expected_hash(cert_of(maker_root))})
    assert r["status"] == "NotFound"
    assert (await installed(csms16, "CentralSystemRootCertificate"))["status"] == "Accepted"


async def test_M05_FR_03_store_full_is_rejected(start_ocpp16, csms16):
    """M05.FR.03: with CertificateStoreMaxLength certificates installed, InstallCertificate is Rejected."""
    await start_ocpp16()
    r = await csms16.call("GetConfiguration", {"key": ["CertificateStoreMaxLength"]})
    (entry,) = r["configurationKey"]
    assert entry["readonly"] is True
    limit = int(entry["value"])
    for i in range(limit):
        assert await install(csms16, "ManufacturerRootCertificate", Authority.create(f"Root {i}").cert_pem) \
            == "Accepted"
    assert await install(csms16, "ManufacturerRootCertificate", Authority.create("One too many").cert_pem) \
        == "Rejected"
    r = await installed(csms16, "ManufacturerRootCertificate")
    assert len(r["certificateHashData"]) == limit


async def test_A02_update_charge_point_certificate_by_request_of_central_system(start_ocpp16, csms16,
                                                                                  supervisor):
    """A02: ExtendedTriggerMessage(SignChargePointCertificate) is Rejected until CpoName is set;
    then Accepted, SignCertificate.req carries a CSR (organizationName = CpoName, a key made on
    the charge point that never leaves it); CertificateSigned with a chain from the installed
    root is Accepted, from another root Rejected with an InvalidChargePointCertificate event."""
    await start_ocpp16()
    ca = Authority.create("CSMS Root 16")
    assert await install(csms16, "CentralSystemRootCertificate", ca.cert_pem) == "Accepted"
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    assert (await csms16.call("ExtendedTriggerMessage", trigger))["status"] == "Rejected"  # no CpoName
    assert not csms16.received("SignCertificate")
    r = await csms16.call("ChangeConfiguration", {"key": "CpoName", "value": "Test CPO"})
    assert r["status"] == "Accepted"

    assert (await csms16.call("ExtendedTriggerMessage", trigger))["status"] == "Accepted"
    (req,) = await csms16.wait_for("SignCertificate", timeout=20)
    csr = x509.load_pem_x509_csr(req["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)[0].value == "Test CPO"
    assert all("PRIVATE KEY" not in f.raw for f in csms16.frames), "the key never leaves the charge point"
    pending = supervisor.state_dir("ocpp") / "certs" / "pending" / "key.pem"
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600

    stranger = Authority.create("Not Our Root")
    r = await csms16.call("CertificateSigned", {"certificateChain": stranger.sign_csr(req["csr"])})
    assert r["status"] == "Rejected"
    await csms16.wait_for("SecurityEventNotification",
                          where=lambda p: p["type"] == "InvalidChargePointCertificate", timeout=20)

    chain = ca.sign_csr(req["csr"])
    r = await csms16.call("CertificateSigned", {"certificateChain": chain})
    assert r["status"] == "Accepted"
    station = supervisor.state_dir("ocpp") / "certs" / "station"
    assert (station / "cert.pem").read_text().strip() == chain.strip()
    assert stat.S_IMODE((station / "key.pem").stat().st_mode) == 0o600
    assert not pending.exists()
    # M04.FR.06: the charge point certificate is not deleted with DeleteCertificate.
    leaf = x509.load_pem_x509_certificate(chain.encode())
    h = expected_hash(cert_of(ca)) | {"serialNumber": format(leaf.serial_number, "x")}
    assert (await csms16.call("DeleteCertificate", {"certificateHashData": h}))["status"] == "Failed"


async def test_A02_sign_certificate_rejected_by_central_system(start_ocpp16, csms16):
    """The Central System answers SignCertificate Rejected: no certificate arrives, nothing changes;
    a CertificateSigned without a pending request is Rejected."""
    csms16.behaviour.sign_certificate = ["Rejected"]
    await start_ocpp16()
    ca = Authority.create("CSMS Root 16")
    assert await install(csms16, "CentralSystemRootCertificate", ca.cert_pem) == "Accepted"
    r = await csms16.call("CertificateSigned", {"certificateChain": ca.issue("evcharge-001").cert_pem})
    assert r["status"] == "Rejected"
    assert (await csms16.call("ChangeConfiguration", {"key": "CpoName", "value": "Test CPO"}))["status"] == "Accepted"
    r = await csms16.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert r["status"] == "Accepted"
    await csms16.wait_for("SignCertificate", timeout=20)
    r = await csms16.call("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"})
    assert r["status"] == "Accepted"    # the charge point goes on answering (GetLog is implemented now)
    assert await csms16.wait_for("LogStatusNotification", timeout=20) == [{"status": "Idle"}]
