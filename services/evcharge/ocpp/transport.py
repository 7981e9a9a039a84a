"""Connection settings from `ocpp.yaml` shared by the protocol adapters: the basic-auth
password (security profiles 1/2), the Authorization header and the TLS context (2/3).

(The 2.0.1 service still has its own copies of these in `service.py`; the OCPP 1.6 service
uses this module.)
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

from ..common.config import ConfigError
from .config import OcppConfig


def read_password(cfg: OcppConfig) -> str | None:
    if cfg.security_profile == 0 or not cfg.basic_auth_password_file:
        return None
    try:
        pw = Path(cfg.basic_auth_password_file).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(cfg.basic_auth_password_file, "basic_auth_password_file",
                          f"cannot read: {e.strerror or e}") from None
    if not 16 <= len(pw) <= 40:
        raise ConfigError(cfg.basic_auth_password_file, "basic_auth_password_file",
                          f"the password must be 16..40 characters (OCPP BasicAuthPassword), got {len(pw)}")
    return pw


def auth_headers(cfg: OcppConfig, password: str | None) -> dict[str, str]:
    if password is None:
        return {}
    cred = base64.b64encode(f"{cfg.station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {cred}"}


def ssl_context(cfg: OcppConfig) -> ssl.SSLContext | None:
    if not cfg.csms_url.startswith("wss://"):
        return None
    ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.security_profile == 3:
        ctx.load_cert_chain(cfg.client_cert_file, cfg.client_key_file)
    return ctx
