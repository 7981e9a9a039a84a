"""TLS for security profiles 2 and 3 (OCPP 2.0.1 A00): the client context and what a failure means.

- TLS 1.2 or newer only (A00.FR.314/417); TLS 1.2 cipher suites limited to the ones the
  security specification lists (AES-GCM with ECDHE-ECDSA, ECDHE-RSA or RSA key exchange);
  TLS 1.3 suites as OpenSSL offers them.
- The CSMS certificate is checked against the installed CSMS root certificates only, never the
  system store when roots are installed (A00.FR.309/310), including the host name.
- Profile 3 presents the charging station certificate (A00.FR.401).
"""

from __future__ import annotations

import ssl
from pathlib import Path

# A00.FR.318/415: at least these (TLS 1.2 names as OpenSSL spells them).
TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384",
))


def client_context(roots_pem: str, *, cert_file: Path | None = None, key_file: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if roots_pem:
        ctx.load_verify_locations(cadata=roots_pem)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert_file is not None and key_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


def failure_event(exc: BaseException) -> tuple[str, str] | None:
    """The security event (type, techInfo) a failed connection attempt stands for, if any."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return "InvalidCsmsCertificate", (e.verify_message or str(e))[:255]
        if isinstance(e, ssl.SSLError):
            reason = (getattr(e, "reason", "") or str(e)).upper()
            if "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason or "WRONG_SSL_VERSION" in reason \
                    or "VERSION_TOO_LOW" in reason:
                return "InvalidTLSVersion", reason[:255]
            if "NO_SHARED_CIPHER" in reason or "HANDSHAKE_FAILURE" in reason or "NO_CIPHERS" in reason:
                return "InvalidTLSCipherSuite", reason[:255]
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            return "FailedToAuthenticateAtCsms", f"HTTP {status}"
        e = e.__cause__ or e.__context__
    return None

