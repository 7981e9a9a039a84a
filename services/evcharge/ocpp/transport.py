"""The basic-auth password from `ocpp.yaml` (security profiles 1 and 2), read the same way by
both protocols' services. (The Authorization header and TLS context come from `security.py` and
`tls.py`.)
"""

from __future__ import annotations

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
