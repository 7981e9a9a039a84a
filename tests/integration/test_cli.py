"""evchargectl as a user runs it: a real process against the services on a private bus."""

import asyncio
import importlib.util
import json
import os
import sys
from dataclasses import dataclass

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all

# Meter and auth are started when this checkout has them; the tests assert what the CLI shows
# either way (their data, or that they are not running).
OPTIONAL = [s for s in ("meter", "auth") if importlib.util.find_spec(f"evcharge.{s}.service")]
SERVICES = ["board", "energy", *OPTIONAL, "evse"]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(private_bus, tmp_path):
    # No inherited bus address and no developer's SIL address file: only --bus-address counts.
    env = {k: v for k, v in os.environ.items() if k != "EVCHARGE_BUS_ADDRESS"}
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "xdg")

    async def run(*args: str, address: str | None = private_bus.address, timeout: float = 15) -> Run:
        cmd = [sys.executable, "-m", "evcharge.cli"] + (["--bus-address", address] if address else []) + list(args)
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        return Run(proc.returncode, out.decode(), err.decode())

    return run


async def ok(cli, *args: str) -> Run:
    r = await cli(*args)
    assert r.code == 0, f"evchargectl {' '.join(args)} -> {r.code}\n{r.out}\n{r.err}"
    return r


async def test_status_readable_and_json(stack, cli):
    await stack.start(SERVICES)
    r = await ok(cli, "status")
    assert "connector 1: Available" in r.out and "connector 2: Available" in r.out
    assert "board up" in r.out and "evse up" in r.out and "energy up" in r.out
    assert "CP A" in r.out and "contactor open" in r.out

    doc = (await ok(cli, "status", "--json")).json()  # --json after the noun as well as before it
    before = (await ok(cli, "--json", "status")).json()
    assert doc.keys() == before.keys() == {"bus_address", "services", "board", "site", "auth", "connectors"}
    assert doc["bus_address"] == stack.sup.bus_address
    assert [c["id"] for c in doc["connectors"]] == [1, 2]
    for name in SERVICES:
        assert doc["services"][name] == {"bus_name": f"org.evcharge.{name.capitalize()}1", "running": True,
                                         "pid": stack.sup.pid(name)}
    c1 = doc["connectors"][0]
    assert c1["evse"]["state"] == "Available" and c1["session"] is None
    assert c1["board"]["cp_state"] == "A" and c1["board"]["contactor_closed"] is False
    assert c1["ev"]["plugged_in"] is False
    assert doc["site"]["limit_a"] == 32.0 and doc["site"]["external_limits"] == []
    if "meter" in OPTIONAL:
        assert c1["meter"]["online"] is True and c1["meter"]["power_w"] == 0.0
    if "auth" in OPTIONAL:
        assert doc["auth"]["readers"] == [{"name": "rfid0", "online": True}]
    else:
        assert doc["services"]["auth"]["running"] is False and doc["auth"] is None


async def test_charge_through_the_cli(stack, cli):
    await stack.start(SERVICES)
    await ok(cli, "ev", "plug", "1", "--cable", "20")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing", what_name="Preparing")
    assert (await stack.hw(1))["PpOhm"] == 680.0

    started = (await ok(cli, "--json", "session", "start", "1", "TOKEN-CLI")).json()
    conn = await stack.conn(1)
    assert started == {"connector": 1, "token": "TOKEN-CLI", "session_id": conn["SessionId"]}
    await ok(cli, "ev", "ready", "1", "on")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", what_name="Charging")
    await stack.wait(lambda: stack.board(1), lambda b: b["ContactorClosed"], what_name="contactor closed")

    doc = (await ok(cli, "status", "--json")).json()
    c1 = doc["connectors"][0]
    assert c1["session"]["id"] == started["session_id"] and c1["session"]["token"] == "TOKEN-CLI"
    assert c1["evse"]["state"] == "Charging" and c1["board"]["cp_state"] == "C"
    assert c1["board"]["contactor_closed"] is True and c1["board"]["advertised_current_a"] == 20.0  # cable limit
    assert doc["site"]["allocations_a"]["1"] > 0
    text = (await ok(cli, "status")).out
    assert "connector 1: Charging" in text and "TOKEN-CLI" in text and "contactor closed" in text

    await ok(cli, "session", "pause", "1")
    await stack.wait(lambda: stack.conn(1), lambda c: c["Paused"] and c["State"] == "SuspendedEVSE", what_name="paused")
    await ok(cli, "session", "resume", "1")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Charging", what_name="resumed")

    r = await ok(cli, "session", "stop", "1", "--reason", "Local")
    assert "stop requested (Local)" in r.out
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Finishing" and c["StopReason"] == "Local",
                     what_name="Finishing")
    await stack.wait(lambda: stack.board(1), lambda b: not b["ContactorClosed"], what_name="contactor open")
    await ok(cli, "ev", "unplug", "1")
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Available", what_name="Available")

    sessions = (await ok(cli, "session", "list", "--limit", "5", "--json")).json()["sessions"]
    assert sessions[0]["session_id"] == started["session_id"]
    assert sessions[0]["stop_reason"] == "Local" and sessions[0]["ended_at"] and sessions[0]["token"] == "TOKEN-CLI"
    listing = (await ok(cli, "session", "list")).out
    assert started["session_id"] in listing and "Local" in listing
    assert [s[2][0] for s in stack.signals_named("SessionEnded")] == [started["session_id"]]


async def test_availability_limits_and_sim_faults(stack, cli):
    await stack.start(SERVICES)
    await ok(cli, "connector", "availability", "2", "inoperative")
    await stack.wait(lambda: stack.conn(2), lambda c: not c["Available"] and c["State"] == "Unavailable",
                     what_name="inoperative")
    await ok(cli, "connector", "availability", "2", "operative")
    await stack.wait(lambda: stack.conn(2), lambda c: c["State"] == "Available", what_name="operative")

    assert (await ok(cli, "--json", "energy", "limit", "set", "site", "10", "--source", "test")).json() == \
        {"connector": 0, "source": "test", "limit_a": 10.0}
    energy = await get_all(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY)
    assert energy["ExternalLimits"] == [(0, "test", 10.0)] and energy["EffectiveSiteLimitA"] == 10.0
    assert "site 10.0 A (test)" in (await ok(cli, "status")).out
    await ok(cli, "energy", "limit", "clear", "site", "--source", "test")
    energy = await get_all(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY)
    assert energy["ExternalLimits"] == []

    await ok(cli, "ev", "plug", "1")
    await ok(cli, "ev", "rcd", "1", "trip")
    await stack.wait(lambda: stack.board(1), lambda b: "RcdTrip" in b["Faults"], what_name="RCD fault")
    assert "RcdTrip" in (await ok(cli, "status")).out
    assert (await ok(cli, "--json", "board", "reset-fault", "1")).json()["cleared"] == []  # cause still there
    await ok(cli, "ev", "rcd", "1", "clear")
    assert (await ok(cli, "--json", "board", "reset-fault", "1")).json()["cleared"] == ["RcdTrip"]
    assert (await stack.board(1))["Faults"] == []


async def test_auth_commands(stack, cli):
    await stack.start(SERVICES)
    if "auth" not in OPTIONAL:  # this checkout has no auth service: the CLI must say so
        r = await cli("auth", "validate", "04A1B2C3")
        assert r.code == 3 and "auth service (org.evcharge.Auth1) is not running" in r.err
        return
    assert (await ok(cli, "--json", "auth", "validate", "04A1B2C3"))\
        .json() == {"token": "04A1B2C3", "token_type": "ISO14443", "status": "Accepted", "info": "local list"}
    assert "BLOCKED01: Blocked" in (await ok(cli, "auth", "validate", "BLOCKED01")).out
    await ok(cli, "auth", "tap", "04A1B2C3")

    async def presented():
        return stack.signals_named("TokenPresented")

    await stack.wait(presented, bool, what_name="TokenPresented")
    assert stack.signals_named("TokenPresented")[0][2][:3] == ["04A1B2C3", "ISO14443", "rfid0"]
    r = await cli("auth", "tap", "12")
    assert r.code == 1 and "org.evcharge.Error.InvalidArgument" in r.err


async def test_usage_errors_exit_2(cli):
    cases = [(["ev", "plug", "0"], "connector must be a positive integer"),
             (["session", "stop", "one"], "connector must be a positive integer"),
             (["energy", "limit", "set", "1", "lots"], "amps must be a non-negative number"),
             (["energy", "limit", "set", "house", "10"], "or 'site'"),
             (["ev", "plug", "1", "--cable", "16"], "cable must be one of 13, 20, 32, 63"),
             (["ev", "ready", "1", "maybe"], "invalid choice"),
             (["session"], "required"),
             (["frobnicate"], "invalid choice")]
    results = await asyncio.gather(*(cli(*args) for args, _ in cases))
    for (args, words), r in zip(cases, results, strict=True):
        assert r.code == 2, (args, r)
        assert words in r.err, (args, r.err)
        assert r.out == ""


async def test_service_errors_exit_1_with_the_error_name(stack, cli):
    await stack.start(SERVICES)
    r = await cli("session", "pause", "1")  # no session
    assert r.code == 1
    assert "org.evcharge.Error.InvalidState" in r.err and "only an authorized, running, unpaused session" in r.err

    r = await cli("--json", "session", "stop", "1", "--reason", "Bogus")
    assert r.code == 1
    assert r.json() == {"error": {"name": "org.evcharge.Error.InvalidArgument", "exit_code": 1,
                                  "message": r.json()["error"]["message"]}}
    assert "reason must be one of" in r.json()["error"]["message"]

    r = await cli("ev", "plug", "9")  # the services, not the CLI, know which connectors exist
    assert r.code == 1
    assert "org.freedesktop.DBus.Error.UnknownMethod" in r.err and "no connector 9 (connectors: 1, 2)" in r.err


async def test_unreachable_exit_3(stack, cli, tmp_path):
    r = await cli("status")  # a bus without any of our services
    assert r.code == 3 and "no evcharge service is running" in r.err

    await stack.start(["board", "evse"])
    r = await cli("energy", "limit", "set", "site", "10")
    assert r.code == 3
    assert "energy service (org.evcharge.Energy1) is not running" in r.err and "evcharge-sil" in r.err

    doc = (await ok(cli, "status", "--json")).json()  # partial stacks are shown, not refused
    assert doc["services"]["energy"] == {"bus_name": names.ENERGY, "running": False, "pid": None}
    assert doc["site"] is None and doc["connectors"][0]["evse"]["state"] == "Available"
    assert "energy DOWN" in (await ok(cli, "status")).out

    r = await cli("status", address=f"unix:path={tmp_path}/no-such-bus")
    assert r.code == 3 and "cannot connect to the bus" in r.err


async def test_monitor_prints_events_as_json_lines(stack, cli, private_bus, tmp_path):
    await stack.start(SERVICES)
    env = {k: v for k, v in os.environ.items() if k != "EVCHARGE_BUS_ADDRESS"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evcharge.cli", "--bus-address", private_bus.address, "monitor", "--json", "evse",
        "board", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    assert "monitoring board, evse" in (await asyncio.wait_for(proc.stderr.readline(), 10)).decode()
    await stack.sim(1, "PlugIn", "d", 220.0)
    events = []
    while not any(e.get("member") == "SessionStarted" for e in events):
        events.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 10)))
    session_id = (await stack.conn(1))["SessionId"]
    await stack.sup.stop("evse")
    while not any(e["type"] == "service" for e in events):
        events.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 10)))
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 10) == 0

    assert {e["service"] for e in events} <= {"evse", "board"}  # the filter holds (meter etc. are left out)
    cp = [e for e in events if e["type"] == "properties" and e["service"] == "board" and "CpState" in e["changed"]]
    assert cp[0]["changed"]["CpState"] == "B" and cp[0]["connector"] == 1
    started = next(e for e in events if e.get("member") == "SessionStarted")
    assert started["connector"] == 1 and started["args"]["session_id"] == session_id
    assert events[-1] == {"type": "service", "service": "evse", "running": False, "time": events[-1]["time"]}
