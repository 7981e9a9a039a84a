"""One small handler per command: make the D-Bus call, return what to print.

A handler returns a `Result`: `data` is the JSON document (`--json`), `text` the readable line.
Errors propagate as `client.CliError`s and main.py turns them into exit codes.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from ..common import names
from . import format as fmt
from .args import CABLE_OHM, SITE
from .client import Client, CliError, Unreachable
from .snapshot import collect

DEFAULT_LIMIT_SOURCE = "evchargectl"


@dataclass
class Result:
    data: dict[str, Any]
    text: str


def _evse(c: Client, cid: int, member: str, sig: str = "", body: list[Any] | None = None):
    return c.call("evse", names.evse_connector_path(cid), names.EVSE_CONNECTOR_IFACE, member, sig, body or [])


def _sim(c: Client, cid: int, member: str, sig: str, value: Any):
    return c.call("board", names.board_connector_path(cid), names.BOARD_SIM_IFACE, member, sig, [value])


# --- status ---------------------------------------------------------------------------------

async def status(c: Client, a: argparse.Namespace) -> Result:
    snap = await collect(c.bus)
    if not any(s["running"] for s in snap["services"].values()):
        raise Unreachable(f"no evcharge service is running on {c.address}: start the simulator with `evcharge-sil`, "
                          "or on a charger `systemctl start evcharge-board evcharge-evse ...`")
    return Result({"bus_address": c.address, **snap}, fmt.status(snap, c.address))


# --- session --------------------------------------------------------------------------------

async def session_list(c: Client, a: argparse.Namespace) -> Result:
    (items,) = await c.call("evse", names.EVSE_PATH, names.EVSE, "ListSessions", "u", [a.limit])
    keys = ("session_id", "connector_id", "token", "started_at", "ended_at", "stop_reason", "energy_wh")
    sessions = [{k: s.get(k) for k in keys} for s in items]
    return Result({"sessions": sessions}, fmt.sessions(sessions))


async def session_start(c: Client, a: argparse.Namespace) -> Result:
    (session_id,) = await _evse(c, a.connector, "RemoteStart", "s", [a.token])
    text = (f"connector {a.connector}: session {session_id} authorized with token {a.token}" if session_id else
            f"connector {a.connector}: token {a.token} accepted for the next plug-in")
    return Result({"connector": a.connector, "token": a.token, "session_id": session_id}, text)


async def session_stop(c: Client, a: argparse.Namespace) -> Result:
    await _evse(c, a.connector, "Stop", "s", [a.reason or ""])
    return Result({"connector": a.connector, "reason": a.reason or "Remote"},
                  f"connector {a.connector}: stop requested ({a.reason or 'Remote'}); the session ends at unplug")


async def session_pause(c: Client, a: argparse.Namespace) -> Result:
    await _evse(c, a.connector, "Pause")
    return Result({"connector": a.connector, "paused": True}, f"connector {a.connector}: paused")


async def session_resume(c: Client, a: argparse.Namespace) -> Result:
    await _evse(c, a.connector, "Resume")
    return Result({"connector": a.connector, "paused": False}, f"connector {a.connector}: resumed")


# --- connector ------------------------------------------------------------------------------

async def connector_availability(c: Client, a: argparse.Namespace) -> Result:
    operative = a.availability == "operative"
    await _evse(c, a.connector, "SetAvailability", "b", [operative])
    return Result({"connector": a.connector, "operative": operative},
                  f"connector {a.connector}: {'Operative' if operative else 'Inoperative'}"
                  + ("" if operative else " (a running session finishes first)"))


# --- energy ---------------------------------------------------------------------------------

def _target(cid: int) -> str:
    return "site" if cid == SITE else f"connector {cid}"


async def energy_limit_set(c: Client, a: argparse.Namespace) -> Result:
    await c.call("energy", names.ENERGY_PATH, names.ENERGY, "SetExternalLimit", "usd", [a.target, a.source, a.amps])
    return Result({"connector": a.target, "source": a.source, "limit_a": a.amps},
                  f"{_target(a.target)}: limit {fmt.amps(a.amps)} from {a.source}")


async def energy_limit_clear(c: Client, a: argparse.Namespace) -> Result:
    await c.call("energy", names.ENERGY_PATH, names.ENERGY, "ClearExternalLimit", "us", [a.target, a.source])
    return Result({"connector": a.target, "source": a.source}, f"{_target(a.target)}: limit from {a.source} cleared")


# --- auth -----------------------------------------------------------------------------------

async def auth_tap(c: Client, a: argparse.Namespace) -> Result:
    await c.call("auth", names.AUTH_PATH, names.AUTH_SIM_IFACE, "Tap", "s", [a.uid])
    return Result({"uid": a.uid}, f"card {a.uid} presented to the simulated reader")


async def auth_validate(c: Client, a: argparse.Namespace) -> Result:
    reply = await c.call("auth", names.AUTH_PATH, names.AUTH, "Validate", "ss", [a.token, a.type])
    status, info = reply[0] if len(reply) == 1 else reply  # the method returns one struct (ss)
    return Result({"token": a.token, "token_type": a.type, "status": status, "info": info},
                  f"{a.token}: {status}" + (f" ({info})" if info else ""))


# --- simulated EV and board -----------------------------------------------------------------

async def ev_plug(c: Client, a: argparse.Namespace) -> Result:
    ohm = a.pp_ohm if a.pp_ohm is not None else CABLE_OHM[a.cable]
    await _sim(c, a.connector, "PlugIn", "d", ohm)
    cable = {v: k for k, v in CABLE_OHM.items()}.get(ohm)
    return Result({"connector": a.connector, "pp_ohm": ohm},
                  f"connector {a.connector}: EV plugged in ({ohm:g} ohm" + (f", {cable} A cable)" if cable else ")"))


async def ev_unplug(c: Client, a: argparse.Namespace) -> Result:
    await c.call("board", names.board_connector_path(a.connector), names.BOARD_SIM_IFACE, "Unplug")
    return Result({"connector": a.connector}, f"connector {a.connector}: EV unplugged")


def _sim_switch(member: str, key: str, on_word: str, words: dict[str, bool]):
    """A handler for the Sim methods that take one boolean."""

    async def handler(c: Client, a: argparse.Namespace) -> Result:
        value = words[a.value]
        await _sim(c, a.connector, member, "b", value)
        return Result({"connector": a.connector, key: value}, f"connector {a.connector}: {on_word} {a.value}")

    return handler


ON_OFF = {"on": True, "off": False}
ev_ready = _sim_switch("SetEvReady", "ready", "EV ready", ON_OFF)
ev_diode = _sim_switch("SetDiodePresent", "diode_present", "EV diode", {"ok": True, "missing": False})
ev_rcd = _sim_switch("SetRcdTripped", "rcd_tripped", "RCD", {"trip": True, "clear": False})
ev_weld = _sim_switch("SetContactorWelded", "contactor_welded", "contactor welded", ON_OFF)
ev_ventilation = _sim_switch("SetVentilation", "ventilation", "EV ventilation request", ON_OFF)
ev_ignore_pwm = _sim_switch("SetEvIgnoresPwm", "ignores_pwm", "EV ignores PWM", ON_OFF)


async def ev_max_current(c: Client, a: argparse.Namespace) -> Result:
    await _sim(c, a.connector, "SetEvMaxCurrent", "d", a.amps)
    return Result({"connector": a.connector, "max_current_a": a.amps},
                  f"connector {a.connector}: EV draws at most {fmt.amps(a.amps)}")


async def ev_hlc(c: Client, a: argparse.Namespace) -> Result:
    """A whole ISO 15118-2 / DIN 70121 session from the EV simulator (evcharge.sim.ev) on this connector."""
    from ..sim import ev as ev_sim

    args = ev_sim.parser().parse_args([])
    args.protocol, args.dc, args.loops, args.connector = a.protocol, a.dc, a.loops, a.connector
    args.interface, args.sdp_address, args.misbehave = a.interface, a.sdp_address or None, a.misbehave
    args.cycle_s, args.bus_address, args.stay_plugged, args.sdp_port = 0.2, c.address, a.stay_plugged, a.sdp_port
    res = await ev_sim.run(args)
    loops = sum(n for name, n in res.requests if name in ("CurrentDemandReq", "ChargingStatusReq"))
    text = (f"connector {a.connector}: {a.protocol}{' DC' if a.dc or a.protocol == 'din' else ' AC'} session "
            + (f"{res.session_id} done, {loops} charge-loop requests" if res.ok else f"failed: {res.error}"))
    if not res.ok:
        raise CliError(text)
    return Result(dataclasses.asdict(res), text)


async def board_reset_fault(c: Client, a: argparse.Namespace) -> Result:
    (cleared,) = await c.call("board", names.board_connector_path(a.connector), names.BOARD_CONNECTOR_IFACE,
                              "ResetFault")
    return Result({"connector": a.connector, "cleared": list(cleared)},
                  f"connector {a.connector}: " + (f"cleared {', '.join(cleared)}" if cleared else
                                                  "no fault cleared (none latched, or the cause is still present)"))


# --- hints for errors -----------------------------------------------------------------------

UNKNOWN_OBJECT_ERRORS = frozenset({"org.freedesktop.DBus.Error.UnknownMethod",
                                   "org.freedesktop.DBus.Error.UnknownObject",
                                   "org.freedesktop.DBus.Error.UnknownInterface"})


async def explain_unknown(c: Client, service: str, a: argparse.Namespace) -> str:
    """Why a service did not know the object: usually a connector it does not have."""
    if service == "auth" and a.handler is auth_tap:
        return "the auth service has no simulated reader (a reader of type sim in auth.yaml; the SIL has one)"
    cid = getattr(a, "connector", None) or getattr(a, "target", None)
    if not cid:
        return ""
    iface = names.BOARD if service == "board" else names.EVSE if service == "evse" else None
    if iface is None:
        return ""
    path = names.BOARD_PATH if service == "board" else names.EVSE_PATH
    try:
        (ids,) = await c.call(service, path, names.PROPERTIES_IFACE, "Get", "ss", [iface, "ConnectorIds"])
    except Exception:  # noqa: BLE001 - only a hint; the error itself is already reported
        return ""
    if cid not in ids:
        return f"the {service} service has no connector {cid} (connectors: {', '.join(map(str, ids))})"
    if service == "board":
        return "the board is not simulated: the ev commands need the sim backend (board profile backend: sim)"
    return ""
