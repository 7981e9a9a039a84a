"""OCPP 2.0.1 Part 6 block M (certificate management, TC_M_xx_CS) against the test CSMS.

The CSMS side computes the expected certificateHashData itself (SHA256 over the issuer's DER
name, over the issuer key's BIT STRING, and the serial in hex), independent of the station code.
Certificates come from a test PKI made per test (evcharge.sim.pki).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sim.csms import Csms
from evcharge.sim.pki import Authority, server_context

STATION = "evcharge-001"


def expected_hash(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> dict[str, str]:
    issuer = issuer or cert
    point = issuer.public_key().public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)
    return {"hashAlgorithm": "SHA256",
            "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(point).hexdigest(),
            "serialNumber": format(cert.serial_number, "x")}


def same(a: dict, b: dict) -> bool:
    norm = lambda h: (h["hashAlgorithm"], h["issuerNameHash"].lower(), h["issuerKeyHash"].lower(),  # noqa: E731
                      h["serialNumber"].lower().lstrip("0"))
    return norm(a) == norm(b)


def entries(resp: dict, cert_type: str) -> list[dict]:
    return [e["certificateHashData"] for e in resp.get("certificateHashDataChain", [])
            if e["certificateType"] == cert_type]


def expired_root(cn: str) -> x509.Certificate:
    """A self-signed CA certificate whose validity ended yesterday."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30)).not_valid_after(now - timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def install(csms, cert_type: str, authority: Authority) -> None:
    """Reusable state CertificateInstalled."""
    r = await csms.call("InstallCertificate", {"certificateType": cert_type, "certificate": authority.cert_pem})
    assert r["status"] == "Accepted", r


async def installed(csms, *types: str) -> dict:
    """Reusable state GetInstalledCertificates (certificateType omitted when no type is given)."""
    return await csms.call("GetInstalledCertificateIds", {"certificateType": list(types)} if types else {})


async def test_TC_M_01_CS_install_csms_root_certificate(start_ocpp, csms):
    await start_ocpp()
    root = Authority.create("New CSMS Root")
    await install(csms, "CSMSRootCertificate", root)
    r = await installed(csms, "CSMSRootCertificate")
    assert r["status"] == "Accepted"
    assert any(same(h, expected_hash(root.cert)) for h in entries(r, "CSMSRootCertificate"))
    # Tidy up as the note of step 1 asks (AdditionalRootCertificateCheck is not implemented).
    r = await csms.call("DeleteCertificate", {"certificateHashData": expected_hash(root.cert)})
    assert r["status"] == "Accepted"


async def test_TC_M_02_CS_install_manufacturer_root_certificate(start_ocpp, csms):
    await start_ocpp()
    root = Authority.create("New Manufacturer Root")
    await install(csms, "ManufacturerRootCertificate", root)
    r = await installed(csms, "ManufacturerRootCertificate")
    assert r["status"] == "Accepted"
    (got,) = entries(r, "ManufacturerRootCertificate")
    assert same(got, expected_hash(root.cert))
    assert entries(r, "CSMSRootCertificate") == [], "only the requested type"


async def test_TC_M_07_CS_install_expired_certificate_rejected(start_ocpp, csms):
    await start_ocpp()
    old = expired_root("Expired CSMS Root")
    r = await csms.call("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": pem(old)})
    assert r["status"] == "Rejected"
    r = await installed(csms, "CSMSRootCertificate")
    assert not any(same(h, expected_hash(old)) for h in entries(r, "CSMSRootCertificate"))


async def test_TC_M_12_CS_get_installed_csms_root_certificates(start_ocpp, csms):
    await start_ocpp()
    roots = [Authority.create("CSMS Root A"), Authority.create("CSMS Root B")]
    for root in roots:
        await install(csms, "CSMSRootCertificate", root)
    r = await installed(csms, "CSMSRootCertificate")
    assert r["status"] == "Accepted"
    got = entries(r, "CSMSRootCertificate")
    assert len(got) == 2 and all(any(same(h, expected_hash(a.cert)) for h in got) for a in roots)
    assert {e["certificateType"] for e in r["certificateHashDataChain"]} == {"CSMSRootCertificate"}


async def test_TC_M_13_CS_get_installed_manufacturer_root_certificates(start_ocpp, csms):
    await start_ocpp()
    root = Authority.create("Manufacturer Root")
    await install(csms, "ManufacturerRootCertificate", root)
    await install(csms, "CSMSRootCertificate", Authority.create("CSMS Root"))
    r = await installed(csms, "ManufacturerRootCertificate")
    assert r["status"] == "Accepted"
    assert [e["certificateType"] for e in r["certificateHashDataChain"]] == ["ManufacturerRootCertificate"]
    assert same(r["certificateHashDataChain"][0]["certificateHashData"], expected_hash(root.cert))


async def test_TC_M_17_CS_and_TC_M_18_CS_get_installed_certificates_several_types(start_ocpp, csms):
    """TC_M_17: both types asked for; TC_M_18: certificateType omitted (all types)."""
    await start_ocpp()
    csms_root, maker_root = Authority.create("CSMS Root"), Authority.create("Manufacturer Root")
    await install(csms, "CSMSRootCertificate", csms_root)
    await install(csms, "ManufacturerRootCertificate", maker_root)
    for r in (await installed(csms, "CSMSRootCertificate", "ManufacturerRootCertificate"), await installed(csms)):
        assert r["status"] == "Accepted"
        assert [same(h, expected_hash(csms_root.cert)) for h in entries(r, "CSMSRootCertificate")] == [True]
        assert [same(h, expected_hash(maker_root.cert)) for h in entries(r, "ManufacturerRootCertificate")] == [True]
        assert len(r["certificateHashDataChain"]) == 2


async def test_TC_M_19_CS_get_installed_certificates_none_found(start_ocpp, csms):
    await start_ocpp()
    r = await installed(csms, "MORootCertificate")
    assert r == {"status": "NotFound"}, "certificateHashDataChain omitted"


async def test_TC_M_20_CS_delete_certificate(start_ocpp, csms):
    await start_ocpp()
    r = await installed(csms, "CSMSRootCertificate")
    if not entries(r, "CSMSRootCertificate"):
        await install(csms, "CSMSRootCertificate", Authority.create("CSMS Root"))
        r = await installed(csms, "CSMSRootCertificate")
    target = entries(r, "CSMSRootCertificate")[0]
    r = await csms.call("DeleteCertificate", {"certificateHashData": target})
    assert r["status"] == "Accepted"
    r = await installed(csms, "CSMSRootCertificate")
    assert not any(same(h, target) for h in entries(r, "CSMSRootCertificate"))


async def test_TC_M_22_CS_delete_certificate_not_found(start_ocpp, csms):
    await start_ocpp()
    await install(csms, "CSMSRootCertificate", Authority.create("CSMS Root"))
    await installed(csms, "CSMSRootCertificate")
    unknown = Authority.create("Never installed")
    r = await csms.call("DeleteCertificate", {"certificateHashData": expected_hash(unknown.cert)})
    assert r["status"] == "NotFound"
    r = await installed(csms, "CSMSRootCertificate")
    assert len(entries(r, "CSMSRootCertificate")) == 1, "nothing else was deleted"


async def test_TC_M_23_CS_station_certificate_cannot_be_deleted(stack, supervisor, tmp_path):
    """Profile 3: the CSMS asks to delete the certificate the station is connected with."""
    ca = Authority.create("Test CSMS Root")
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    cert_file, key_file = ca.issue(STATION).write(tmp_path, "station")
    station_cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    csms = Csms(port=0, tls=server_context(ca.issue("127.0.0.1", server=True), client_ca=ca))
    await csms.start()
    try:
        await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra={
            "csms_url": csms.url, "security_profile": 3, "ca_file": str(tmp_path / "ca.pem"),
            "client_cert_file": str(cert_file), "client_key_file": str(key_file)})
        await csms.wait_for("StatusNotification", 2, timeout=20)
        await installed(csms)
        r = await csms.call("DeleteCertificate", {"certificateHashData": expected_hash(station_cert, ca.cert)})
        assert r["status"] in ("NotFound", "Failed")
        props = await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)
        assert props["Connected"] and props["SecurityProfile"] == 3
        kept = supervisor.state_dir("ocpp") / "certs" / "station" / "cert.pem"
        assert x509.load_pem_x509_certificate(kept.read_bytes()) == station_cert
        assert csms.peer_certs[STATION] == station_cert.public_bytes(serialization.Encoding.DER)
    finally:
        await csms.stop()
