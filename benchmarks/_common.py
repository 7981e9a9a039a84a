"""Helpers shared by the benchmarks: a private bus with real service processes, and statistics."""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from evcharge.sil.dbusd import start_bus  # noqa: E402
from evcharge.sil.supervisor import ServiceSpec, Supervisor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def percentiles(samples_s: Iterable[float]) -> dict[str, float]:
    ms = sorted(s * 1000.0 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50_ms": statistics.median(ms), "p90_ms": q[89], "p99_ms": q[98], "max_ms": ms[-1]}


def report(name: str, stats: dict[str, float]) -> None:
    print(f"{name:<44} n={stats['n']:<6} p50={stats['p50_ms']:.3f} ms  p90={stats['p90_ms']:.3f} ms  "
          f"p99={stats['p99_ms']:.3f} ms  max={stats['max_ms']:.3f} ms")


@contextlib.asynccontextmanager
async def running_stack(services: Iterable[str]) -> AsyncIterator[tuple[str, Supervisor]]:
    bus = start_bus()
    work = Path(tempfile.mkdtemp(prefix="evcharge-bench-"))
    sup = Supervisor(bus.address, work)
    configs = {
        "board": {"profile": str(REPO / "board-support/boards/sim.yaml")},
        "energy": {"site_limit_a": 64},
        "evse": {},
    }
    try:
        for name in services:
            cfg = work / f"{name}.yaml"
            cfg.write_text(yaml.safe_dump(configs.get(name, {})))
            await sup.start(ServiceSpec(name, ["--config", str(cfg), "--log-level", "WARNING"]))
        yield bus.address, sup
    finally:
        await sup.stop_all()
        bus.stop()
