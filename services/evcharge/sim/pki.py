"""A throw-away PKI for the simulated CSMS: a root CA, a server certificate, signed CSRs.

For tests and SIL runs of OCPP security profiles 2 and 3, never for production keys:

    ca = Authority.create("Test CSMS Root")
    server = ca.issue("127.0.0.1", server=True)          # IP and DNS SAN, serverAuth
    ctx = server_context(server, ca, client_ca=ca)       # wss:// that asks for a client certificate
    chain_pem = ca.sign_csr(csr_pem)                      # CertificateSigned for a station's CSR
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str, org: str = "evcharge test") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        key.chmod(0o600)
        return cert, key


@dataclass
class Authority(Issued):
    @classmethod
    def create(cls, cn: str, *, days: int = 3650) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    def _builder(self, subject: x509.Name, public_key, not_before: datetime, not_after: datetime):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))

    def issue(self, cn: str, *, server: bool = False, days: int = 365, expired: bool = False) -> Issued:
        """A leaf certificate; `server`: with IP/DNS SAN `cn` and serverAuth, else clientAuth."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        before, after = (now - timedelta(days=10), now - timedelta(days=1)) if expired else \
            (now - timedelta(hours=1), now + timedelta(days=days))
        b = self._builder(_name(cn), key.public_key(), before, after)
        if server:
            try:
                san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(cn))
            except ValueError:
                san = x509.DNSName(cn)
            b = b.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                   else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return Issued(b.sign(self.key, hashes.SHA256()), key)

    def sign_csr(self, csr_pem: str, *, days: int = 365) -> str:
        """The PEM chain (leaf, then this CA) for a station's CSR, as CertificateSigned carries it."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise ValueError("the CSR's signature is not valid")
        now = datetime.now(UTC)
        cert = (self._builder(csr.subject, csr.public_key(), now - timedelta(hours=1), now + timedelta(days=days))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode() + self.cert_pem


def server_context(server: Issued, *, client_ca: Authority | None = None,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A server-side context; `client_ca` asks for (and checks) client certificates (profile 3)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if max_version is not None:
        with warnings.catch_warnings():   # old versions are deprecated: that is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = max_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")   # let OpenSSL offer the old protocol at all
    with tempfile.TemporaryDirectory() as d:
        cert, key = server.write(Path(d), "server")
        ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca.cert_pem)
    return ctx
