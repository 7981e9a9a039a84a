"""AC charging end to end: every service its own process on a private dbus-daemon, sim board.

Each test checks both the D-Bus state the services publish and the simulated hardware
(contactor contacts, PWM the EV sees, current the EV draws).
"""

import asyncio
import math

import pytest
from dbus_fast import DBusError
from evcharge.common import names
from evcharge.common.bus import call

CARD = "04A1B2C3"   # in the test allow list (see Stack.start)
CABLE_32A = 220.0
CABLE_13A = 1500.0


async def charging_session(stack, cid=1, pp=CABLE_32A):
    await stack.sim(cid, "PlugIn", "d", pp)
    await stack.wait(lambda: stack.conn(cid), lambda c: c["State"] == "Preparing", what_name="Preparing")
    await stack.evse(cid, "RemoteStart", "s", f"REMOTE{cid}")
    await stack.wait(lambda: stack.conn(cid), lambda c: c["State"] == "Charging", what_name="Charging")
    await stack.wait(lambda: stack.hw(cid), lambda h: h["ContactorPhysicallyClosed"], what_name="contacts closed")


async def test_plug_rfid_charge_unplug(stack):
    await stack.start()
    await stack.sim(1, "PlugIn", "d", CABLE_32A)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    board = await stack.board(1)
    assert board["PwmMode"] == "high" and not board["ContactorClosed"]  # B1: no PWM before authorization

    await stack.tap(CARD)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging")
    assert conn["SessionToken"] == CARD
    board = await stack.board(1)
    assert board["CpState"] == "C" and board["ContactorClosed"] and board["Locked"]
    assert board["PwmDutyPct"] == pytest.approx(32 / 0.6, abs=1e-3)
    hw = await stack.wait(lambda: stack.hw(1), lambda h: h["EvCurrentA"] > 0)
    assert hw["ContactorPhysicallyClosed"] and hw["EvCurrentA"] == pytest.approx(32, abs=0.01)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["SessionEnergyWh"] > 0, timeout=5)
    session_id = conn["SessionId"]

    await stack.sim(1, "Unplug")
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")
    assert conn["SessionId"] == ""
    board = await stack.wait(lambda: stack.board(1), lambda b: not b["Locked"])
    assert not board["ContactorClosed"] and board["PwmMode"] == "high"
    assert not (await stack.hw(1))["ContactorPhysicallyClosed"]
    ended = [s for s in stack.signals_named("SessionEnded") if s[2][0] == session_id]
    assert len(ended) == 1
    _, reason, energy_wh, token = ended[0][2]
    assert reason == "EVDisconnected" and energy_wh > 0 and token == CARD
    (history,) = await call(stack.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ListSessions", "u", [10])
    assert history[0]["session_id"].value == session_id and history[0]["stop_reason"].value == "EVDisconnected"


async def test_same_card_stops_and_unknown_card_is_rejected(stack):
    await stack.start()
    await stack.sim(1, "PlugIn", "d", CABLE_32A)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    await stack.tap("DEADBEEF")  # not in the allow list
    await stack.wait(lambda: asyncio.sleep(0, stack.signals_named("SessionEvent")),
                     lambda evs: any(e[2][1] == "TokenRejected" for e in evs))
    assert (await stack.conn(1))["State"] == "Preparing"
    await stack.tap(CARD)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging")
    await asyncio.sleep(1.1)  # the reader reports a card again only after it was away
    await stack.tap(CARD)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Finishing")
    assert conn["StopReason"] == "Local"
    hw = await stack.wait(lambda: stack.hw(1), lambda h: not h["ContactorPhysicallyClosed"])
    assert hw["PwmDutyPct"] == 100.0 and hw["EvCurrentA"] == 0


async def test_remote_stop(stack):
    await stack.start(("board", "energy", "evse"))
    await charging_session(stack)
    await stack.evse(1, "Stop", "s", "Remote")
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Finishing")
    assert conn["StopReason"] == "Remote" and conn["OfferedCurrentA"] == 0
    board = await stack.wait(lambda: stack.board(1), lambda b: not b["ContactorClosed"])
    assert board["PwmMode"] == "high" and board["LastOpenReason"] == "OfferWithdrawn"
    assert (await stack.hw(1))["CpVoltageV"] == 9.0  # the EV went back to B on X1
    await stack.wait(lambda: stack.board(1), lambda b: not b["Locked"])
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")
    assert [s[2][1] for s in stack.signals_named("SessionEnded")] == ["Remote"]


async def test_rcd_trip(stack):
    await stack.start(("board", "energy", "evse"))
    await charging_session(stack)
    await stack.sim(1, "SetRcdTripped", "b", True)
    board = await stack.wait(lambda: stack.board(1), lambda b: "RcdTrip" in b["Faults"])
    assert not board["ContactorClosed"] and board["PwmMode"] == "low"  # state F
    assert not (await stack.hw(1))["ContactorPhysicallyClosed"]
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Faulted")
    assert conn["StopReason"] == "GroundFault"
    assert ["RcdTrip"] in [s[2] for s in stack.signals_named("FaultRaised")]
    # Latched: it stays until the RCD is reset and someone clears it.
    (cleared,) = await call(stack.bus, names.BOARD, names.board_connector_path(1), names.BOARD_CONNECTOR_IFACE,
                            "ResetFault")
    assert cleared == []
    await stack.sim(1, "SetRcdTripped", "b", False)
    (cleared,) = await call(stack.bus, names.BOARD, names.board_connector_path(1), names.BOARD_CONNECTOR_IFACE,
                            "ResetFault")
    assert cleared == ["RcdTrip"]
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Finishing")
    assert not (await stack.board(1))["ContactorClosed"]  # the stopped session does not restart


async def test_diode_fault(stack):
    await stack.start(("board", "energy", "evse"))
    await stack.sim(1, "SetDiodePresent", "b", False)
    await stack.sim(1, "PlugIn", "d", CABLE_32A)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    await stack.evse(1, "RemoteStart", "s", "REMOTE1")
    board = await stack.wait(lambda: stack.board(1), lambda b: "DiodeFault" in b["Faults"])
    assert not board["ContactorClosed"] and board["PwmMode"] == "high"
    assert not (await stack.hw(1))["ContactorPhysicallyClosed"]
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Faulted")
    assert conn["StopReason"] == "Other"
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.board(1), lambda b: b["Faults"] == [])  # the faulty EV left
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")


async def test_contactor_welding(stack):
    await stack.start(("board", "energy", "evse"))
    await charging_session(stack)
    await stack.sim(1, "SetContactorWelded", "b", True)
    await stack.evse(1, "Stop", "s", "Remote")
    board = await stack.wait(lambda: stack.board(1), lambda b: "ContactorWelded" in b["Faults"])
    assert not board["ContactorClosed"] and board["ContactorFeedback"] == "closed"
    assert board["PwmMode"] == "low" and board["Locked"]  # live pins: the plug stays locked
    assert (await stack.hw(1))["ContactorPhysicallyClosed"]
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Faulted")


async def test_ev_c_to_b_while_charging(stack):
    await stack.start(("board", "energy", "evse"))
    await charging_session(stack)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await stack.sim(1, "SetEvReady", "b", False)
    await stack.wait(lambda: stack.hw(1), lambda h: not h["ContactorPhysicallyClosed"], timeout=1)
    assert loop.time() - t0 < 0.1  # IEC 61851-1: open within 100 ms of C -> B
    board = await stack.board(1)
    assert board["CpState"] == "B" and board["LastOpenReason"] == "EvNotReady" and board["PwmMode"] == "pwm"
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "SuspendedEV")
    await stack.sim(1, "SetEvReady", "b", True)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging")


async def test_pp_13a_cable_caps_advertised_current(stack):
    await stack.start(("board", "energy", "evse"))
    await charging_session(stack, pp=CABLE_13A)
    board = await stack.board(1)
    assert board["CableMaxCurrentA"] == 13 and board["AdvertisedCurrentA"] == 13
    assert board["PwmDutyPct"] == pytest.approx(13 / 0.6, abs=1e-3)
    assert (await stack.conn(1))["OfferedCurrentA"] == 32  # evse offered more; the board enforced the cable
    hw = await stack.wait(lambda: stack.hw(1), lambda h: h["EvCurrentA"] > 0)
    assert hw["EvCurrentA"] == pytest.approx(13, abs=0.01)


async def test_site_limit_shared_by_two_connectors(stack):
    await stack.start(("board", "energy", "evse"), site_limit_a=32)
    await charging_session(stack, 1)
    assert (await stack.board(1))["AdvertisedCurrentA"] == 32
    await charging_session(stack, 2)
    for cid in (1, 2):
        b = await stack.wait(lambda cid=cid: stack.board(cid), lambda b: b["AdvertisedCurrentA"] == 16)
        assert b["PwmDutyPct"] == pytest.approx(16 / 0.6, abs=1e-3)
        await stack.wait(lambda cid=cid: stack.hw(cid), lambda h: abs(h["EvCurrentA"] - 16) < 0.01)
    total = sum([(await stack.hw(c))["EvCurrentA"] for c in (1, 2)])
    assert total <= 32 + 0.01
    await stack.sim(2, "Unplug")
    # Back to 32 A, within the 5 s a rise of the duty cycle has to wait.
    await stack.wait(lambda: stack.board(1), lambda b: b["AdvertisedCurrentA"] == 32, timeout=8)


async def test_inoperative_refuses_new_sessions(stack):
    await stack.start(("board", "energy", "evse"))
    await stack.evse(1, "SetAvailability", "b", False)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Unavailable")
    await stack.sim(1, "PlugIn", "d", CABLE_32A)
    await stack.wait(lambda: stack.board(1), lambda b: b["CpState"] == "B")
    with pytest.raises(DBusError) as e:
        await stack.evse(1, "RemoteStart", "s", "REMOTE1")
    assert e.value.type == "org.evcharge.Error.InvalidState" and "Inoperative" in e.value.text
    await asyncio.sleep(0.3)
    conn = await stack.conn(1)
    assert conn["State"] == "Unavailable" and conn["SessionId"] == ""
    board = await stack.board(1)
    assert board["PwmMode"] == "high" and not board["ContactorClosed"]
    # Other connectors are unaffected, and the setting survives an evse restart.
    await charging_session(stack, 2)
    starts = stack.sup.starts("evse")
    stack.sup.kill("evse")
    await stack.sup.wait_restarted("evse", starts)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Unavailable" and not c["Available"])
    await stack.evse(1, "SetAvailability", "b", True)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")


async def test_board_makes_ev_safe_when_evse_is_killed(stack):
    await stack.start(("board", "energy", "evse"))
    await charging_session(stack)
    session_id = (await stack.conn(1))["SessionId"]
    timeout_s = (await call(stack.bus, names.BOARD, names.BOARD_PATH, "org.freedesktop.DBus.Properties", "Get",
                            "ss", [names.BOARD, "HeartbeatTimeoutS"]))[0].value
    starts = stack.sup.starts("evse")
    stack.sup.restart_delay_s = 3.0  # keep evse down past the heartbeat timeout
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    stack.sup.kill("evse")
    await stack.wait(lambda: stack.hw(1), lambda h: not h["ContactorPhysicallyClosed"], timeout=timeout_s + 1)
    elapsed = loop.time() - t0
    assert elapsed <= timeout_s + 0.2
    assert "HeartbeatLost" in (await stack.board(1))["Faults"]
    await stack.sup.wait_restarted("evse", starts)
    conn = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", timeout=5)
    assert conn["SessionId"] == session_id  # resumed, not a new session
    assert (await stack.board(1))["Faults"] == []
    await stack.sim(1, "Unplug")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available")
    await asyncio.sleep(0.2)
    ended = [s for s in stack.signals_named("SessionEnded") if s[2][0] == session_id]
    assert len(ended) == 1 and ended[0][2][1] == "EVDisconnected"


@pytest.mark.parametrize("dest,path,iface,member,sig,args,error", [
    (names.BOARD, names.board_connector_path(1), names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", [3.0], "InvalidArgument"),
    (names.BOARD, names.board_connector_path(1), names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", [math.nan], "InvalidArgument"),
    (names.BOARD, names.board_connector_path(1), names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", [81.0], "InvalidArgument"),
    (names.BOARD, names.board_connector_path(1), names.BOARD_SIM_IFACE, "PlugIn", "d", [-1.0], "InvalidArgument"),
    (names.ENERGY, names.ENERGY_PATH, names.ENERGY, "RequestCurrent", "ud", [9, 16.0], "NotFound"),
    (names.ENERGY, names.ENERGY_PATH, names.ENERGY, "RequestCurrent", "ud", [1, 200.0], "InvalidArgument"),
    (names.ENERGY, names.ENERGY_PATH, names.ENERGY, "SetExternalLimit", "usd", [1, "", 10.0], "InvalidArgument"),
    (names.ENERGY, names.ENERGY_PATH, names.ENERGY, "SetExternalLimit", "usd", [1, "ocpp", -1.0], "InvalidArgument"),
    (names.EVSE, names.evse_connector_path(1), names.EVSE_CONNECTOR_IFACE, "Stop", "s", ["Remote"], "InvalidState"),
    (names.EVSE, names.evse_connector_path(1), names.EVSE_CONNECTOR_IFACE, "Stop", "s", ["Bogus"], "InvalidArgument"),
    (names.EVSE, names.evse_connector_path(1), names.EVSE_CONNECTOR_IFACE, "RemoteStart", "s", ["X" * 37], "InvalidArgument"),
    (names.EVSE, names.evse_connector_path(1), names.EVSE_CONNECTOR_IFACE, "Pause", "", [], "InvalidState"),
])
async def test_bad_arguments_get_a_named_error_and_change_nothing(stack, dest, path, iface, member, sig, args, error):
    await stack.start(("board", "energy", "evse"))
    before = [await stack.board(1), await stack.conn(1), await stack.hw(1)]
    with pytest.raises(DBusError) as e:
        await call(stack.bus, dest, path, iface, member, sig, args)
    assert e.value.type == f"org.evcharge.Error.{error}"
    assert e.value.text  # a message a human can act on
    await asyncio.sleep(0.1)
    assert [await stack.board(1), await stack.conn(1), await stack.hw(1)] == before
