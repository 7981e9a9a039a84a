"""Customer information (N09 get, N10 clear) for one idToken, customerIdentifier or certificate (pure).

What this station keeps about a customer: the authorization cache entry of the token and the
transactions in progress it authorized. The CSMS's local list is the CSMS's own data and is
neither reported nor cleared (N10.FR.03: clear everything "except from LocalList"). A customer
identifier or a customer certificate is not stored anywhere here, so those have no data.

NotifyCustomerInformation.customerData is string[512]; a report longer than that is split into
parts, `tbc` true on all but the last (N09.FR.04).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PART = 512
NO_DATA = "No customer information found"


@dataclass(frozen=True)
class Request:
    report: bool
    clear: bool
    id_token: dict[str, str] | None = None
    customer_identifier: str | None = None
    customer_certificate: dict[str, str] | None = None


def check(req: Request) -> tuple[str, str | None]:
    """CustomerInformationResponse status: exactly one of the three identifications (N09.FR.09)."""
    given = sum(x is not None for x in (req.id_token, req.customer_identifier, req.customer_certificate))
    if given != 1:
        return "Rejected", "exactly one of idToken, customerIdentifier, customerCertificate is required"
    if not (req.report or req.clear):
        return "Rejected", "neither report nor clear is set"
    return "Accepted", None


def collect(req: Request, cache_entries: dict[str, dict[str, Any]],
            tx_tokens: dict[str, dict[str, str]]) -> list[str]:
    """Human-readable lines about the customer: the cache entry, the ongoing transactions."""
    if req.id_token is None:
        return []
    token = req.id_token.get("idToken", "")
    lines = []
    entry = cache_entries.get(token.casefold())
    if entry is not None:
        lines.append(f"AuthorizationCache idToken={token} status={entry.get('status')}"
                     f" expires={entry.get('expires')}")
    for tx_id, id_token in sorted(tx_tokens.items()):
        if id_token.get("idToken", "").casefold() == token.casefold():
            lines.append(f"Transaction {tx_id} idToken={token} type={id_token.get('type')}")
    return lines


def to_parts(lines: list[str]) -> list[str]:
    """customerData parts of at most MAX_PART characters; NO_DATA when there is nothing."""
    text = "\n".join(lines) if lines else NO_DATA
    return [text[i:i + MAX_PART] for i in range(0, len(text), MAX_PART)]


def notifications(parts: list[str], request_id: int, generated_at: str) -> list[dict[str, Any]]:
    return [{"data": p, "tbc": i < len(parts) - 1, "seqNo": i, "generatedAt": generated_at,
             "requestId": request_id} for i, p in enumerate(parts)]


__all__ = ["MAX_PART", "NO_DATA", "Request", "check", "collect", "notifications", "to_parts"]
