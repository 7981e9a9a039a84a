"""ISO 15118-2 AC with the whole charger: the V2G service on the evse/board/energy/meter/auth services.

The EV simulator plugs into the simulated board (S2 open), sees 5 % PWM, finds the SECC with SDP
and runs the session; authorization is EIM (an RFID tap through the auth and evse services);
PowerDelivery(Start) makes the evse service offer current, the EV closes S2 and the board closes
the contactor; the meter counts energy; SessionStop ends the session and unplugging ends it on the
evse side too. The negative path checks that a protocol error leaves the connector safe.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
import yaml
from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sil.supervisor import ServiceSpec

from .test_iso15118 import free_udp_port

EVSE_HLC = {"connectors": [{"id": 1, "max_current_a": 32, "hlc": True}, {"id": 2, "max_current_a": 32}]}


async def start_stack(stack, tmp_path, power: dict | None = None, evse: dict | None = None, **v2g):
    await stack.start(evse_extra=evse or EVSE_HLC)
    if v2g.get("dc"):
        pcfg = tmp_path / "power.yaml"
        pcfg.write_text(yaml.safe_dump({"connector_id": 1, **(power or {})}))
        await stack.sup.start(ServiceSpec("power", ["--config", str(pcfg)]))
    port = free_udp_port()
    cfg = tmp_path / "v2g.yaml"
    cfg.write_text(yaml.safe_dump({"controller": "evse", "interface": "lo", "address": "::1", "sdp_port": port,
                                   "connector_id": 1, **v2g}))
    await stack.sup.start(ServiceSpec("iso15118", ["--config", str(cfg)]))
    return ["--sdp-address", "::1", "--sdp-port", str(port), "--connector", "1"]


async def spawn_ev(stack, *args: str):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evcharge.sim.ev", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "EVCHARGE_BUS_ADDRESS": stack.sup.bus_address})


async def finish(proc) -> dict:
    import json

    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = out.decode().strip().splitlines()
    assert lines, err.decode()[-3000:]
    res = json.loads(lines[-1])
    res["stderr"] = err.decode()
    return res


def evse_ended(stack) -> list:
    """The evse service's SessionEnded signals (the V2G service has its own)."""
    return [s for s in stack.signals_named("SessionEnded") if s[0].startswith(names.EVSE_PATH)]


async def v2g(stack) -> dict:
    return await get_all(stack.bus, names.V2G, names.V2G_PATH, names.V2G)


async def test_iso2_ac_session_through_the_charger(stack, tmp_path):
    ev_args = await start_stack(stack, tmp_path)
    # 100 x 0.1 s of ChargingStatus: the contactor stays closed long enough to be seen on a loaded machine
    proc = await spawn_ev(stack, *ev_args, "--loops", "100", "--cycle-s", "0.1")
    # 5 % PWM once the EV is in B; the HLC session then waits for EIM (Authorization Ongoing)
    await stack.wait(lambda: stack.board(1), lambda b: b["CpState"] == "B" and b["PwmDutyPct"] == 5.0,
                     what_name="5 % PWM in B")
    await stack.wait(lambda: stack.conn(1), lambda c: c["HlcProtocol"] == "iso2", what_name="HLC started")
    assert (await stack.board(1))["ContactorClosed"] is False
    await stack.tap("04A1B2C3")
    b = await stack.wait(lambda: stack.board(1), lambda b: b["ContactorClosed"], timeout=30,
                         what_name="contactor closed after PowerDelivery(Start)")
    assert b["CpState"] == "C" and b["PwmDutyPct"] == 5.0
    assert (await stack.conn(1))["State"] == "Charging"
    res = await finish(proc)
    assert res["ok"], res
    assert [r[0] for r in res["requests"]][-3:] == ["ChargingStatusReq", "PowerDeliveryReq", "SessionStopReq"]
    ended = await stack.wait(lambda: asyncio.sleep(0, evse_ended(stack)), lambda s: s, what_name="SessionEnded")
    _path, _member, (_sid, reason, energy_wh, token) = ended[-1]
    assert reason == "StoppedByEV" and token == "04A1B2C3" and energy_wh > 0
    b = await stack.board(1)
    assert not b["ContactorClosed"] and b["CpState"] == "A" and b["PwmMode"] == "high"
    opened = [s for s in stack.signals_named("ContactorChanged") if s[2][0] is False]
    assert opened and opened[0][2][1] == "EvNotReady"  # the EV left C after PowerDelivery(Stop)
    props = await v2g(stack)
    assert props["LastStopReason"] == "SessionStop(Terminate)" and props["SessionId"] == res["session_id"]
    events = [s[2][1] for s in stack.signals_named("SessionEvent")]
    for e in ("HlcStarted", "Authorized", "HlcPowerDelivery", "ChargingStarted", "HlcStopped"):
        assert e in events, events


async def test_protocol_error_leaves_the_connector_safe(stack, tmp_path):
    ev_args = await start_stack(stack, tmp_path)
    proc = await spawn_ev(stack, *ev_args, "--loops", "40", "--cycle-s", "0.1", "--stay-plugged",
                          "--misbehave", "wrong_sid@ChargingStatusReq")
    await stack.wait(lambda: stack.conn(1), lambda c: c["HlcProtocol"] == "iso2", what_name="HLC started")
    await stack.tap("04A1B2C3")
    res = await finish(proc)
    assert not res["ok"] and "FAILED_UnknownSession" in res["error"]
    # the EV stays plugged in B: contactor open, PWM back to X1 (no 5 %: the session is stopped)
    b = await stack.wait(lambda: stack.board(1), lambda b: not b["ContactorClosed"] and b["PwmMode"] == "high",
                         timeout=8, what_name="safe state")
    assert b["CpState"] == "B"
    c = await stack.conn(1)
    assert c["State"] == "Finishing" and c["StopReason"] == "Other"
    assert "FAILED_UnknownSession" in (await v2g(stack))["LastStopReason"]
    assert "FAILED_UnknownSession: wrong SessionID" in stack.sup.log_path("iso15118").read_text()


async def power(stack) -> dict:
    return await get_all(stack.bus, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH, names.POWER_SUPPLY)


async def isolation(stack) -> dict:
    return await get_all(stack.bus, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH, names.POWER_SUPPLY_ISOLATION_IFACE)


@pytest.mark.parametrize("protocol", ["din", "iso2"])
async def test_dc_session_drives_the_power_supply(stack, tmp_path, protocol):
    """DIN 70121 DC (started with evchargectl) and ISO 15118-2 DC: CableCheck runs the isolation
    monitor, PreCharge / CurrentDemand set the supply's output, seen on D-Bus with the contactor."""
    ev_args = await start_stack(stack, tmp_path, dc=True)
    port = ev_args[ev_args.index("--sdp-port") + 1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evcharge.cli", "ev", "hlc", "1", "--protocol", protocol, "--dc", "--loops", "30",
        "--sdp-port", port, "--json", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "EVCHARGE_BUS_ADDRESS": stack.sup.bus_address})
    await stack.wait(lambda: stack.conn(1), lambda c: c["HlcProtocol"] == protocol, what_name="HLC session started")
    await stack.tap("04A1B2C3")
    await stack.wait(lambda: stack.board(1), lambda b: b["ContactorClosed"], timeout=15, what_name="contactor")
    # the EV asks for 400 V / 50 A (sim/evcc.py): the supply delivers them behind the closed contactor
    p = await stack.wait(lambda: power(stack), lambda p: p["PresentCurrentA"] > 45, timeout=15,
                         what_name="DC current flowing")
    assert p["Enabled"] and abs(p["PresentVoltageV"] - 400) < 1 and p["CurrentLimitA"] == 50
    assert (await stack.board(1))["ContactorClosed"]
    assert (await isolation(stack))["Status"] == "Valid"
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, (out.decode(), err.decode()[-2000:])
    res = json.loads(out.decode().strip().splitlines()[-1])
    names_sent = [r[0] for r in res["requests"]]
    auth = "ContractAuthenticationReq" if protocol == "din" else "AuthorizationReq"
    for req in (auth, "CableCheckReq", "PreChargeReq", "CurrentDemandReq", "WeldingDetectionReq", "SessionStopReq"):
        assert req in names_sent, names_sent
    ended = await stack.wait(lambda: asyncio.sleep(0, evse_ended(stack)), lambda s: s, what_name="SessionEnded")
    assert ended[-1][2][1] == "StoppedByEV"
    assert not (await stack.board(1))["ContactorClosed"]
    p = await stack.wait(lambda: power(stack), lambda p: not p["Enabled"] and p["PresentCurrentA"] == 0,
                         what_name="supply off")
    log = stack.sup.log_path("power").read_text()
    assert "isolation Valid" in log and "DC output on" in log and "DC output off" in log


async def test_cable_check_failure_ends_safely(stack, tmp_path):
    """The isolation monitor measures a fault: CableCheckRes FAILED, the session stops, the
    supply stays off, the contactor never closes, PWM falls back to X1."""
    ev_args = await start_stack(stack, tmp_path, power={"sim_isolation_ohm": 10_000.0}, dc=True)
    proc = await spawn_ev(stack, *ev_args, "--protocol", "din", "--dc", "--stay-plugged")
    await stack.wait(lambda: stack.conn(1), lambda c: c["HlcProtocol"] == "din", what_name="HLC started")
    await stack.tap("04A1B2C3")
    res = await finish(proc)
    assert not res["ok"] and res["responses"][-1][:2] == ["CableCheckRes", "FAILED"], res
    b = await stack.wait(lambda: stack.board(1), lambda b: b["PwmMode"] == "high", timeout=8, what_name="X1")
    assert not b["ContactorClosed"] and b["CpState"] == "B"
    assert not [s for s in stack.signals_named("ContactorChanged") if s[2][0] is True]
    p = await power(stack)
    assert not p["Enabled"] and p["PresentCurrentA"] == 0
    c = await stack.conn(1)
    assert c["State"] == "Finishing" and c["StopReason"] == "Other"
    assert "isolation Fault: 10000 ohm at 500 V" in stack.sup.log_path("power").read_text()
    assert "CableCheck failed: isolation fault" in stack.sup.log_path("iso15118").read_text()


@pytest.mark.parametrize("dc,misbehave,v2g_cfg,reason", [
    (False, "unexpected@ChargingStatusReq#20", {}, "FAILED_SequenceError: ServiceDiscoveryReq not expected"),
    (False, "invalid_exi@ChargingStatusReq#20", {}, "schema-invalid EXI body"),
    (True, "drop@CurrentDemandReq#20", {}, "TCP connection closed by the EV"),
    (False, "stall@ChargingStatusReq#20", {"sequence_timeout_s": 1.0}, "sequence timeout"),
], ids=["sequence-error", "invalid-exi", "tcp-drop", "ev-timeout"])
async def test_protocol_failure_while_charging_ends_safely(stack, tmp_path, dc, misbehave, v2g_cfg, reason):
    """The EV breaks the session while energy flows (contactor closed): the SECC ends it, the evse
    service stops the session, the board opens the contactor and shows X1 until unplug."""
    ev_args = await start_stack(stack, tmp_path, dc=dc, **v2g_cfg)
    proc = await spawn_ev(stack, *ev_args, "--protocol", "iso2", *(["--dc"] if dc else []), "--loops", "40",
                          "--cycle-s", "0.1", "--stay-plugged", "--stall-wait-s", "5", "--misbehave", misbehave)
    await stack.wait(lambda: stack.conn(1), lambda c: c["HlcProtocol"] == "iso2", what_name="HLC started")
    await stack.tap("04A1B2C3")
    await stack.wait(lambda: stack.board(1), lambda b: b["ContactorClosed"], timeout=15, what_name="contactor closed")
    res = await finish(proc)
    assert not res["ok"], res
    b = await stack.wait(lambda: stack.board(1), lambda b: not b["ContactorClosed"] and b["PwmMode"] == "high",
                         timeout=15, what_name="safe state")
    assert b["CpState"] in ("B", "C") and not b["Faults"]
    c = await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Finishing", timeout=10, what_name="Finishing")
    assert c["StopReason"] == "Other" and c["OfferedCurrentA"] == 0
    assert reason in (await v2g(stack))["LastStopReason"]
    assert reason in stack.sup.log_path("iso15118").read_text()
    assert "HlcStopped" in stack.sup.log_path("evse").read_text()
    if dc:
        await stack.wait(lambda: power(stack), lambda p: not p["Enabled"] and p["PresentCurrentA"] == 0
                         and p["PresentVoltageV"] == 0, what_name="supply off and discharged")


async def test_protocol_failure_with_basic_fallback_goes_to_nominal_pwm(stack, tmp_path):
    """hlc_error_fallback: basic: the TCP drop opens the contactor, X1 for 3 s, then the nominal
    duty cycle of basic charging (the EV, back in B, may charge the IEC 61851-1 way)."""
    duties: list[float] = []

    def on_board(msg):
        if msg.member == "PropertiesChanged" and msg.path == names.board_connector_path(1) \
                and "PwmDutyPct" in msg.body[1]:
            duties.append(msg.body[1]["PwmDutyPct"].value)

    stack.bus.add_message_handler(on_board)
    evse = {"connectors": [{"id": 1, "max_current_a": 32, "hlc": True, "hlc_error_fallback": "basic"},
                           {"id": 2, "max_current_a": 32}]}
    ev_args = await start_stack(stack, tmp_path, evse=evse)
    proc = await spawn_ev(stack, *ev_args, "--loops", "40", "--cycle-s", "0.1", "--stay-plugged",
                          "--misbehave", "drop@ChargingStatusReq#20")
    await stack.wait(lambda: stack.conn(1), lambda c: c["HlcProtocol"] == "iso2", what_name="HLC started")
    await stack.tap("04A1B2C3")
    await stack.wait(lambda: stack.board(1), lambda b: b["ContactorClosed"], timeout=15, what_name="contactor closed")
    res = await finish(proc)
    assert not res["ok"], res
    b = await stack.wait(lambda: stack.board(1), lambda b: b["PwmMode"] == "pwm" and b["PwmDutyPct"] > 50,
                         timeout=15, what_name="nominal PWM")
    assert abs(b["PwmDutyPct"] - 32 / 0.6) < 0.1 and not b["DigitalCommunication"]
    assert not b["ContactorClosed"] and b["CpState"] == "B"  # the EV stays in B
    steps = [d for i, d in enumerate(duties) if i == 0 or d != duties[i - 1]]
    assert steps[-3:] == [5.0, 100.0, steps[-1]], steps  # 5 % -> X1 -> nominal, never straight
    c = await stack.conn(1)
    assert c["State"] != "Finishing" and c["HlcProtocol"] == "" and c["StopReason"] == ""
    log = stack.sup.log_path("evse").read_text()
    assert "V2G session failed (TCP connection closed by the EV); falling back to basic charging" in log
