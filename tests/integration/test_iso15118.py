"""ISO 15118-2 / DIN 70121 end to end: the V2G service (SECC) and the EV simulator as processes.

First over loopback (::1, SDP by unicast), then over a veth pair between two network namespaces
that the test creates and always deletes (SDP by link-local multicast, TCP over link-local
addresses), as on a PLC link. The SECC here uses its self-contained simulated EVSE
(`controller: sim`); test_iso15118_stack.py runs it against the real evse/board services.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sil.supervisor import ServiceSpec, Supervisor

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_INET6"), reason="needs IPv6")

NETNS_PREFIX = "evc-test-"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


async def run_ev(*args: str, netns: str | None = None, env: dict | None = None, timeout: float = 60.0) -> dict:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = await asyncio.create_subprocess_exec(*prefix, sys.executable, "-m", "evcharge.sim.ev", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    lines = out.decode().strip().splitlines()
    assert lines, f"EV printed nothing; stderr:\n{err.decode()[-3000:]}"
    result = json.loads(lines[-1])
    result["stderr"] = err.decode()
    result["rc"] = proc.returncode
    return result


def requests(result: dict) -> list[str]:
    return [name for name, _n in result["requests"]]


def count(result: dict, name: str) -> int:
    return sum(n for req, n in result["requests"] if req == name)


async def start_secc(sup: Supervisor, tmp: Path, **cfg) -> None:
    path = tmp / "v2g.yaml"
    path.write_text(yaml.safe_dump({"controller": "sim", "sim_auth_delay_s": 0.1, "sim_cable_check_s": 0.2, **cfg}))
    await sup.start(ServiceSpec("iso15118", ["--config", str(path)]))


async def secc_props(client) -> dict:
    return await get_all(client, names.V2G, names.V2G_PATH, names.V2G)


# --- loopback ------------------------------------------------------------------------------------

@pytest.fixture
async def loopback_secc(supervisor, tmp_path):
    port = free_udp_port()

    async def start(**cfg):
        await start_secc(supervisor, tmp_path, interface="lo", address="::1", sdp_port=port, **cfg)
        return ["--sdp-address", "::1", "--sdp-port", str(port)]

    return start


@pytest.mark.parametrize("protocol,dc", [("din", True), ("iso2", False), ("iso2", True)])
async def test_loopback_full_session(loopback_secc, client, supervisor, protocol, dc):
    ev_args = await loopback_secc(dc=dc)
    res = await run_ev(*ev_args, "--protocol", protocol, *(["--dc"] if dc else []), "--loops", "5")
    assert res["ok"], res
    assert res["closed_by_secc"]
    loop = "CurrentDemandReq" if dc else "ChargingStatusReq"
    assert count(res, loop) == 5
    assert requests(res)[-1] == "SessionStopReq"
    assert all(code.startswith("OK") for _n, code, _c in res["responses"])
    props = await secc_props(client)
    assert props["Protocol"] == protocol and props["SessionId"] == res["session_id"]
    assert props["LastStopReason"].startswith("SessionStop") and props["Phase"] == "Idle"
    log = supervisor.log_path("iso15118").read_text()
    assert f"V2G session {res['session_id']} ended: SessionStop" in log


@pytest.mark.parametrize("misbehave,code,log_text", [
    ("wrong_sid@ChargingStatusReq", "FAILED_UnknownSession", "FAILED_UnknownSession: wrong SessionID"),
    ("unexpected@PowerDeliveryReq", "FAILED_SequenceError", "FAILED_SequenceError: ServiceDiscoveryReq not expected"),
    ("invalid_exi@ChargeParameterDiscoveryReq", None, "schema-invalid EXI body"),
    ("drop@ChargingStatusReq", None, "TCP connection closed by the EV"),
])
async def test_loopback_negative_paths(loopback_secc, client, supervisor, misbehave, code, log_text):
    ev_args = await loopback_secc()
    res = await run_ev(*ev_args, "--loops", "3", "--misbehave", misbehave)
    assert not res["ok"]
    if code:
        assert res["responses"][-1][1] == code and code in res["error"]
        assert res["closed_by_secc"]
    for _ in range(100):  # the SECC notices a dropped connection on its next read
        props = await secc_props(client)
        if log_text in props["LastStopReason"]:
            break
        await asyncio.sleep(0.05)
    assert log_text in props["LastStopReason"], props
    assert props["Phase"] == "Idle"
    assert log_text in supervisor.log_path("iso15118").read_text()


async def test_loopback_sequence_timeout(loopback_secc, client, supervisor):
    ev_args = await loopback_secc(sequence_timeout_s=1.0)
    res = await run_ev(*ev_args, "--misbehave", "stall@ChargingStatusReq", "--stall-wait-s", "10")
    assert res["closed_by_secc"], res
    props = await secc_props(client)
    assert "sequence timeout" in props["LastStopReason"]


async def test_loopback_cable_check_failure(loopback_secc, client):
    ev_args = await loopback_secc(dc=True, sim_isolation_fault=True)
    res = await run_ev(*ev_args, "--protocol", "din")
    assert not res["ok"] and res["responses"][-1][:2] == ["CableCheckRes", "FAILED"]
    assert "CableCheck failed" in (await secc_props(client))["LastStopReason"]


async def test_ev_timeout_when_no_secc():
    res = await run_ev("--sdp-address", "::1", "--sdp-port", str(free_udp_port()), timeout=30)
    assert not res["ok"] and "no SECC answered" in res["error"]


# --- two network namespaces and a veth pair ------------------------------------------------------

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _cleanup_stale_namespaces() -> None:
    """Namespaces left by a test process that died without its finally (SIGKILL)."""
    listing = _ip("netns", "list", check=False).stdout.split()
    for name in listing:
        if name.startswith(NETNS_PREFIX):
            pid = name[len(NETNS_PREFIX):].split("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                _ip("netns", "del", name, check=False)


@pytest.fixture
def netns_pair():
    """Two namespaces (secc, ev) joined by a veth pair; deleted afterwards whatever happens."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    _cleanup_stale_namespaces()
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    secc_ns, ev_ns = f"{NETNS_PREFIX}{tag}-secc", f"{NETNS_PREFIX}{tag}-ev"
    secc_if, ev_if = f"evs{tag[-6:]}", f"eve{tag[-6:]}"
    created = []
    try:
        for ns in (secc_ns, ev_ns):
            _ip("netns", "add", ns)
            created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                            "net.ipv6.conf.default.accept_dad=0"], check=True)
        _ip("link", "add", secc_if, "netns", secc_ns, "type", "veth", "peer", "name", ev_if, "netns", ev_ns)
        _ip("-n", secc_ns, "link", "set", secc_if, "up")
        _ip("-n", ev_ns, "link", "set", ev_if, "up")
        yield {"secc_ns": secc_ns, "ev_ns": ev_ns, "secc_if": secc_if, "ev_if": ev_if}
    finally:
        for ns in created:
            _ip("netns", "del", ns, check=False)
        left = [n for n in _ip("netns", "list", check=False).stdout.split() if n in created]
        assert not left, f"network namespaces left behind: {left}"


@pytest.fixture
async def ns_supervisor(private_bus, tmp_path, netns_pair):
    """A supervisor whose services run inside the SECC namespace."""
    wrapper = tmp_path / "python-in-netns"
    wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {netns_pair['secc_ns']} {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    workdir = tmp_path / "ns"
    workdir.mkdir()
    sup = Supervisor(private_bus.address, workdir, python=str(wrapper))
    yield sup
    await sup.stop_all()


@pytest.mark.parametrize("protocol,dc", [("din", True), ("iso2", False), ("iso2", True)])
async def test_veth_full_session(netns_pair, ns_supervisor, client, tmp_path, protocol, dc):
    await start_secc(ns_supervisor, tmp_path, interface=netns_pair["secc_if"], dc=dc)
    props = await secc_props(client)
    res = await run_ev("--interface", netns_pair["ev_if"], "--protocol", protocol, *(["--dc"] if dc else []),
                       "--loops", "5", netns=netns_pair["ev_ns"])
    assert res["ok"], res
    assert res["secc"].startswith("[fe80::") and res["secc"].endswith(f"]:{props['TcpPort']}")
    assert "SDP: SECC at [fe80::" in res["stderr"]
    props = await secc_props(client)
    assert props["SessionId"] == res["session_id"] and props["LastStopReason"].startswith("SessionStop")


async def test_veth_tcp_drop_mid_session(netns_pair, ns_supervisor, client, tmp_path):
    await start_secc(ns_supervisor, tmp_path, interface=netns_pair["secc_if"], dc=True)
    res = await run_ev("--interface", netns_pair["ev_if"], "--protocol", "iso2", "--dc", "--loops", "5",
                       "--misbehave", "drop@CurrentDemandReq", netns=netns_pair["ev_ns"])
    assert not res["ok"]
    for _ in range(50):
        props = await secc_props(client)
        if props["LastStopReason"]:
            break
        await asyncio.sleep(0.05)
    assert props["LastStopReason"] == "TCP connection closed by the EV"


# --- SLAC over the veth pair ---------------------------------------------------------------------

async def start_modem(netns_pair, *args: str):
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns_pair["ev_ns"], sys.executable, "-m", "evcharge.sim.plc_modem",
        "--interface", netns_pair["ev_if"], *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    line = await asyncio.wait_for(proc.stdout.readline(), 15)
    assert line.strip() == b"ready", (await proc.stderr.read()).decode()[-2000:]
    return proc


async def stop_proc(proc) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def start_slac(sup, tmp: Path, netns_pair, **cfg) -> None:
    path = tmp / "slac.yaml"
    path.write_text(yaml.safe_dump({"interface": netns_pair["secc_if"], "start": "now", **cfg}))
    await sup.start(ServiceSpec("slac", ["--config", str(path)]))


async def slac_props(client) -> dict:
    return await get_all(client, names.SLAC, names.SLAC_PATH, names.SLAC)


async def test_veth_slac_match_then_iso2_dc_session(netns_pair, ns_supervisor, client, tmp_path):
    modem = await start_modem(netns_pair)
    try:
        await start_slac(ns_supervisor, tmp_path, netns_pair)
        await start_secc(ns_supervisor, tmp_path, interface=netns_pair["secc_if"], dc=True)
        res = await run_ev("--interface", netns_pair["ev_if"], "--slac", "--protocol", "iso2", "--dc", "--loops", "5",
                           netns=netns_pair["ev_ns"])
        assert res["slac"] == "matched" and res["ok"], res
        props = await slac_props(client)
        assert props["State"] == "Matched" and props["EvMac"]
        assert "SLAC matched EV" in ns_supervisor.log_path("slac").read_text()
    finally:
        await stop_proc(modem)


async def test_veth_slac_without_ev_answer_fails(netns_pair, ns_supervisor, client, tmp_path):
    modem = await start_modem(netns_pair)
    try:
        await start_slac(ns_supervisor, tmp_path, netns_pair, slac_init_s=1.0)
        # The modem confirms SET_KEY (result 1, the QCA way): the service then waits for the EV
        # (the failure reason below is only reachable from WaitSlacParm).
        for _ in range(400):
            props = await slac_props(client)
            if props["State"] == "Failed":
                break
            await asyncio.sleep(0.05)
        assert props["State"] == "Failed" and "no CM_SLAC_PARM.REQ from the EV" in props["Reason"]
        assert "SLAC failed: no CM_SLAC_PARM.REQ" in ns_supervisor.log_path("slac").read_text()
    finally:
        await stop_proc(modem)


async def test_veth_slac_without_ev_answer_retries_then_falls_back_to_basic_charging(
        netns_pair, ns_supervisor, stack, tmp_path):
    """SLAC reported to evse: no EV answer -> state F for 4 s (E/F wake-up), 5 % again (retry), no
    answer again -> basic charging: X1 for 3 s, then nominal PWM once authorized; the contactor
    stays open throughout the HLC attempt."""
    await stack.start(services=("board", "auth", "evse"), evse_extra={"connectors": [
        {"id": 1, "max_current_a": 32, "hlc": True, "slac_retries": 1, "slac_fallback": "basic"},
        {"id": 2, "max_current_a": 32}]})
    duties: list[float] = []

    def on_board(msg):
        if msg.member == "PropertiesChanged" and msg.path == names.board_connector_path(1) \
                and "PwmDutyPct" in msg.body[1]:
            duties.append(msg.body[1]["PwmDutyPct"].value)

    stack.bus.add_message_handler(on_board)
    modem = await start_modem(netns_pair)
    try:
        await start_slac(ns_supervisor, tmp_path, netns_pair, start="board", slac_init_s=1.0)
        await stack.sim(1, "SetEvReady", "b", False)  # an HLC EV waits in B (and here never speaks SLAC)
        await stack.sim(1, "PlugIn", "d", 220.0)
        await stack.wait(lambda: stack.board(1), lambda b: b["CpState"] == "B" and b["PwmDutyPct"] == 5.0,
                         what_name="5 % PWM in B")
        await stack.wait(lambda: slac_props(stack.bus), lambda p: p["State"] == "Failed", timeout=20,
                         what_name="first SLAC failure")
        evse_log = stack.sup.log_path("evse")
        await stack.wait(lambda: asyncio.sleep(0, evse_log.read_text()), lambda t: "falling back" in t, timeout=30,
                         what_name="fallback after the retry")
        text = evse_log.read_text()
        assert "SLAC failed (attempt 1): no CM_SLAC_PARM.REQ from the EV within 1 s; retrying: state F" in text
        assert "E/F wake-up: state F for 4 s" in stack.sup.log_path("board").read_text()
        assert "SLAC failed (attempt 2): no CM_SLAC_PARM.REQ from the EV within 1 s; falling back to basic" in text
        slac_log = ns_supervisor.log_path("slac").read_text()
        assert slac_log.count("SLAC failed: no CM_SLAC_PARM.REQ from the EV within 1 s [connector=1]") == 2
        b = await stack.wait(lambda: stack.board(1), lambda b: not b["DigitalCommunication"], timeout=10,
                             what_name="digital communication off")
        assert b["PwmMode"] == "high" and not b["ContactorClosed"]  # X1: no offer yet, and the 3 s gap
        await stack.tap("04A1B2C3")
        await stack.sim(1, "SetEvReady", "b", True)
        b = await stack.wait(lambda: stack.board(1), lambda b: b["ContactorClosed"], timeout=15,
                             what_name="basic charging")
        assert b["PwmMode"] == "pwm" and abs(b["PwmDutyPct"] - 32 / 0.6) < 0.1
        # PWM went 5 % -> F -> 5 % (retry) -> X1 -> nominal, never straight from 5 % to nominal
        steps = [d for i, d in enumerate(duties) if i == 0 or d != duties[i - 1]]
        assert steps[-5:] == [5.0, 0.0, 5.0, 100.0, steps[-1]] and steps[-1] > 50, steps
        events = [s[2][1] for s in stack.signals_named("SessionEvent")]
        assert events.count("SlacFailed") == 2 and "SlacRetry" in events
    finally:
        await stop_proc(modem)


@pytest.mark.parametrize("protocol,dc", [("iso2", False), ("din", True), ("iso2", True)],
                         ids=["iso2-ac", "din-dc", "iso2-dc"])
async def test_veth_plug_in_to_unplug_with_slac_through_the_charger(netns_pair, ns_supervisor, stack, tmp_path,
                                                                    protocol, dc):
    """The whole HLC path over the PLC-like link: 5 % PWM, SLAC match reported to evse, SDP on
    link-local multicast, an ISO-2 AC, DIN DC or ISO-2 DC session with EIM through evse/board
    (contactor, meter; for DC the power service and a DC meter on its output), unplug."""
    meter = {"meters": [{"connector_id": 1, "backend": "sim-dc" if dc else "sim"},
                        {"connector_id": 2, "backend": "sim"}]}
    await stack.start(services=("board", "meter", "auth", "evse"), meter_extra=meter, evse_extra={"connectors": [
        {"id": 1, "max_current_a": 32, "hlc": True}, {"id": 2, "max_current_a": 32}]})
    if dc:
        power_cfg = tmp_path / "power.yaml"
        power_cfg.write_text(yaml.safe_dump({"connector_id": 1}))
        await stack.sup.start(ServiceSpec("power", ["--config", str(power_cfg)]))
    modem = await start_modem(netns_pair)
    try:
        await start_slac(ns_supervisor, tmp_path, netns_pair, start="board")
        v2g_cfg = tmp_path / "v2g-evse.yaml"
        v2g_cfg.write_text(yaml.safe_dump({"controller": "evse", "interface": netns_pair["secc_if"],
                                           "connector_id": 1, "dc": dc}))
        await ns_supervisor.start(ServiceSpec("iso15118", ["--config", str(v2g_cfg)]))
        await stack.tap("04A1B2C3")  # held for the plug-in (EIM before the cable)
        readings: list[dict] = []

        async def watch_meter():
            while True:
                readings.append(await get_all(stack.bus, names.METER, names.meter_path(1), names.METER_METER_IFACE))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch_meter())
        try:
            res = await run_ev("--interface", netns_pair["ev_if"], "--slac", "--protocol", protocol,
                               *(["--dc"] if dc else []), "--loops", "20", "--cycle-s", "0.1", "--connector", "1",
                               netns=netns_pair["ev_ns"], env={"EVCHARGE_BUS_ADDRESS": stack.sup.bus_address},
                               timeout=120)
        finally:
            watcher.cancel()
        # the EV side: matched, found the SECC on link-local, every step answered OK
        assert res["slac"] == "matched" and res["ok"], res
        assert res["secc"].startswith("[fe80::")
        sent = [r[0] for r in res["requests"]]
        steps = (("CableCheckReq", "PreChargeReq", "CurrentDemandReq", "WeldingDetectionReq") if dc
                 else ("ChargingStatusReq",))
        for req in ("SessionSetupReq", "ChargeParameterDiscoveryReq", "PowerDeliveryReq", *steps, "SessionStopReq"):
            assert req in sent, sent
        # the charger side: SLAC before HLC before energy, then the EV's stop
        events = [s[2][1] for s in stack.signals_named("SessionEvent")]
        assert events.index("SlacMatched") < events.index("HlcStarted") < events.index("ChargingStarted"), events
        assert "SlacFailed" not in events
        closed = [s for s in stack.signals_named("ContactorChanged") if s[2][0] is True]
        assert closed, "the contactor never closed"
        ended = await stack.wait(lambda: asyncio.sleep(0, [s for s in stack.signals_named("SessionEnded")
                                                           if s[0].startswith(names.EVSE_PATH)]),
                                 lambda s: s, timeout=15, what_name="SessionEnded")
        _sid, reason, energy_wh, token = ended[-1][2]
        # energy billed from the meter: the AC meter follows the EV's draw, the DC meter the supply's output
        assert reason == "StoppedByEV" and token == "04A1B2C3" and energy_wh > 0
        m = await get_all(stack.bus, names.METER, names.meter_path(1), names.METER_METER_IFACE)
        assert m["Backend"] == ("sim-dc" if dc else "sim") and m["EnergyWh"] >= energy_wh
        # what the meter saw while energy flowed: 400 V / 50 A DC (sim/evcc.py's request) on the DC
        # output, or 230 V on each phase of the AC supply
        flowing = [r for r in readings if r["PowerW"] > 0]
        assert flowing, readings[-3:]
        if dc:
            assert any(abs(r["VoltageV"][0] - 400) < 1 and r["CurrentA"][0] > 45 and r["VoltageV"][1] == 0
                       for r in flowing), flowing[-3:]
        else:
            assert all(r["VoltageV"] == [230.0, 230.0, 230.0] for r in flowing), flowing[-3:]
        b = await stack.board(1)
        assert b["CpState"] == "A" and not b["ContactorClosed"]
        assert "SLAC matched EV" in ns_supervisor.log_path("slac").read_text()
        if dc:
            await stack.wait(lambda: get_all(stack.bus, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH,
                                             names.POWER_SUPPLY),
                             lambda p: not p["Enabled"] and p["PresentCurrentA"] == 0, what_name="supply off")
            log = stack.sup.log_path("power").read_text()
            assert "isolation Valid" in log and "DC output on" in log and "DC output off" in log
    finally:
        await stop_proc(modem)
