"""A03: when the station asks for a new certificate by itself, for both protocols (pure timing).

The station looks at its own certificate once per RENEW_CHECK_S while booted. When it expires within
`certificate_renew_days` (ocpp.yaml) the caller sends SignCertificate with a new key, as for a trigger;
if no CertificateSigned replaces the certificate, it asks again after RENEW_RETRY_S.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .certificates import CertificateStore

RENEW_CHECK_S = 60.0
RENEW_RETRY_S = 3600.0


@dataclass
class RenewalTimer:
    renew_days: int
    next_look_at: float = 0.0   # monotonic

    def due(self, store: CertificateStore | None, now_mono: float, *, busy: bool = False) -> datetime | None:
        """The station certificate's expiry when it is time to ask for a new one, else None.
        Without a loaded store there is no station certificate (nor a reason to load `cryptography`)."""
        if store is None or busy or now_mono < self.next_look_at:
            return None
        self.next_look_at = now_mono + RENEW_CHECK_S
        chain = store.station_chain()
        if not chain:
            return None
        expires = chain[0].not_valid_after_utc
        if expires - datetime.now(UTC) > timedelta(days=self.renew_days):
            return None
        self.next_look_at = now_mono + RENEW_RETRY_S
        return expires
