"""OCPP 1.6J Local Auth List Management against csms16: SendLocalList (Full / Differential with
versions) and GetLocalListVersion on the auth service's CSMS list, the idTag type rule
(v16/locallist.py: hex UIDs are reader cards, other idTags Central), LocalAuthListEnabled."""

from __future__ import annotations

import asyncio

from evcharge.common import names
from evcharge.common.bus import get_all

CARD = "04A1B2C3"       # in the auth service's configured list (conftest)
LIST_CARD = "0A0B0C0D"  # only in the list the Central System sends


def entry(tag: str, status: str | None = "Accepted", **info) -> dict:
    e: dict = {"idTag": tag}
    if status:
        e["idTagInfo"] = {"status": status, **info}
    return e


async def auth_props(stack) -> dict:
    return await get_all(stack.bus, names.AUTH, names.AUTH_PATH, names.AUTH)


async def send(csms16, version: int, kind: str, entries: list[dict] | None = None) -> str:
    payload: dict = {"listVersion": version, "updateType": kind}
    if entries is not None:
        payload["localAuthorizationList"] = entries
    return (await csms16.call("SendLocalList", payload))["status"]


async def test_send_local_list_versions_and_failures(start_ocpp16, csms16):
    stack = await start_ocpp16()
    r = await csms16.call("GetConfiguration", {"key": ["LocalAuthListEnabled", "LocalAuthListMaxLength",
                                                       "SendLocalListMaxLength", "SupportedFeatureProfiles"]})
    keys = {k["key"]: (k["value"], k["readonly"]) for k in r["configurationKey"]}
    assert keys["LocalAuthListEnabled"] == ("true", False)
    assert keys["LocalAuthListMaxLength"] == ("1000", True) and keys["SendLocalListMaxLength"] == ("500", True)
    assert "LocalAuthListManagement" in keys["SupportedFeatureProfiles"][0].split(",")
    assert (await csms16.call("GetLocalListVersion", {}))["listVersion"] == 0
    assert await send(csms16, 3, "Full", [entry(LIST_CARD.lower()), entry("0E0E0E0E", "Blocked"),
                                          entry("FLEET-7", "Accepted", expiryDate="2099-01-01T00:00:00Z",
                                                parentIdTag="FLEET")]) == "Accepted"
    assert (await csms16.call("GetLocalListVersion", {}))["listVersion"] == 3
    assert (await auth_props(stack))["CsmsListSize"] == 3
    assert await send(csms16, 3, "Differential", [entry("0F0F0F0F")]) == "VersionMismatch"
    assert await send(csms16, 5, "Full", [entry(LIST_CARD), entry(LIST_CARD, "Blocked")]) == "Failed"   # twice
    assert await send(csms16, 5, "Full", [entry(LIST_CARD, "Accepted", expiryDate="tomorrow")]) == "Failed"
    assert await send(csms16, 5, "Full", [entry(f"{n:08X}") for n in range(501)]) == "Failed"   # > 500
    assert await send(csms16, 5, "Full", [entry(LIST_CARD), entry("0E0E0E0E", None)]) == "Failed"  # no idTagInfo
    assert (await csms16.call("GetLocalListVersion", {}))["listVersion"] == 3     # nothing changed
    assert await send(csms16, 4, "Differential", [entry("0E0E0E0E", None), entry("0F0F0F0F")]) == "Accepted"
    props = await auth_props(stack)
    assert props["LocalListVersion"] == 4 and props["CsmsListSize"] == 3
    assert await send(csms16, 6, "Full") == "Accepted"                     # an empty Full clears the list
    props = await auth_props(stack)
    assert props["LocalListVersion"] == 6 and props["CsmsListSize"] == 0


async def test_listed_cards_decide_without_the_central_system(start_ocpp16, csms16):
    """A card the list accepts starts at once (no Authorize); the list overrides the configured
    list (CARD Blocked); an idTag with lower-case hex matches the card the reader reports."""
    stack = await start_ocpp16()
    assert await send(csms16, 1, "Full", [entry(LIST_CARD.lower()), entry(CARD, "Blocked")]) == "Accepted"
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(LIST_CARD)
    (start,) = await csms16.wait_for("StartTransaction")
    assert start["idTag"] == LIST_CARD and start["connectorId"] == 1
    await stack.sim(2, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await stack.wait(lambda: asyncio.sleep(0, stack.signals_named("SessionEvent")),
                     lambda sigs: any(s[2][1] == "TokenRejected" and '"Blocked"' in s[2][2] for s in sigs), 30,
                     "CARD rejected as Blocked")
    assert "Authorize" not in csms16.actions()
    assert len(csms16.received("StartTransaction")) == 1


async def test_local_auth_list_disabled_asks_the_central_system(start_ocpp16, csms16):
    stack = await start_ocpp16()
    assert await send(csms16, 1, "Full", [entry(LIST_CARD)]) == "Accepted"
    r = await csms16.call("ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "false"})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: auth_props(stack), lambda p: not p["LocalListEnabled"], 30, "the list disabled")
    csms16.behaviour.authorize[LIST_CARD] = "Invalid"
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(LIST_CARD)
    (auth,) = await csms16.wait_for("Authorize", timeout=30)
    assert auth == {"idTag": LIST_CARD}
    assert csms16.received("StartTransaction") == []
    # The list is kept while disabled; enabled again it decides.
    assert (await csms16.call("GetLocalListVersion", {}))["listVersion"] == 1
    r = await csms16.call("ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "true"})
    assert r["status"] == "Accepted"
    await stack.wait(lambda: auth_props(stack), lambda p: p["LocalListEnabled"], 30, "the list enabled")
