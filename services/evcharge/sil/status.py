"""The SIL runner's live view of the charger.

On a terminal: a compact table redrawn in place when something changes (and every second, for
the clock and the energy counters). Otherwise (a pipe, a log file, CI): one timestamped line per
change of a connector or of the services, leaving out the meter readings that change on every
poll so the log stays readable.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from typing import Any, TextIO

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from ..cli import format as fmt
from ..cli.snapshot import collect
from ..common.bus import call

MIN_REDRAW_S = 0.2  # coalesce bursts of property changes into one redraw
REFRESH_S = 1.0


def _row(c: dict[str, Any]) -> list[str]:
    e, s, b, ev, m = c["evse"], c["session"], c["board"], c["ev"], c["meter"]
    ev_text = "-" if ev is None else ("unplugged" if not ev["plugged_in"] else ("ready" if ev["ready"] else "plugged"))
    state = "-" if e is None else e["state"] + ("" if e["available"] else "*")
    return [str(c["id"]), state, ev_text,
            b["cp_state"] if b else "-", f"{b['pwm_duty_pct']:.1f}" if b else "-",
            ("closed" if b["contactor_closed"] else "open") if b else "-",
            fmt.amps(e["offered_current_a"]) if e else "-", fmt.amps(e["allocated_current_a"]) if e else "-",
            fmt.power(m["power_w"]) if m else "-", s["id"][:8] if s else "-", (s["token"] or "-") if s else "-",
            fmt.energy(s["energy_wh"]) if s else "-",
            ", ".join(sorted(set((b["faults"] if b else []) + (e["faults"] if e else [])))) or "-"]


HEADERS = ["CONN", "STATE", "EV", "CP", "PWM%", "CONTACTOR", "OFFER", "ALLOC", "POWER", "SESSION", "TOKEN",
           "ENERGY", "FAULTS"]


def table(snap: dict[str, Any], restarts: dict[str, int], width: int) -> list[str]:
    lines = [f"evcharge SIL  {time.strftime('%H:%M:%S')}  (Ctrl-C stops everything)",
             f"services: {fmt.services_line(snap['services'], restarts)}",
             f"site:     {fmt.site_line(snap['site'])}", ""]
    lines += fmt.table(HEADERS, [_row(c) for c in snap["connectors"]]).splitlines()
    return [line[:width] for line in lines]  # never wrap: the redraw moves up by line count


def change_lines(snap: dict[str, Any], restarts: dict[str, int]) -> dict[str, str]:
    """key -> line; a line is printed when the line for its key differs from the last one printed."""
    out = {"services": f"services: {fmt.services_line(snap['services'], restarts)}"}
    for c in snap["connectors"]:
        e, s, b, ev = c["evse"], c["session"], c["board"], c["ev"]
        parts = [e["state"] + ("" if e["available"] else " (inoperative)") if e else "evse unknown"]
        if ev is not None:
            parts.append("EV " + ("unplugged" if not ev["plugged_in"] else ("ready" if ev["ready"] else "plugged in")))
        if b:
            parts.append(f"CP {b['cp_state']}, PWM {b['pwm_duty_pct']:.1f} %, contactor "
                         f"{'closed' if b['contactor_closed'] else 'open'}")
        if e:
            parts.append(f"offer {fmt.amps(e['offered_current_a'])}, allocated {fmt.amps(e['allocated_current_a'])}")
        if s:
            parts.append(f"session {s['id'][:8]} token {s['token'] or '-'}" + (" paused" if s["paused"] else "")
                         + (f" stopped ({s['stop_reason']})" if s["stop_reason"] else ""))
        all_faults = sorted(set((b["faults"] if b else []) + (e["faults"] if e else [])))
        parts.append(f"faults: {fmt.faults(all_faults)}")
        out[f"connector {c['id']}"] = f"connector {c['id']}: " + ", ".join(parts)
    return out


class LiveStatus:
    def __init__(self, bus: MessageBus, out: TextIO, tty: bool, restarts: Callable[[], dict[str, int]]) -> None:
        self.bus = bus
        self.out = out
        self.tty = tty
        self.restarts = restarts
        self._changed = asyncio.Event()
        self._drawn_lines = 0
        self._printed: dict[str, str] = {}

    async def start(self) -> None:
        def on_message(msg: Message) -> None:
            if msg.message_type == MessageType.SIGNAL:
                self._changed.set()

        self.bus.add_message_handler(on_message)
        for rule in ("type='signal',path_namespace='/org/evcharge'",
                     "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0namespace='org.evcharge'"):
            await call(self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                       "s", [rule])

    def log_handler(self) -> logging.Handler:
        view = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                view.note(f"evcharge-sil: {record.getMessage()}")

        return Handler(logging.WARNING)

    def note(self, text: str) -> None:
        """A message above the table: clear the drawing, print, redraw on the next round."""
        prefix = f"\x1b[{self._drawn_lines}F\x1b[J" if self.tty and self._drawn_lines else ""
        self.out.write(prefix + text + "\n")
        self.out.flush()
        self._drawn_lines = 0
        self._changed.set()

    async def render_once(self) -> None:
        snap = await collect(self.bus)
        restarts = self.restarts()
        if self.tty:
            width = shutil.get_terminal_size((120, 24)).columns
            lines = table(snap, restarts, width)
            # Move up over the previous drawing and clear it; the banner above stays.
            prefix = f"\x1b[{self._drawn_lines}F\x1b[J" if self._drawn_lines else ""
            self.out.write(prefix + "\n".join(lines) + "\n")
            self._drawn_lines = len(lines)
        else:
            stamp = time.strftime("%H:%M:%S")
            for key, line in change_lines(snap, restarts).items():
                if self._printed.get(key) != line:
                    self.out.write(f"{stamp} {line}\n")
                    self._printed[key] = line
        self.out.flush()

    async def run(self, stop: asyncio.Event) -> None:
        """Render until `stop` is set."""
        while not stop.is_set():
            self._changed.clear()
            await self.render_once()
            await asyncio.sleep(MIN_REDRAW_S)
            waiters = [asyncio.ensure_future(self._changed.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=REFRESH_S, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
