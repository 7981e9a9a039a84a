"""OCPP 1.6J Core profile: the real stack (ocpp with `protocol: ocpp1.6`) against the 1.6 test
Central System (evcharge.sim.csms16). Names follow the OCTT 1.6 test-case areas where one fits.
"""

from __future__ import annotations

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all
from ocpp.exceptions import OCPPError

CARD = "04A1B2C3"  # in the auth service's local list (conftest)


async def ocpp_props(stack) -> dict:
    return await get_all(stack.bus, names.OCPP, names.OCPP_PATH, names.OCPP)


async def test_boot_accepted_status_notifications_and_heartbeat(start_ocpp16, csms16):
    csms16.behaviour.boot_interval = 1
    stack = await start_ocpp16()
    (boot,) = csms16.received("BootNotification")
    assert boot["chargePointVendor"] == "evcharge" and boot["chargePointModel"] == "evcharge-ac"
    assert csms16.paths[0].endswith("/evcharge-001")
    statuses = {p["connectorId"]: p for p in csms16.received("StatusNotification")}
    assert set(statuses) == {0, 1, 2}
    assert all(p["status"] == "Available" and p["errorCode"] == "NoError" for p in statuses.values())
    await csms16.wait_for("Heartbeat", 2, timeout=10)
    props = await ocpp_props(stack)
    assert props["BootStatus"] == "Accepted" and props["Connected"] and props["HeartbeatIntervalS"] == 1
    assert csms16.connections["evcharge-001"].subprotocol == "ocpp1.6"
