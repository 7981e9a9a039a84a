"""One consistent-enough picture of the charger: every service's properties, per connector.

Used by `evchargectl status` and the SIL runner's live view. It never fails because a service is
down: that service's parts are `None` and `services.<name>.running` is false. The keys are the
JSON contract of `evchargectl status --json` (docs/sil.md), so they are spelled out here rather
than derived from D-Bus property names.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import call, get_all
from .client import SERVICES

PROPS_TIMEOUT_S = 2.0

EVSE_KEYS = {"state": "State", "available": "Available", "offered_current_a": "OfferedCurrentA",
             "allocated_current_a": "AllocatedCurrentA", "max_current_a": "MaxCurrentA", "faults": "Faults"}
SESSION_KEYS = {"id": "SessionId", "token": "SessionToken", "started_at": "SessionStartedAt",
                "energy_wh": "SessionEnergyWh", "paused": "Paused", "stop_reason": "StopReason"}
BOARD_KEYS = {"cp_state": "CpState", "pwm_mode": "PwmMode", "pwm_duty_pct": "PwmDutyPct", "offer_a": "OfferA",
              "advertised_current_a": "AdvertisedCurrentA", "cable_max_current_a": "CableMaxCurrentA",
              "contactor_closed": "ContactorClosed", "contactor_feedback": "ContactorFeedback", "locked": "Locked",
              "faults": "Faults", "last_open_reason": "LastOpenReason", "max_current_a": "MaxCurrentA",
              "phases": "Phases"}
EV_KEYS = {"plugged_in": "EvPluggedIn", "ready": "EvReady", "pp_ohm": "PpOhm", "max_current_a": "EvMaxCurrentA",
           "current_a": "EvCurrentA", "diode_present": "DiodePresent", "rcd_tripped": "RcdTripped",
           "contactor_welded": "ContactorWelded", "cp_voltage_v": "CpVoltageV"}
METER_KEYS = {"online": "Online", "power_w": "PowerW", "energy_wh": "EnergyWh", "voltage_v": "VoltageV",
              "current_a": "CurrentA"}
SITE_KEYS = {"limit_a": "SiteLimitA", "effective_limit_a": "EffectiveSiteLimitA"}
AUTH_KEYS = {"free_vend": "FreeVend", "local_list_size": "LocalListSize"}


def pick(props: dict[str, Any] | None, keys: dict[str, str]) -> dict[str, Any] | None:
    if props is None:
        return None
    return {key: props.get(prop) for key, prop in keys.items()}


async def _bus_call(bus: MessageBus, member: str, arg: str) -> Any:
    (value,) = await asyncio.wait_for(call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", member, "s", [arg]), PROPS_TIMEOUT_S)
    return value


async def service_info(bus: MessageBus, service: str) -> dict[str, Any]:
    info: dict[str, Any] = {"bus_name": SERVICES[service], "running": False, "pid": None}
    try:
        owner = await _bus_call(bus, "GetNameOwner", SERVICES[service])
    except (DBusError, TimeoutError):
        return info
    info["running"] = True
    try:
        info["pid"] = int(await _bus_call(bus, "GetConnectionUnixProcessID", owner))
    except (DBusError, TimeoutError):
        pass  # the service may be leaving right now; "running" is what matters
    return info


async def collect(bus: MessageBus) -> dict[str, Any]:
    services = dict(zip(SERVICES, await asyncio.gather(*(service_info(bus, s) for s in SERVICES)), strict=True))

    async def props(service: str, path: str, iface: str) -> dict[str, Any] | None:
        if not services[service]["running"]:
            return None
        try:
            return await asyncio.wait_for(get_all(bus, SERVICES[service], path, iface), PROPS_TIMEOUT_S)
        except (DBusError, TimeoutError):
            return None  # restarting, or no such object (e.g. a meterless connector)

    board, evse, energy, auth = await asyncio.gather(
        props("board", names.BOARD_PATH, names.BOARD), props("evse", names.EVSE_PATH, names.EVSE),
        props("energy", names.ENERGY_PATH, names.ENERGY), props("auth", names.AUTH_PATH, names.AUTH))
    ids = sorted({int(i) for p in (board, evse) if p for i in p.get("ConnectorIds", [])})

    async def connector(cid: int) -> dict[str, Any]:
        e, b, ev, m = await asyncio.gather(
            props("evse", names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE),
            props("board", names.board_connector_path(cid), names.BOARD_CONNECTOR_IFACE),
            props("board", names.board_connector_path(cid), names.BOARD_SIM_IFACE),
            props("meter", names.meter_path(cid), names.METER_METER_IFACE))
        session = pick(e, SESSION_KEYS) if e and e.get("SessionId") else None
        return {"id": cid, "evse": pick(e, EVSE_KEYS), "session": session, "board": pick(b, BOARD_KEYS),
                "ev": pick(ev, EV_KEYS), "meter": pick(m, METER_KEYS)}

    site = pick(energy, SITE_KEYS)
    if site is not None and energy is not None:
        site["allocations_a"] = {str(k): v for k, v in sorted(energy.get("Allocations", {}).items())}
        site["demands_a"] = {str(k): v for k, v in sorted(energy.get("Demands", {}).items())}
        site["external_limits"] = [{"connector": cid, "source": src, "limit_a": lim}
                                   for cid, src, lim in energy.get("ExternalLimits", [])]
    auth_out = pick(auth, AUTH_KEYS)
    if auth_out is not None and auth is not None:
        auth_out["readers"] = [{"name": n, "online": bool(up)} for n, up in auth.get("Readers", [])]
    return {
        "services": services,
        "board": None if board is None else {"name": board.get("BoardName"), "backend": board.get("Backend")},
        "site": site,
        "auth": auth_out,
        "connectors": list(await asyncio.gather(*(connector(cid) for cid in ids))),
    }
