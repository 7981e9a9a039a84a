"""The SLAC service's adapter: raw socket on the PLC interface, timers, board CP, D-Bus."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from dbus_fast.aio import MessageBus

from ..common import names
from ..common.bus import Subscription, get_all
from ..common.log import fields
from ..common.service import ServiceContext
from .config import SlacConfig
from .evse import SlacEvse, State
from .interfaces import SlacInterface
from .messages import mac_bytes
from .rawsock import RawSocket

log = logging.getLogger("evcharge.slac")


class SlacService:
    def __init__(self, bus: MessageBus, cfg: SlacConfig) -> None:
        self.bus = bus
        self.cfg = cfg
        self.sock: RawSocket | None = None
        self.machine = SlacEvse(b"\x00" * 6, modem_mac=mac_bytes(cfg.modem_mac), slac_init_s=cfg.slac_init_s)
        self.iface = SlacInterface(self)
        self.board = Subscription(bus, names.BOARD)
        self._timer: asyncio.TimerHandle | None = None
        self._published: dict[str, Any] = {}
        self._reported = ""
        self._plugged = False
        self._cp: str | None = None
        self._duty: float | None = None

    def export(self) -> None:
        self.bus.export(names.SLAC_PATH, self.iface)

    async def start(self) -> None:
        self.sock = RawSocket(self.cfg.interface)
        self.machine.own_mac = self.sock.mac
        self.sock.start(self._on_frame)
        log.info("SLAC on %s (host %s, modem %s)", self.cfg.interface, ":".join(f"{b:02X}" for b in self.sock.mac),
                 self.cfg.modem_mac, extra=fields(connector=self.cfg.connector_id))
        if self.cfg.start == "now":
            self._begin()
        else:
            await self.board.start()
            path = names.board_connector_path(self.cfg.connector_id)
            await self.board.properties(names.BOARD_CONNECTOR_IFACE, self._on_board, path_namespace=path)
            try:
                self._on_board(path, await get_all(self.bus, names.BOARD, path, names.BOARD_CONNECTOR_IFACE))
            except Exception as e:  # the board may not be up yet: its signals will tell
                log.info("board not readable yet: %s", e)

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self.sock:
            self.sock.close()

    def _on_board(self, _path: str, props: dict[str, Any]) -> None:
        # PropertiesChanged carries only what changed: keep the last of each.
        self._cp = props.get("CpState", self._cp)
        self._duty = props.get("PwmDutyPct", self._duty)
        digital = self._cp in ("B", "C") and self._duty == 5.0
        if digital and not self._plugged:
            self._plugged = True
            self._begin()
        elif self._plugged and not digital:
            # Unplug, or 5 % withdrawn (a retry's X1, basic charging, F): a matching in progress
            # cannot finish; the next 5 % starts a new one. A match stays published until then.
            self._plugged = False
            if self.machine.state not in (State.MATCHED, State.FAILED):
                if self.machine.state is not State.IDLE:
                    log.info("SLAC abandoned in %s: the board left 5 %% PWM (CP %s, duty %s %%)",
                             self.machine.state.value, self._cp, self._duty,
                             extra=fields(connector=self.cfg.connector_id))
                self.machine.stop()
            if self._cp == "A":
                self.machine.stop()
            self._after()

    def _begin(self) -> None:
        self._reported = ""
        self._send(self.machine.start(time.monotonic()))
        self._after()

    def _send(self, frames: list[bytes]) -> None:
        assert self.sock is not None
        for f in frames:
            self.sock.send(f)

    def _on_frame(self, frame: bytes) -> None:
        self._send(self.machine.feed(frame, time.monotonic()))
        self._after()

    def _tick(self) -> None:
        self._timer = None
        self._send(self.machine.tick(time.monotonic()))
        self._after()

    def _after(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self.machine.deadline is not None:
            delay = max(0.0, self.machine.deadline - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._tick)
        props = {p: getattr(self.iface, p) for p in ("State", "EvMac", "Reason")}
        changed = {k: v for k, v in props.items() if self._published.get(k) != v}
        self._published = props
        if changed:
            self.iface.emit_properties_changed(changed)
        result = self.machine.result
        if result and result != self._reported:
            self._reported = result
            cid = self.cfg.connector_id
            if self.machine.state is State.MATCHED:
                log.info("SLAC matched EV %s", props["EvMac"], extra=fields(connector=cid))
            else:
                log.warning("SLAC failed: %s", self.machine.reason, extra=fields(connector=cid))
            self.iface.Result(result, self.machine.reason)


async def build(ctx: ServiceContext) -> SlacService:
    cfg = ctx.load_config(SlacConfig)
    svc = SlacService(ctx.bus, cfg)
    svc.export()
    return svc
