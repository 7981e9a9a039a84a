"""The board service's asyncio adapter: samples the backend, runs the controllers, publishes.

Sampling: every connector is read each `cp_sample_period_ms`; a push backend (sim, MCU) also
triggers a read when its inputs change, and a sample that differs from the confirmed CP state
is re-read after 1 ms so the debounce confirms within a few milliseconds. Outputs are written to
the backend only when they change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from dbus_fast.aio import MessageBus

from ..common import names
from ..common.log import fields
from ..common.service import ServiceContext
from .backends.base import BoardBackend, ConnectorOutputs
from .config import BoardConfig
from .controller import ConnectorConfig, ConnectorController, Status
from .interfaces import BoardInterface, ConnectorInterface, SimInterface
from .profile import BackendKind, BoardProfile, ConnectorProfile, load_profile

log = logging.getLogger("evcharge.board")

CONFIRM_DELAY_S = 0.001


def make_backend(profile: BoardProfile) -> BoardBackend:
    if profile.backend is BackendKind.SIM:
        from .backends.sim import SimBackend

        return SimBackend(profile)
    if profile.backend is BackendKind.LINUX:
        from .backends.linux import LinuxBackend

        return LinuxBackend(profile)
    from .backends.mcu import McuBackend

    return McuBackend(profile)


@dataclass
class ConnectorRuntime:
    svc: "BoardService"
    profile: ConnectorProfile
    controller: ConnectorController
    status: Status = field(init=False)
    iface: ConnectorInterface = field(init=False)
    sim_iface: SimInterface | None = None
    _written: ConnectorOutputs | None = None
    _resample: asyncio.TimerHandle | None = None
    _sim_published: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = self.controller.status()
        self.iface = ConnectorInterface(self)

    # requests from D-Bus
    def set_offer(self, current_a: float) -> None:
        self.controller.set_offer(current_a, time.monotonic())
        self.publish()

    def set_digital_communication(self, enabled: bool) -> None:
        self.controller.set_digital_communication(enabled, time.monotonic())
        self.publish()

    def set_lock(self, locked: bool) -> None:
        self.controller.set_lock(locked, time.monotonic())
        self.publish()

    def pulse_state_f(self, duration_s: float) -> None:
        self.controller.pulse_state_f(duration_s, time.monotonic())
        log.info("connector %d: E/F wake-up: state F for %g s", self.profile.id, duration_s,
                 extra=fields(connector=self.profile.id))
        self.publish()

    def reset_faults(self):
        cleared = self.controller.reset_faults(time.monotonic())
        if cleared:
            log.info("connector %d: faults cleared: %s", self.profile.id, ", ".join(f.value for f in cleared),
                     extra=fields(connector=self.profile.id))
        self.publish()
        self.sample()  # read the CP afresh right away instead of at the next poll
        return cleared

    # the simulated EV
    def sim_connector(self):
        return self.svc.backend.connectors[self.profile.id]  # type: ignore[attr-defined]

    def sim_change(self, **changes: object) -> None:
        self.svc.backend.change(self.profile.id, **changes)  # type: ignore[attr-defined]

    # hardware
    def sample(self) -> None:
        backend = self.svc.backend
        self.controller.sample(backend.read(self.profile.id), time.monotonic(), backend.link_ok)
        self.publish()
        if self.controller.cp_pending and self._resample is None:
            self._resample = asyncio.get_running_loop().call_later(CONFIRM_DELAY_S, self._confirm)

    def _confirm(self) -> None:
        self._resample = None
        self.sample()

    def tick(self) -> None:
        self.controller.tick(time.monotonic())
        self.publish()

    def publish(self) -> None:
        """Write changed outputs to the hardware first, then tell the bus."""
        outputs = self.controller.outputs
        if outputs != self._written:
            self.svc.backend.apply(self.profile.id, outputs)
            self._written = outputs
        new = self.controller.status()
        old = self.status
        if new == old:
            return
        self.status = new
        cid = self.profile.id
        changed = {}
        for attr, prop in (("cp_state", "CpState"), ("pwm_mode", "PwmMode"), ("duty_pct", "PwmDutyPct"),
                           ("offer_a", "OfferA"), ("advertised_a", "AdvertisedCurrentA"),
                           ("cable_max_a", "CableMaxCurrentA"), ("contactor_closed", "ContactorClosed"),
                           ("contactor_feedback", "ContactorFeedback"), ("locked", "Locked"),
                           ("faults", "Faults"), ("last_open_reason", "LastOpenReason"),
                           ("digital_communication", "DigitalCommunication")):
            if getattr(new, attr) != getattr(old, attr):
                changed[prop] = getattr(self.iface, prop)
        if new.cp_state != old.cp_state:
            log.info("connector %d: CP %s -> %s", cid, old.cp_state.value, new.cp_state.value,
                     extra=fields(connector=cid))
        if new.contactor_closed != old.contactor_closed:
            reason = "" if new.contactor_closed else new.last_open_reason.value
            log.info("connector %d: contactor %s%s", cid, "closed" if new.contactor_closed else "opened",
                     f" ({reason})" if reason else "", extra=fields(connector=cid))
            self.iface.ContactorChanged(new.contactor_closed, reason)
        for f in new.faults:
            if f not in old.faults:
                log.warning("connector %d: fault %s", cid, f.value, extra=fields(connector=cid))
                self.iface.FaultRaised(f.value)
        for f in old.faults:
            if f not in new.faults:
                log.info("connector %d: fault %s cleared", cid, f.value, extra=fields(connector=cid))
                self.iface.FaultCleared(f.value)
        self.iface.emit_properties_changed(changed)


class BoardService:
    def __init__(self, bus: MessageBus, profile: BoardProfile, backend: BoardBackend) -> None:
        self.bus = bus
        self.profile = profile
        self.backend = backend
        now = time.monotonic()
        self.connectors: dict[int, ConnectorRuntime] = {}
        for cp in profile.connectors:
            cfg = ConnectorConfig(max_current_a=cp.max_current_a, socket=cp.socket, lock=cp.lock,
                                  contactor_feedback=cp.contactor_feedback, rcd=cp.rcd,
                                  feedback_timeout_s=cp.contactor_feedback_timeout_ms / 1000.0,
                                  heartbeat_timeout_s=profile.heartbeat_timeout_s)
            self.connectors[cp.id] = ConnectorRuntime(self, cp, ConnectorController(cfg, now=now))
        self.iface = BoardInterface(self)
        self._poller: asyncio.Task[None] | None = None

    def export(self) -> None:
        self.bus.export(names.BOARD_PATH, self.iface)
        for cid, rt in self.connectors.items():
            path = names.board_connector_path(cid)
            self.bus.export(path, rt.iface)
            if self.profile.backend is BackendKind.SIM:
                rt.sim_iface = SimInterface(rt)
                self.bus.export(path, rt.sim_iface)
        if self.profile.backend is BackendKind.SIM:
            self.backend.on_sim_change = self._publish_sim  # type: ignore[attr-defined]

    def heartbeat(self) -> None:
        now = time.monotonic()
        for rt in self.connectors.values():
            rt.controller.heartbeat(now)
            rt.publish()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.backend.start(lambda cid: loop.call_soon(self._on_input, cid))
        for rt in self.connectors.values():
            rt.sample()
        self._poller = asyncio.create_task(self._poll())
        log.info("board %s (%s backend) with connectors %s", self.profile.name, self.profile.backend.value,
                 list(self.connectors))

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
        # Whatever happens next, the hardware is left with contactors open.
        await self.backend.stop()

    def _on_input(self, cid: int) -> None:
        rt = self.connectors.get(cid)
        if rt is not None:
            rt.sample()

    async def _poll(self) -> None:
        period = self.profile.cp_sample_period_ms / 1000.0
        while True:
            for rt in self.connectors.values():
                try:
                    rt.sample()
                except Exception:
                    # A read error must not stop the loop that enforces the timeouts.
                    log.exception("connector %d: sampling failed", rt.profile.id)
                    rt.tick()
            await asyncio.sleep(period)

    _SIM_PROPS = ("EvPluggedIn", "EvReady", "PpOhm", "EvMaxCurrentA", "EvCurrentA", "CpVoltageV", "PwmDutyPct",
                  "ContactorPhysicallyClosed", "ContactorWelded", "RcdTripped", "DiodePresent")

    def _publish_sim(self, cid: int) -> None:
        rt = self.connectors[cid]
        if rt.sim_iface is None:
            return
        values = {p: getattr(rt.sim_iface, p) for p in self._SIM_PROPS}
        changed = {k: v for k, v in values.items() if rt._sim_published.get(k) != v}
        rt._sim_published = values
        if changed:
            rt.sim_iface.emit_properties_changed(changed)


async def build(ctx: ServiceContext) -> BoardService:
    cfg = ctx.load_config(BoardConfig)
    profile_name = ctx.args.profile or cfg.profile
    profile = load_profile(profile_name)
    svc = BoardService(ctx.bus, profile, make_backend(profile))
    svc.export()
    return svc
