"""Every benchmark script still runs and prints its figures (at a few iterations: this checks that
they work, not what they measure; the figures come from full runs, benchmarks/README.md).

A refactor of the services once broke `benchmarks/ocpp/bench.py` (its simulated bridge lacked
two new methods) and nothing noticed until the next benchmark run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (script and arguments, a line every run prints)
RUNS = [
    (["benchmarks/dbus_latency.py", "--n", "50"], "signal latency process -> process"),
    (["benchmarks/cp_to_contactor.py", "--n", "5"], "C->B (EV S2 opens) -> contactor open"),
    (["benchmarks/exi/bench.py", "--rounds", "2"], "tables ISO-20 DC"),
    (["benchmarks/iso15118/bench.py", "--sessions", "1", "--loops", "5"], "CurrentDemandReq"),
    (["benchmarks/iso15118/bench_stack.py", "--loops", "5"], "CurrentDemandReq"),
    (["benchmarks/memory.py", "--phases", "idle", "--services", "board,evse", "--settle", "1"], "total PSS: idle"),
    (["benchmarks/ocpp/bench.py", "--n", "20"], "TransactionEvent"),
    (["benchmarks/ocpp/fleet.py", "--stations", "5", "--window", "3"], "stations"),
]


@pytest.mark.parametrize(("argv", "expected"), RUNS, ids=[" ".join(r[0][:1]) for r in RUNS])
def test_benchmark_runs_and_prints_its_figures(argv, expected):
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert expected in proc.stdout, proc.stdout[-3000:]
