"""OCPP 1.6J Local Authorization List Management (SendLocalList, GetLocalListVersion) onto the
auth service's CSMS list (`UpdateLocalList`, 2.0.1 AuthorizationData). Pure.

The idTag type rule: 1.6 idTags have no type, the auth service keys tokens by (type, token).
A card at the reader is a hex UID with a type, so an idTag that is a UID in hex is listed
under that reader type: 8, 14 or 20 hex digits (a 4, 7 or 10 byte UID) -> ISO14443, 16 hex
digits (8 bytes) -> ISO15693. Any other idTag is a token the Central System issued -> Central.
(Upper/lower case does not matter for hex UIDs: the auth service normalises them.)

idTagInfo: status as is (the 1.6 AuthorizationStatus values are 2.0.1 ones), expiryDate ->
cacheExpiryDateTime (a 1.6 date-time without offset is read as UTC), parentIdTag is not kept
(the auth service has no groups). A Differential entry without idTagInfo removes the idTag.
"""

from __future__ import annotations

import string
from typing import Any

from .maintenance import utc_time

HEX = frozenset(string.hexdigits)
# The auth service's list capacity (auth.locallist.MAX_ENTRIES) and the entries per SendLocalList:
# 500 entries of ~90 bytes stay below the 65000-byte frame limit of v16.adapter.
LOCAL_AUTH_LIST_MAX_LENGTH = 1000
SEND_LOCAL_LIST_MAX_LENGTH = 500


def idtag_type(id_tag: str) -> str:
    """The auth service's token type for a 1.6 idTag (the rule above)."""
    if id_tag and set(id_tag) <= HEX:
        if len(id_tag) in (8, 14, 20):
            return "ISO14443"
        if len(id_tag) == 16:
            return "ISO15693"
    return "Central"


def authorization_data(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """1.6 AuthorizationData (idTag, idTagInfo) as the 2.0.1 AuthorizationData the auth service
    takes. ValueError for an expiryDate that does not parse (the auth service checks the rest)."""
    out = []
    for e in entries:
        tag = str(e.get("idTag", ""))
        item: dict[str, Any] = {"idToken": {"idToken": tag, "type": idtag_type(tag)}}
        info = e.get("idTagInfo")
        if info is not None:
            token_info: dict[str, Any] = {"status": info.get("status")}
            expiry = utc_time(info.get("expiryDate"), "expiryDate")
            if expiry:
                token_info["cacheExpiryDateTime"] = expiry
            item["idTokenInfo"] = token_info
        out.append(item)
    return out
