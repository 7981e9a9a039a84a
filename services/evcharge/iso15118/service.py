"""The V2G service's adapter: SDP + V2GTP server for one connector, controller, D-Bus interface."""

from __future__ import annotations

import logging

from dbus_fast.aio import MessageBus

from ..common import names
from ..common.service import ServiceContext
from .config import V2gConfig
from .controllers import SimEvseController
from .interfaces import V2gInterface
from .secc import Limits
from .transport import ServerConfig, V2gServer

log = logging.getLogger("evcharge.iso15118")


class V2gService:
    def __init__(self, bus: MessageBus, cfg: V2gConfig) -> None:
        self.bus = bus
        self.cfg = cfg
        if cfg.controller == "sim":
            self.controller = SimEvseController(evse_id=cfg.evse_id, dc=cfg.dc, auth_delay_s=cfg.sim_auth_delay_s,
                                                cable_check_s=cfg.sim_cable_check_s,
                                                isolation_fault=cfg.sim_isolation_fault, lim=Limits())
        else:
            from .evse_controller import DbusEvseController

            self.controller = DbusEvseController(bus, cfg)
        scfg = ServerConfig(interface=cfg.interface, address=cfg.address, tcp_port=cfg.tcp_port, sdp_port=cfg.sdp_port,
                            sequence_timeout_s=cfg.sequence_timeout_s, enabled=tuple(cfg.protocols))
        self.server = V2gServer(scfg, self.controller, connector_id=cfg.connector_id, on_change=self._changed)
        self.iface = V2gInterface(self)
        self._published: dict[str, object] = {}
        self._ended_sessions = 0

    @property
    def phase(self) -> str:
        secc = self.server.secc
        if secc is None or secc.ended:
            return "Idle"
        return secc.phase.value

    def export(self) -> None:
        self.bus.export(names.V2G_PATH, self.iface)

    def _changed(self) -> None:
        props = {p: getattr(self.iface, p) for p in ("Phase", "Protocol", "SessionId", "LastStopReason", "Sessions")}
        changed = {k: v for k, v in props.items() if self._published.get(k) != v}
        self._published = props
        if changed:
            self.iface.emit_properties_changed(changed)
        secc = self.server.secc
        if secc is not None and secc.ended and self._ended_sessions < self.server.sessions:
            self._ended_sessions = self.server.sessions
            self.iface.SessionEnded(secc.session_id.hex().upper(), self.server.last_stop_reason)

    async def start(self) -> None:
        if hasattr(self.controller, "start"):
            await self.controller.start()
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        if hasattr(self.controller, "stop"):
            await self.controller.stop()


async def build(ctx: ServiceContext) -> V2gService:
    cfg = ctx.load_config(V2gConfig)
    svc = V2gService(ctx.bus, cfg)
    svc.export()
    return svc
