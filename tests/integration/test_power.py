"""The DC power service (org.evcharge.PowerSupply1) on its own: argument checks, output, isolation."""

from __future__ import annotations

import pytest
import yaml
from dbus_fast import DBusError
from evcharge.common import names
from evcharge.common.bus import call, get_all
from evcharge.sil.supervisor import ServiceSpec


async def ps_call(client, member, sig="", *args, iface=names.POWER_SUPPLY):
    return await call(client, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH, iface, member, sig, list(args))


async def props(client, iface=names.POWER_SUPPLY) -> dict:
    return await get_all(client, names.POWER_SUPPLY, names.POWER_SUPPLY_PATH, iface)


async def wait_for(fn, pred, what):
    import asyncio

    for _ in range(500):
        value = await fn()
        if pred(value):
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}: {value}")


@pytest.fixture
async def power(supervisor, client, tmp_path):
    cfg = tmp_path / "power.yaml"
    cfg.write_text(yaml.safe_dump({"sim_isolation_ohm": 100_000.0}))  # 200 ohm/V at 500 V: a warning
    await supervisor.start(ServiceSpec("power", ["--config", str(cfg)]))
    return supervisor


@pytest.mark.parametrize("member,sig,args,text", [
    ("SetOutput", "dd", (600.0, 10.0), "voltage_v must be between 0 and 500 V"),
    ("SetOutput", "dd", (400.0, -1.0), "current_limit_a must be between 0 and 125 A"),
    ("SetOutput", "dd", (500.0, 125.0), "exceeds MaxPowerW 50000"),
])
async def test_bad_setpoints_are_refused_and_change_nothing(power, client, member, sig, args, text):
    with pytest.raises(DBusError) as e:
        await ps_call(client, member, sig, *args)
    assert e.value.type == "org.evcharge.Error.InvalidArgument" and text in e.value.text
    assert not (await props(client))["Enabled"]


async def test_output_ramps_and_switches_off_without_current_when_no_contactor(power, client):
    await ps_call(client, "SetOutput", "dd", 400.0, 20.0)
    p = await wait_for(lambda: props(client), lambda p: p["PresentVoltageV"] == 400.0, "400 V")
    assert p["Enabled"] and p["VoltageSetpointV"] == 400.0 and p["CurrentLimitA"] == 20.0
    assert p["PresentCurrentA"] == 0.0  # nothing connected: the board's contactor is not closed
    await ps_call(client, "Off")
    await wait_for(lambda: props(client), lambda p: not p["Enabled"] and p["PresentVoltageV"] == 0.0, "0 V")
    log = power.log_path("power").read_text()
    assert "DC output on: 400 V, limit 20 A" in log and "DC output off" in log


async def test_isolation_check_reports_a_warning(power, client):
    with pytest.raises(DBusError) as e:
        await ps_call(client, "StartCheck", "d", 900.0, iface=names.POWER_SUPPLY_ISOLATION_IFACE)
    assert e.value.type == "org.evcharge.Error.InvalidArgument"
    await ps_call(client, "StartCheck", "d", 500.0, iface=names.POWER_SUPPLY_ISOLATION_IFACE)
    p = await wait_for(lambda: props(client, names.POWER_SUPPLY_ISOLATION_IFACE), lambda p: p["Status"] != "Ongoing",
                       "a result")
    assert p["Status"] == "Warning" and p["ResistanceOhm"] == 100_000.0 and p["TestVoltageV"] == 500.0
    assert "isolation Warning: 100000 ohm at 500 V" in power.log_path("power").read_text()
    await ps_call(client, "Reset", iface=names.POWER_SUPPLY_ISOLATION_IFACE)
    assert (await props(client, names.POWER_SUPPLY_ISOLATION_IFACE))["Status"] == "Idle"


async def test_output_switches_off_when_the_secc_stops_sending_setpoints(supervisor, client, tmp_path):
    cfg = tmp_path / "power.yaml"
    cfg.write_text(yaml.safe_dump({"setpoint_timeout_s": 0.5}))
    await supervisor.start(ServiceSpec("power", ["--config", str(cfg)]))
    await ps_call(client, "SetOutput", "dd", 400.0, 20.0)
    assert (await props(client))["Enabled"]
    await wait_for(lambda: props(client), lambda p: not p["Enabled"] and p["PresentVoltageV"] == 0.0,
                   "the output off by itself")
    assert "no setpoint for 0.5 s: DC output off" in supervisor.log_path("power").read_text()
