"""Master Pass without a user interface (OCPP 2.0.1 C16, pure).

An idToken whose groupIdToken is AuthCtrlr.MasterPassGroupId (law enforcement, site staff) never
starts a transaction (C16.FR.03); presented while transactions run, it stops all of them with
stoppedReason MasterPass (C16.FR.02: this station has no UI to choose some, so C16.FR.01 and
TC_C_47/48 do not apply).
"""

from __future__ import annotations

from typing import Any

MAX_GROUP_LEN = 36   # IdTokenType.idToken is string[36]
UNUSABLE_STATES = frozenset({"Faulted", "Unavailable"})


def check_group_id(value: str) -> str | None:
    """SetVariables check of MasterPassGroupId (None: fits); empty switches the Master Pass off."""
    return f"at most {MAX_GROUP_LEN} characters" if len(value) > MAX_GROUP_LEN else None


def is_master_pass(group: str | None, master_group: str) -> bool:
    """Does a token of GroupId `group` belong to the Master Pass group? IdTokens compare case-insensitively."""
    return bool(master_group) and bool(group) and group.casefold() == master_group.casefold()


def sessions_to_stop(props: dict[int, dict[str, Any]]) -> list[int]:
    """Connectors (evse properties) with an authorized session that is not stopped yet: all of them (C16.FR.02)."""
    return sorted(cid for cid, p in props.items()
                  if p.get("SessionId") and p.get("SessionToken") and not p.get("StopReason"))


def no_connector_takes(props: dict[int, dict[str, Any]], token: str) -> bool:
    """Will evse ignore this presented token? It gives a token to the session it started, else to a usable
    connector without an authorized session (free, waiting for authorization, or to hold the token for the
    next plug-in); with every usable connector's session authorized by another token it drops it and says
    nothing (evse.service._connector_for_token). A Master Pass (or a card of the group that started a
    session, C09) must still reach the CSMS then."""
    if not props:
        return False
    for p in props.values():
        session_token = p.get("SessionToken") or ""
        authorized = bool(p.get("SessionId")) and bool(session_token)
        if authorized and not p.get("StopReason") and session_token.casefold() == token.casefold():
            return False
        usable = p.get("Available", True) and p.get("State") not in UNUSABLE_STATES
        if usable and not authorized:
            return False
    return True
