"""supportedAppProtocol negotiation (ISO 15118-2 section 8.2, DIN 70121 section 8.6): pure.

The EV lists the protocols it speaks with a priority (1 = most preferred); the SECC picks the one it
supports with the best EV priority. A matching namespace with an older minor version is accepted with
OK_SuccessfulNegotiationWithMinorDeviation; a different major version is not a match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evcharge import exi

#: Protocols this SECC implements: name -> (namespace, major, minor).
SUPPORTED: dict[str, tuple[str, int, int]] = {
    "iso2": (exi.NS_ISO2, 2, 0),
    "din": (exi.NS_DIN, 2, 0),
}


@dataclass(frozen=True)
class Negotiation:
    response: dict[str, Any]
    protocol: str | None      # "iso2", "din" or None when nothing matched
    namespace: str | None


def negotiate(request: dict[str, Any], enabled: tuple[str, ...] = ("iso2", "din")) -> Negotiation:
    """The supportedAppProtocolRes for a decoded supportedAppProtocolReq (the dict under the root element)."""
    candidates = []
    for entry in request.get("AppProtocol", []):
        for name in enabled:
            ns, major, minor = SUPPORTED[name]
            if entry.get("ProtocolNamespace") == ns and entry.get("VersionNumberMajor") == major:
                code = ("OK_SuccessfulNegotiation" if entry.get("VersionNumberMinor") == minor
                        else "OK_SuccessfulNegotiationWithMinorDeviation")
                candidates.append((entry.get("Priority", 255), entry["SchemaID"], code, name, ns))
    if not candidates:
        return Negotiation({"supportedAppProtocolRes": {"ResponseCode": "Failed_NoNegotiation"}}, None, None)
    candidates.sort(key=lambda c: (c[0], enabled.index(c[3])))
    _prio, schema_id, code, name, ns = candidates[0]
    return Negotiation({"supportedAppProtocolRes": {"ResponseCode": code, "SchemaID": schema_id}}, name, ns)
