"""OCPP 1.6J security whitepaper (edition 2) security profiles 2 and 3 over real TLS against csms16,
and the SecurityProfile configuration key (7.6: only upward, prerequisites checked).

A test CA is made per test (evcharge.sim.pki); the Central System serves wss:// with a server
certificate for 127.0.0.1 and, for profile 3, asks for the charge point's client certificate.
"""

from __future__ import annotations

import base64
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sim.csms16 import Csms16
from evcharge.sim.pki import Authority, server_context

from .test_ocpp_security import Pki

STATION = "evcharge-001"
PASSWORD = "0123456789abcdefOLD"


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"{STATION}:{password}".encode()).decode()


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.fixture
async def servers16():
    started: list[Csms16] = []

    async def make(tls: ssl.SSLContext | None = None, port: int = 0, **behaviour) -> Csms16:
        c = Csms16(port=port, tls=tls)
        for k, v in behaviour.items():
            setattr(c.behaviour, k, v)
        await c.start()
        started.append(c)
        return c

    yield make
    for c in started:
        await c.stop()


async def start_station(stack, csms: Csms16, tmp_path, *, profile: int, wait_boot: bool = True, **extra):
    pw = tmp_path / "basic-auth"
    pw.write_text(PASSWORD + "\n")
    cfg = {"csms_url": csms.url, "protocol": "ocpp1.6", "security_profile": profile,
           "basic_auth_password_file": str(pw), **extra}
    await stack.start(("board", "energy", "meter", "auth", "evse", "ocpp"), ocpp_extra=cfg)
    if wait_boot:
        await csms.wait_for("StatusNotification", 3, timeout=30)
    return stack


async def security_profile_key(csms: Csms16) -> str:
    r = await csms.call("GetConfiguration", {"key": ["SecurityProfile"]})
    return r["configurationKey"][0]["value"]


async def test_profile_2_tls_with_basic_auth(stack, servers16, pki, tmp_path):
    """Profile 2: TLS >= 1.2, the Central System certificate checked against the installed root,
    basic auth in the upgrade request; SecurityProfile reads 2."""
    csms = await servers16(pki.context(), password=PASSWORD)
    await start_station(stack, csms, tmp_path, profile=2, ca_file=str(pki.ca_file))
    assert csms.auth_headers[-1] == basic(PASSWORD)
    assert csms.connections[STATION].transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    assert await security_profile_key(csms) == "2"
    assert (await ocpp_props(stack))["SecurityProfile"] == 2


async def test_profile_2_invalid_central_system_certificate(stack, servers16, pki, tmp_path):
    """A Central System certificate from an unknown CA ends the handshake (no HTTP upgrade); the
    InvalidCentralSystemCertificate security event is sent once, after a good connection."""
    bad = Authority.create("Somebody Else").issue("127.0.0.1", server=True)
    csms = await servers16(server_context(bad), password=PASSWORD)
    await start_station(stack, csms, tmp_path, profile=2, ca_file=str(pki.ca_file), wait_boot=False)
    await stack.wait(lambda: ocpp_props(stack), lambda p: "CERTIFICATE_VERIFY_FAILED" in p["LastError"],
                     timeout=20)
    assert csms.paths == [], "no HTTP upgrade over an untrusted connection"
    port = csms.port
    await csms.stop()
    good = await servers16(pki.context(), port=port, password=PASSWORD)
    await good.wait_for("StatusNotification", 3, timeout=30)
    await good.wait_for("SecurityEventNotification",
                        where=lambda p: p["type"] == "InvalidCentralSystemCertificate", timeout=20)
    await stack.wait(lambda: ocpp_props(stack), lambda p: p["QueueLength"] == 0, timeout=20)
    types = [p["type"] for p in good.received("SecurityEventNotification")]
    assert types.count("InvalidCentralSystemCertificate") == 1, "once per outage, not per attempt"


async def test_profile_3_client_certificate_and_A02_renewal(stack, servers16, pki, tmp_path, supervisor):
    """Profile 3: the charge point presents its certificate, no password. A02 over profile 3: the
    signed certificate is Accepted and the charge point reconnects with it at once."""
    cert, key = pki.client()
    csms = await servers16(pki.context(client_certs=True))
    await start_station(stack, csms, tmp_path, profile=3, ca_file=str(pki.ca_file), client_cert_file=cert,
                        client_key_file=key)
    peer = x509.load_der_x509_certificate(csms.peer_certs[STATION])
    assert peer.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == STATION
    assert csms.auth_headers[-1] is None
    assert await security_profile_key(csms) == "3"

    assert (await csms.call("ChangeConfiguration", {"key": "CpoName", "value": "Test CPO"}))["status"] == "Accepted"
    r = await csms.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert r["status"] == "Accepted"
    (req,) = await csms.wait_for("SignCertificate", timeout=20)
    chain = pki.ca.sign_csr(req["csr"])
    n = len(csms.paths)
    assert (await csms.call("CertificateSigned", {"certificateChain": chain}))["status"] == "Accepted"
    new_der = x509.load_pem_x509_certificate(chain.encode()).public_bytes(serialization.Encoding.DER)
    await csms.wait_until(lambda: len(csms.paths) > n and csms.peer_certs.get(STATION) == new_der, timeout=30,
                          what="a reconnect with the new charge point certificate")
    assert (supervisor.state_dir("ocpp") / "certs" / "station" / "cert.pem").read_text().strip() == chain.strip()


async def test_A03_charge_point_renews_its_expiring_certificate_by_itself(stack, servers16, pki, tmp_path):
    """A03 without a trigger: the charge point certificate expires within certificate_renew_days, so
    once CpoName is set (the CSR's organization, as for a trigger) the charge point sends
    SignCertificate on its own; the signed certificate (a year) is used at once, and no further
    request follows."""
    cert, key = pki.ca.issue(STATION, days=10).write(tmp_path, "station")
    csms = await servers16(pki.context(client_certs=True))
    await start_station(stack, csms, tmp_path, profile=3, ca_file=str(pki.ca_file), client_cert_file=str(cert),
                        client_key_file=str(key), certificate_renew_days=30)
    assert (await csms.call("ChangeConfiguration", {"key": "CpoName", "value": "Test CPO"}))["status"] == "Accepted"
    (req,) = await csms.wait_for("SignCertificate", timeout=90)
    csr = x509.load_pem_x509_csr(req["csr"].encode())
    assert csr.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)[0].value == "Test CPO"
    assert not csms.received("ExtendedTriggerMessage")
    chain = pki.ca.sign_csr(req["csr"])
    assert (await csms.call("CertificateSigned", {"certificateChain": chain}))["status"] == "Accepted"
    new_der = x509.load_pem_x509_certificate(chain.encode()).public_bytes(serialization.Encoding.DER)
    await csms.wait_until(lambda: csms.peer_certs.get(STATION) == new_der, timeout=30,
                          what="a reconnect with the renewed certificate")
    assert len(csms.received("SignCertificate")) == 1


async def test_security_profile_upgrade_rejected_without_prerequisites(stack, servers16, pki, tmp_path):
    """7.6: SecurityProfile 2 needs a CentralSystemRootCertificate, 3 a charge point certificate;
    a lower value or one out of range is Rejected; the same value is Accepted (no change)."""
    csms = await servers16(password=PASSWORD)
    await start_station(stack, csms, tmp_path, profile=1)

    async def change(value: str) -> str:
        return (await csms.call("ChangeConfiguration", {"key": "SecurityProfile", "value": value}))["status"]

    assert await change("2") == "Rejected"
    assert await change("3") == "Rejected"
    r = await csms.call("InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                               "certificate": pki.ca.cert_pem})
    assert r["status"] == "Accepted"
    assert await change("3") == "Rejected", "no charge point certificate yet"
    assert await change("0") == "Rejected"
    assert await change("4") == "Rejected"
    assert await change("x") == "Rejected"
    assert await change("1") == "Accepted"
    assert await security_profile_key(csms) == "1"
    assert csms.actions().count("BootNotification") == 1 and len(csms.paths) == 1


async def test_security_profile_upgrade_1_to_2_and_no_downgrade(stack, servers16, pki, tmp_path, supervisor):
    """7.6: with the root installed, SecurityProfile 2 is Accepted, the charge point reconnects over
    TLS (wss://) with basic auth; 1 is Rejected from then on, and a restart with the old ocpp.yaml
    (profile 1, ws://) still connects with profile 2."""
    plain = await servers16(password=PASSWORD)
    await start_station(stack, plain, tmp_path, profile=1)
    r = await plain.call("InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                                "certificate": pki.ca.cert_pem})
    assert r["status"] == "Accepted"
    r = await plain.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
    assert r["status"] == "Accepted"
    # The same endpoint, now served over TLS.
    await plain.wait_until(lambda: not plain.stations, timeout=20, what="the charge point disconnecting")
    port = plain.port
    await plain.stop()
    secure = await servers16(pki.context(), port=port, password=PASSWORD)
    await secure.wait_until(lambda: secure.stations, timeout=30, what="a TLS connection")
    assert secure.auth_headers[-1] == basic(PASSWORD)
    assert await security_profile_key(secure) == "2"
    r = await secure.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "1"})
    assert r["status"] == "Rejected"
    # queued: delivered before the disconnect or after the reconnect
    await secure.wait_until(lambda: any(p["type"] == "ReconfigurationOfSecurityParameters" for p in
                                        plain.received("SecurityEventNotification")
                                        + secure.received("SecurityEventNotification")),
                            timeout=20, what="ReconfigurationOfSecurityParameters")

    n = len(secure.paths)
    starts = supervisor.starts("ocpp")
    supervisor.kill("ocpp")
    await supervisor.wait_restarted("ocpp", starts)
    await secure.wait_until(lambda: len(secure.paths) > n and secure.stations, timeout=30, what="a reconnect")
    assert await security_profile_key(secure) == "2"
    assert (await ocpp_props(stack))["SecurityProfile"] == 2
