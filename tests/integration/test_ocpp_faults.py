"""ChargeX minimum required error codes as OCPP 2.0.1 NotifyEvent, from real board faults."""

from __future__ import annotations

from evcharge.common import names
from evcharge.common.bus import call


def problems(csms) -> list[dict]:
    return [d for p in csms.received("NotifyEvent") for d in p["eventData"] if d["variable"]["name"] == "Problem"]


async def test_rcd_trip_is_reported_as_cx002_and_cleared(start_ocpp, csms):
    stack = await start_ocpp()
    await stack.sim(1, "SetRcdTripped", "b", True)
    (ev,) = await csms.wait_for("NotifyEvent", where=lambda p: any(d.get("techCode") == "CX002"
                                                                    for d in p["eventData"]))
    (data,) = [d for d in ev["eventData"] if d["techCode"] == "CX002"]
    assert data["trigger"] == "Alerting" and data["actualValue"] == "true" and not data.get("cleared")
    assert data["component"] == {"name": "RCD", "evse": {"id": 1, "connectorId": 1}}
    assert "RcdTrip" in data["techInfo"]
    await stack.sim(1, "SetRcdTripped", "b", False)
    await call(stack.bus, names.BOARD, names.board_connector_path(1), names.BOARD_CONNECTOR_IFACE, "ResetFault")
    await csms.wait_until(lambda: [d for d in problems(csms) if d["techCode"] == "CX002" and d.get("cleared")],
                          what="CX002 cleared")
    raised = [d for d in problems(csms) if d["techCode"] == "CX002" and not d.get("cleared")]
    assert len(raised) == 1   # told once, not on every property change
    ids = [d["eventId"] for d in problems(csms)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_fault_raised_while_offline_is_reported_after_reconnect(start_ocpp, csms):
    stack = await start_ocpp()
    await csms.stop()
    await stack.sim(2, "SetRcdTripped", "b", True)
    await stack.wait(lambda: stack.conn(2), lambda c: "RcdTrip" in c["Faults"], what_name="evse sees the fault", timeout=20)
    await csms.start()
    await csms.wait_until(lambda: [d for d in problems(csms) if d["techCode"] == "CX002"
                                   and d["component"]["evse"]["id"] == 2], timeout=30, what="CX002 after reconnect")
