"""The OCPP firmware signature check (L01.FR.03/04): `signature` (base64) over the whole bundle
file, SHA-256, made with the key of the signing certificate (RSA PKCS#1 v1.5 or ECDSA).

The OCPP service checks the signing certificate against the station's manufacturer roots when
the request arrives (it owns the certificate store); this module only checks that the
downloaded file is what that certificate's holder signed. `cryptography` is imported here, when
a signed request is verified, so the update service does not carry it otherwise.
"""

from __future__ import annotations

import base64
import binascii

CHUNK = 1 << 20


class SignatureError(ValueError):
    """The signature does not verify (or cannot be read): InvalidSignature."""


def check_inputs(signature_b64: str, certificate_pem: str) -> None:
    """Fail early (at the request) on a signature that is not base64 or a certificate that is not
    PEM, so the caller gets an argument error, not an InvalidSignature much later."""
    try:
        base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature is not base64") from None
    if "-----BEGIN CERTIFICATE-----" not in certificate_pem:
        raise SignatureError("the signing certificate is not a PEM certificate")


def verify_file(path: str, signature_b64: str, certificate_pem: str) -> None:
    """Raise SignatureError unless `signature_b64` is a signature of the file's SHA-256 digest by
    the certificate's public key. The file is hashed in chunks (bundles are large)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature is not base64") from None
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as e:
        raise SignatureError(f"the signing certificate cannot be read: {e}") from None
    digest = hashes.Hash(hashes.SHA256())
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    prehashed = utils.Prehashed(hashes.SHA256())
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest.finalize(), padding.PKCS1v15(), prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest.finalize(), ec.ECDSA(prehashed))
        else:
            raise SignatureError(f"unsupported signing key type {type(key).__name__}")
    except InvalidSignature:
        raise SignatureError("the firmware signature does not verify with the signing certificate") from None
