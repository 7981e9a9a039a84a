"""The station's certificate store (OCPP 2.0.1 A02/A03, M03-M05): files in the state directory.

Layout under `<state_dir>/certs/`:

    <RootType>/<sha256 of the DER>.pem   installed roots (CSMSRootCertificate, ManufacturerRootCertificate,
                                         V2GRootCertificate, MORootCertificate)
    station/cert.pem, station/key.pem    the charging station certificate chain (leaf first) and its key
    pending/key.pem, pending/csr.pem     the key of the last CSR, waiting for CertificateSigned

Private keys are generated here, written with mode 0600 and never sent anywhere: a CSR carries
only the public key. Every write goes through a temp file, fsync and rename, so a power cut
leaves the old or the new file, never half of one.

At the first start the store is seeded from the configuration (`ca_file` as CSMS roots, the
configured client certificate and key as the station certificate); after that the store is the
truth, so a root the CSMS deleted stays deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ..common.config import ConfigError
from ..common.persist import write_private

ROOT_TYPES = ("CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate")
# GetInstalledCertificateIds types this store can answer (V2GCertificateChain belongs to the V2G service).
LISTABLE = ROOT_TYPES
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
_PEM_RX = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class CertificateError(ValueError):
    """A certificate or chain that must not be installed (the message says why)."""


def parse_pem_chain(pem: str | bytes) -> list[x509.Certificate]:
    data = pem.encode() if isinstance(pem, str) else pem
    blocks = _PEM_RX.findall(data)
    if not blocks:
        raise CertificateError("no PEM certificate found")
    try:
        return [x509.load_pem_x509_certificate(b) for b in blocks]
    except ValueError as e:
        raise CertificateError(f"not a valid X.509 certificate: {e}") from None


def _bit_string(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents (what OCSP's issuerKeyHash hashes)."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> dict[str, str]:
    """OCPP CertificateHashDataType (SHA256) of `cert`; `issuer` defaults to cert (a root)."""
    issuer = issuer or cert
    return {"hashAlgorithm": "SHA256",
            "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(_bit_string(issuer)).hexdigest(),
            "serialNumber": format(cert.serial_number, "x")}


def same_hash(a: dict[str, str], b: dict[str, str]) -> bool:
    keys = ("issuerNameHash", "issuerKeyHash")
    return (a.get("hashAlgorithm") == b.get("hashAlgorithm")
            and all(str(a.get(k, "")).lower() == str(b.get(k, "")).lower() for k in keys)
            and str(a.get("serialNumber", "")).lower().lstrip("0") == str(b.get("serialNumber", "")).lower().lstrip("0"))


def check_key_strength(key: object) -> None:
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise CertificateError(f"RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        raise CertificateError(f"EC key of {key.curve.key_size} bits (at least {MIN_EC_BITS})")


def check_period(cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateError(f"not valid before {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        raise CertificateError(f"expired on {cert.not_valid_after_utc.isoformat()}")


def verify_chain(chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime) -> x509.Certificate:
    """Check each certificate is signed by the next and the last by one of `roots`; the root used."""
    if not roots:
        raise CertificateError("no root certificate installed to verify against")
    for cert in chain:
        check_period(cert, now)
    for child, parent in zip(chain, chain[1:], strict=False):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError(f"{child.subject.rfc4514_string()} is not issued by "
                                   f"{parent.subject.rfc4514_string()}") from None
    last = chain[-1]
    for root in roots:
        if root.fingerprint(hashes.SHA256()) == last.fingerprint(hashes.SHA256()):
            return root
        try:
            last.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        check_period(root, now)
        return root
    raise CertificateError(f"{last.issuer.rfc4514_string()}: not issued by an installed root")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class Installed:
    use: str
    cert: x509.Certificate
    path: Path


class CertificateStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)

    # --- seeding from configuration -------------------------------------------------------------
    def seed(self, ca_file: str, client_cert_file: str, client_key_file: str) -> None:
        marker = self.root / ".seeded"
        if marker.exists():
            return
        if ca_file:
            for cert in parse_pem_chain(Path(ca_file).read_bytes()):
                self._store_root("CSMSRootCertificate", cert)
        if client_cert_file and client_key_file and not self.station_cert_path.exists():
            write_private(self.station_key_path, Path(client_key_file).read_bytes())
            write_private(self.station_cert_path, Path(client_cert_file).read_bytes(), 0o644)
        write_private(marker, b"", 0o644)

    # --- roots ----------------------------------------------------------------------------------
    def roots(self, use: str | None = None) -> list[Installed]:
        out = []
        for t in ROOT_TYPES if use is None else (use,):
            d = self.root / t
            if not d.is_dir():
                continue
            for p in sorted(d.glob("*.pem")):
                try:
                    out.append(Installed(t, x509.load_pem_x509_certificate(p.read_bytes()), p))
                except ValueError:
                    continue  # a file someone put there by hand; never trusted
        return out

    def root_certs(self, *uses: str) -> list[x509.Certificate]:
        return [i.cert for u in uses for i in self.roots(u)]

    def roots_pem(self, use: str) -> str:
        return "".join(i.cert.public_bytes(serialization.Encoding.PEM).decode() for i in self.roots(use))

    def _store_root(self, use: str, cert: x509.Certificate) -> Path:
        name = cert.fingerprint(hashes.SHA256()).hex() + ".pem"
        path = self.root / use / name
        write_private(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return path

    def install_root(self, use: str, pem: str, now: datetime | None = None) -> None:
        """InstallCertificate: a self-signed CA certificate, in its validity period."""
        if use not in ROOT_TYPES:
            raise CertificateError(f"{use} cannot be installed")
        chain = parse_pem_chain(pem)
        if len(chain) != 1:
            raise CertificateError("exactly one root certificate expected")
        cert = chain[0]
        check_period(cert, now or datetime.now(UTC))
        check_key_strength(cert.public_key())
        if not _is_ca(cert):
            raise CertificateError("not a CA certificate (basicConstraints cA is not true)")
        try:
            cert.verify_directly_issued_by(cert)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError("not a self-signed root certificate") from None
        self._store_root(use, cert)

    def installed_ids(self, uses: list[str] | None) -> list[dict]:
        """certificateHashDataChain for GetInstalledCertificateIds (all root types if `uses` is empty)."""
        wanted = [u for u in (uses or LISTABLE) if u in LISTABLE]
        return [{"certificateType": i.use, "certificateHashData": hash_data(i.cert)}
                for u in wanted for i in self.roots(u)]

    def find(self, wanted: dict[str, str]) -> Installed | None:
        for i in self.roots():
            if same_hash(hash_data(i.cert), wanted):
                return i
        return None

    def is_station_certificate(self, wanted: dict[str, str]) -> bool:
        chain = self.station_chain()
        if not chain:
            return False
        issuer = chain[1] if len(chain) > 1 else None
        if issuer is None:
            roots = [r for r in self.root_certs(*ROOT_TYPES) if r.subject == chain[0].issuer]
            issuer = roots[0] if roots else None
        return issuer is not None and same_hash(hash_data(chain[0], issuer), wanted)

    def delete(self, inst: Installed) -> None:
        inst.path.unlink()
        dfd = os.open(inst.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    # --- the station certificate ----------------------------------------------------------------
    @property
    def station_cert_path(self) -> Path:
        return self.root / "station" / "cert.pem"

    @property
    def station_key_path(self) -> Path:
        return self.root / "station" / "key.pem"

    @property
    def pending_key_path(self) -> Path:
        return self.root / "pending" / "key.pem"

    def station_chain(self) -> list[x509.Certificate]:
        try:
            return parse_pem_chain(self.station_cert_path.read_bytes())
        except (OSError, CertificateError):
            return []

    def has_station_certificate(self, now: datetime | None = None) -> bool:
        chain = self.station_chain()
        if not chain or not self.station_key_path.exists():
            return False
        try:
            check_period(chain[0], now or datetime.now(UTC))
        except CertificateError:
            return False
        return True

    def new_csr(self, common_name: str, organization: str) -> str:
        """A fresh EC P-256 key (kept in pending/, 0600) and its PKCS#10 CSR in PEM."""
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
        write_private(self.pending_key_path, _key_pem(key))
        pem = csr.public_bytes(serialization.Encoding.PEM)
        write_private(self.root / "pending" / "csr.pem", pem, 0o644)
        return pem.decode()

    def accept_signed(self, pem: str, roots: list[x509.Certificate], now: datetime | None = None) -> None:
        """CertificateSigned: the chain must carry the pending key and chain up to `roots`."""
        chain = parse_pem_chain(pem)
        leaf = chain[0]
        try:
            key = serialization.load_pem_private_key(self.pending_key_path.read_bytes(), None)
        except (OSError, ValueError):
            raise CertificateError("no certificate signing request is pending") from None
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        if leaf.public_key().public_bytes(serialization.Encoding.DER, pub) != \
                key.public_key().public_bytes(serialization.Encoding.DER, pub):
            raise CertificateError("the certificate is not for the key of the pending request")
        check_key_strength(leaf.public_key())
        verify_chain(chain, roots, now or datetime.now(UTC))
        # Keep the previous pair until the new one has connected (A02: fall back if it does not).
        if self.station_cert_path.exists() and self.station_key_path.exists():
            write_private(self.root / "previous" / "key.pem", self.station_key_path.read_bytes())
            write_private(self.root / "previous" / "cert.pem", self.station_cert_path.read_bytes(), 0o644)
        write_private(self.station_key_path, self.pending_key_path.read_bytes())
        write_private(self.station_cert_path, "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in chain).encode(), 0o644)
        self.pending_key_path.unlink()

    def restore_previous(self) -> bool:
        """Go back to the certificate before the last CertificateSigned (the new one failed)."""
        prev_key, prev_cert = self.root / "previous" / "key.pem", self.root / "previous" / "cert.pem"
        if not (prev_key.exists() and prev_cert.exists()):
            return False
        write_private(self.station_key_path, prev_key.read_bytes())
        write_private(self.station_cert_path, prev_cert.read_bytes(), 0o644)
        prev_key.unlink()
        prev_cert.unlink()
        return True

    def forget_previous(self) -> None:
        for name in ("key.pem", "cert.pem"):
            (self.root / "previous" / name).unlink(missing_ok=True)


def open_store(directory: Path, cfg) -> CertificateStore:  # noqa: ANN001 - OcppConfig (both protocols)
    """The station's certificate store in `directory`, seeded from ocpp.yaml's ca_file and client
    certificate; a file that cannot be used is a configuration error (exit 78) naming its key."""
    store = CertificateStore(directory)
    try:
        store.seed(cfg.ca_file, cfg.client_cert_file, cfg.client_key_file)
    except (OSError, CertificateError) as e:
        key = "ca_file" if cfg.ca_file and (isinstance(e, CertificateError) or cfg.ca_file in str(e)) \
            else "client_cert_file/client_key_file"
        raise ConfigError(cfg.ca_file or cfg.client_cert_file, key,
                          f"cannot use it: {getattr(e, 'strerror', None) or e}") from None
    return store
