"""Human-readable text for what the CLI prints. JSON output is the data itself (see main.py)."""

from __future__ import annotations

import json
from typing import Any


def amps(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} A"


def energy(wh: float | None) -> str:
    if wh is None:
        return "-"
    return f"{wh / 1000:.2f} kWh" if abs(wh) >= 10_000 else f"{wh:.1f} Wh"


def power(w: float | None) -> str:
    if w is None:
        return "-"
    return f"{w / 1000:.2f} kW" if abs(w) >= 1000 else f"{w:.0f} W"


def faults(items: list[str] | None) -> str:
    return ", ".join(items) if items else "none"


def onoff(value: bool | None, on: str = "on", off: str = "off") -> str:
    return "-" if value is None else (on if value else off)


# --- status ---------------------------------------------------------------------------------

def services_line(services: dict[str, dict[str, Any]], restarts: dict[str, int] | None = None) -> str:
    parts = []
    for name, info in services.items():
        if not info["running"]:
            parts.append(f"{name} DOWN")
            continue
        extra = [f"pid {info['pid']}"] if info.get("pid") else []
        if restarts and restarts.get(name):
            extra.append(f"restarted {restarts[name]}x")
        parts.append(f"{name} up" + (f" ({', '.join(extra)})" if extra else ""))
    return ", ".join(parts)


def site_line(site: dict[str, Any] | None) -> str:
    if site is None:
        return "unknown (energy service not running)"
    alloc = ", ".join(f"{cid}: {amps(a)}" for cid, a in site["allocations_a"].items()) or "none"
    limits = ", ".join(f"{'site' if lim['connector'] == 0 else 'connector ' + str(lim['connector'])} "
                       f"{amps(lim['limit_a'])} ({lim['source']})" for lim in site["external_limits"]) or "none"
    return (f"limit {amps(site['limit_a'])} (effective {amps(site['effective_limit_a'])}); "
            f"allocated {alloc}; external limits: {limits}")


def auth_line(auth: dict[str, Any] | None) -> str:
    if auth is None:
        return "unknown (auth service not running)"
    readers = ", ".join(f"{r['name']} ({'online' if r['online'] else 'offline'})" for r in auth["readers"]) or "none"
    return (f"free vend {onoff(auth['free_vend'])}, {auth['local_list_size']} token(s) in the local list, "
            f"readers: {readers}")


def connector_block(c: dict[str, Any]) -> list[str]:
    e, s, b, ev, m = c["evse"], c["session"], c["board"], c["ev"], c["meter"]
    title = f"connector {c['id']}: {e['state'] if e else 'unknown (evse service not running)'}"
    if e and not e["available"]:
        title += " (inoperative)"
    lines = [title]
    if s:
        paused = ", PAUSED" if s["paused"] else ""
        stopped = f", stopped: {s['stop_reason']}" if s["stop_reason"] else ""
        lines.append(f"  session   {s['id']}  token {s['token'] or '-'}  since {s['started_at']}  "
                     f"{energy(s['energy_wh'])}{paused}{stopped}")
    elif e:
        lines.append("  session   none")
    if e:
        lines.append(f"  current   offered {amps(e['offered_current_a'])}, allocated {amps(e['allocated_current_a'])} "
                     f"(max {amps(e['max_current_a'])})")
    if b:
        lines.append(f"  board     CP {b['cp_state']}, PWM {b['pwm_duty_pct']:.1f} % ({b['pwm_mode']}, advertises "
                     f"{amps(b['advertised_current_a'])}, cable {amps(b['cable_max_current_a'])}), contactor "
                     f"{onoff(b['contactor_closed'], 'closed', 'open')}, {onoff(b['locked'], 'locked', 'unlocked')}, "
                     f"faults: {faults(b['faults'])}")
    else:
        lines.append("  board     unknown (board service not running)")
    if m:
        lines.append(f"  meter     {power(m['power_w'])}, {energy(m['energy_wh'])} total"
                     f"{'' if m['online'] else ' (OFFLINE)'}")
    if ev:
        if ev["plugged_in"]:
            lines.append(f"  ev (sim)  plugged in ({ev['pp_ohm']:g} ohm cable), {onoff(ev['ready'], 'ready', 'not ready')}, "
                         f"drawing {amps(ev['current_a'])} (max {amps(ev['max_current_a'])})"
                         + ("" if ev["diode_present"] else ", diode MISSING")
                         + (", RCD TRIPPED" if ev["rcd_tripped"] else "")
                         + (", contactor WELDED" if ev["contactor_welded"] else ""))
        else:
            lines.append("  ev (sim)  not plugged in")
    return lines


def status(snap: dict[str, Any], address: str) -> str:
    board = snap["board"]
    lines = [f"bus       {address}",
             f"services  {services_line(snap['services'])}"]
    if board:
        lines.append(f"board     {board['name']} ({board['backend']} backend)")
    lines += [f"site      {site_line(snap['site'])}",
              f"auth      {auth_line(snap['auth'])}"]
    for c in snap["connectors"]:
        lines.append("")
        lines += connector_block(c)
    if not snap["connectors"]:
        lines += ["", "no connectors known (neither the board nor the evse service is running)"]
    return "\n".join(lines)


# --- sessions -------------------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


def sessions(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no sessions"
    rows = [[s["session_id"], str(s["connector_id"]), s["token"] or "-", s["started_at"] or "-",
             s["ended_at"] or "running", energy(s["energy_wh"]), s["stop_reason"] or "-"] for s in items]
    return table(["SESSION", "CONN", "TOKEN", "STARTED", "ENDED", "ENERGY", "REASON"], rows)


# --- monitor --------------------------------------------------------------------------------

def event(ev: dict[str, Any]) -> str:
    t = ev["time"][11:23]  # hh:mm:ss.mmm of the RFC 3339 time
    where = ev["service"] + (f" connector {ev['connector']}" if ev.get("connector") is not None else "")
    if ev["type"] == "service":
        return f"{t} {ev['service']}: {'up' if ev['running'] else 'DOWN'}"
    if ev["type"] == "properties":
        changed = " ".join(f"{k}={_value(v)}" for k, v in ev["changed"].items())
        return f"{t} {where}: {changed}"
    args = ev["args"]
    text = " ".join(f"{k}={_value(v)}" for k, v in args.items()) if isinstance(args, dict) else \
        " ".join(_value(v) for v in args)
    return f"{t} {where}: {ev['member']} {text}".rstrip()


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        return v if v and " " not in v else json.dumps(v)
    return json.dumps(v, separators=(",", ":"))
