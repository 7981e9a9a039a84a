"""The real OCPP station (`evcharge.ocpp.service.OcppService`) on simulated hardware, for benchmarks.

What is real: the whole service object - the WebSocket connection loop, the `adapter.Link`
(the `ocpp` library's ChargePoint with the project's framing checks), the boot/heartbeat
machine, the per-station timer loop, the transaction builder and the durable SQLite queue
(WAL, fsync on commit) with its sender - against the test CSMS on real loopback sockets.

What is replaced: only the D-Bus side. `OcppService` talks to the other evcharge services
through one object, `svc.bridge` (`ocpp/bridge.py`); `SimBridge` stands in for it. The calls the
real Bridge makes into the station when a D-Bus signal arrives (`on_connector_props`,
`on_session_started`, `on_session_event`, `on_meter`, `on_session_ended`) are made by
`SimCharger` instead, on the same schedule a plug-in/charge session produces. The D-Bus
connection itself is `NoBus` (the real Bridge is built in the constructor and registers a
message handler; nothing is ever sent on it). So the figures leave out the per-station D-Bus
work (signal decoding in dbus-fast, ~0.1-0.3 ms per signal): with one process per charger that
work lives in other processes anyway.

The validation modes compared by the benchmarks (`set_validation`):
- "as-configured": what the service runs with (the library's schema validation, synchronous,
  with the draft-04 check in front of jsonschema, see `evcharge/ocpp/validation.py`),
- "jsonschema": the library's own jsonschema validators only,
- "off": no schema validation at all (for comparison only; the product never runs like this).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from evcharge.ocpp import adapter, validation
from evcharge.ocpp.config import EvseMapping, OcppConfig
from evcharge.ocpp.service import OcppService
from ocpp import messages

_original_validate = messages._validate_payload  # noqa: SLF001
MODES = ("as-configured", "jsonschema", "off")


def set_validation(mode: str) -> None:
    """Switch schema validation for this process (both directions, every ChargePoint in it)."""
    if mode not in MODES:
        raise ValueError(f"validation mode must be one of {MODES}")
    messages._validate_payload = _original_validate if mode != "off" else (lambda _m, _v: None)  # noqa: SLF001
    validation.install(checked=mode == "as-configured")


class NoBus:
    """Stands for the dbus-fast MessageBus: the real Bridge registers a handler, nothing else happens."""

    def add_message_handler(self, _handler: Any) -> None:
        pass


class SimBridge:
    """`ocpp.bridge.Bridge`'s interface with sim hardware behind it instead of D-Bus services."""

    def __init__(self, svc: OcppService) -> None:
        self.station = svc
        self.stops: list[tuple[int, str]] = []
        self.station_tokens: list[str] = []

    async def start(self) -> None:
        pass

    async def connector_props(self, cid: int) -> dict[str, Any] | None:
        return {"State": "Available", "Available": True, "SessionId": "", "SessionToken": ""}

    async def ended_session(self, _session_id: str) -> dict[str, Any] | None:
        return None

    async def station_reservations(self) -> tuple[set[int], list[tuple[int, str, str]]] | None:
        return set(), []   # no reservation of an unspecified connector, none ended

    async def resync(self) -> None:
        await self.station.resync()

    async def read_meters(self) -> None:
        for mid in self.station.meter_ids():
            self.station.on_meter(mid, 0.0, 0.0)

    async def remote_start(self, cid: int, token: str) -> str:
        return ""

    async def stop(self, cid: int, reason: str) -> None:
        self.stops.append((cid, reason))

    async def set_availability(self, cid: int, operative: bool) -> None:
        pass

    async def set_limit(self, cid: int, limit_a: float | None) -> None:
        pass

    async def connection_timeout(self) -> float | None:
        return None

    async def set_local_list_enabled(self, enabled: bool) -> None:
        pass


class NoFirmware:
    """Stands for `ocpp.firmware.FirmwareAgent` (the update service is not on a bus here)."""

    async def start(self) -> None:
        pass


def make_station(i: int, csms_url: str, state_root: Path, *, sample_interval_s: int = 10,
                 heartbeat_s: int = 10, connectors: int = 1, fsync: bool = True) -> OcppService:
    cfg = OcppConfig(csms_url=csms_url, station_id=f"sim-{i:05d}", security_profile=0,
                     heartbeat_interval_s=heartbeat_s, message_timeout_s=30.0, websocket_ping_interval_s=60.0,
                     meter_sample_interval_s=sample_interval_s,
                     evses=[EvseMapping(c, c, 1) for c in range(1, connectors + 1)])
    cfg.validate()
    state = state_root / cfg.station_id
    state.mkdir(parents=True, exist_ok=True)
    svc = OcppService(NoBus(), cfg, state)  # type: ignore[arg-type]
    svc.bridge = SimBridge(svc)  # type: ignore[assignment]
    svc.firmware = NoFirmware()  # type: ignore[assignment]
    if not fsync:  # WAL commits without fsync: what is left is CPU (the disk is shared by the whole fleet)
        svc.queue.synchronous = "NORMAL"
        svc.queue.db.execute("PRAGMA synchronous=NORMAL")
    return svc


class SimCharger:
    """One connector's hardware as the evse and meter services would report it over D-Bus."""

    def __init__(self, svc: OcppService, cid: int = 1) -> None:
        self.svc = svc
        self.cid = cid
        self.energy_wh = 0.0
        self.session: str | None = None

    def plug_in_and_charge(self, token: str = "04A1B2C3D4") -> None:
        svc, cid = self.svc, self.cid
        self.session = f"{svc.cfg.station_id}-{int(time.time() * 1000) % 10**9}-{os.getpid()}"
        svc.on_connector_props(cid, {"State": "Preparing", "SessionId": self.session})
        svc.on_session_started(cid, self.session, adapter_now())
        svc.on_session_event(cid, self.session, "Authorized", {"token": token, "token_type": "ISO14443"})
        svc.on_connector_props(cid, {"State": "Charging", "SessionToken": token})

    def meter_tick(self, dt_s: float, power_w: float = 7360.0) -> None:
        if self.session is None:
            return
        self.energy_wh += power_w * dt_s / 3600.0
        self.svc.on_meter(self.svc.meters[self.cid], self.energy_wh, power_w)

    def unplug(self) -> None:
        svc, cid = self.svc, self.cid
        if self.session is None:
            return
        svc.on_connector_props(cid, {"State": "Finishing"})
        svc.on_session_ended(cid, self.session, "EVDisconnected", self.energy_wh)
        svc.on_connector_props(cid, {"State": "Available", "SessionId": "", "SessionToken": ""})
        self.session = None


def adapter_now() -> str:
    from evcharge.ocpp.service import utc_now
    return utc_now()


class RttProbe:
    """Times every CALL a station sends: Link.call from before the library validates and sends
    the request until the validated CALLRESULT is back (what the station waits for)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.by_action: dict[str, list[float]] = {}
        self.errors = 0
        self.recording = True
        self._orig = adapter.Link.call

    def install(self) -> None:
        orig = self._orig
        probe = self

        async def timed_call(link: Any, payload: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await orig(link, payload, *args, **kwargs)
            except Exception:
                probe.errors += 1
                raise
            finally:
                if probe.recording:
                    dt = time.perf_counter() - t0
                    probe.samples.append(dt)
                    probe.by_action.setdefault(type(payload).__name__, []).append(dt)

        adapter.Link.call = timed_call  # type: ignore[method-assign]

    def reset(self) -> None:
        self.samples = []
        self.by_action = {}
        self.errors = 0


async def wait_online(svcs: list[OcppService], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(s.online for s in svcs):
        if time.monotonic() > deadline:
            n = sum(1 for s in svcs if s.online)
            raise TimeoutError(f"only {n} of {len(svcs)} stations online after {timeout:.0f} s")
        await asyncio.sleep(0.2)


def rss_kb(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int | str = "self") -> float:
    """utime + stime of a process (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runq_wait_s(pid: int | str = "self") -> float:
    """Time the process's main thread spent runnable but waiting for a CPU (/proc/PID/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
