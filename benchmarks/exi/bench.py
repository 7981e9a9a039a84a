"""EXI codec benchmark: median per-message decode (bytes -> dict) and encode (dict -> bytes) time
through the public Python API, per schema and for the largest ISO 15118-20 messages, plus the size
of the compiled extension.

    python benchmarks/exi/bench.py [--vectors DIR] [--rounds N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from evcharge import exi
from evcharge.exi import _exi

REPO = Path(__file__).resolve().parents[2]
DEFAULT_VECTORS = REPO / "tests" / "unit" / "exi" / "vectors"
GOALS_US = {"din/iso-2": 5.0, "iso-20 largest": 30.0}
SHORT = {
    exi.NS_APP_PROTOCOL: "AppProtocol",
    exi.NS_DIN: "DIN 70121",
    exi.NS_ISO2: "ISO 15118-2",
    exi.NS_ISO20_COMMON: "ISO-20 Common",
    exi.NS_ISO20_AC: "ISO-20 AC",
    exi.NS_ISO20_DC: "ISO-20 DC",
    exi.NS_ISO20_ACDP: "ISO-20 ACDP",
    exi.NS_ISO20_WPT: "ISO-20 WPT",
}


def per_call_ns(fn, arg1, arg2, rounds: int) -> float:
    """Best of 5 batches of `rounds` calls: the steady-state cost of one call."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(rounds):
            fn(arg1, arg2)
        best = min(best, (time.perf_counter_ns() - t0) / rounds)
    return best


def load(vectors: Path) -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(vectors.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            out.append((rec["ns"], bytes.fromhex(rec["hex"])))
    return out


def so_sizes() -> tuple[str, int, int | None]:
    so = _exi.__file__
    size = os.path.getsize(so)
    strip = shutil.which("strip")
    if not strip:
        return so, size, None
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "stripped.so"
        subprocess.run([strip, "-s", "-o", str(dst), so], check=True)
        return so, size, dst.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=Path, default=DEFAULT_VECTORS)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()

    results: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for ns, data in load(args.vectors):
        msg = exi.decode(ns, data)
        dec = per_call_ns(exi.decode, ns, data, args.rounds)
        enc = per_call_ns(exi.encode, ns, msg, args.rounds)
        results[ns].append((dec / 1000, enc / 1000, len(data)))

    print(f"{'schema':<16}{'msgs':>6}{'median bytes':>14}{'decode us':>11}{'encode us':>11}{'max dec':>9}{'max enc':>9}")
    for ns, rows in results.items():
        print(f"{SHORT.get(ns, ns):<16}{len(rows):>6}{statistics.median(r[2] for r in rows):>14.0f}"
              f"{statistics.median(r[0] for r in rows):>11.2f}{statistics.median(r[1] for r in rows):>11.2f}"
              f"{max(r[0] for r in rows):>9.2f}{max(r[1] for r in rows):>9.2f}")

    iso20 = sorted((r for ns, rows in results.items() if ":-20:" in ns for r in rows), key=lambda r: -r[2])[:10]
    print(f"\nlargest ISO-20 messages ({len(iso20)}: {iso20[-1][2]}..{iso20[0][2]} bytes): "
          f"decode median {statistics.median(r[0] for r in iso20):.2f} us (max {max(r[0] for r in iso20):.2f}), "
          f"encode median {statistics.median(r[1] for r in iso20):.2f} us (max {max(r[1] for r in iso20):.2f})")
    din_iso2 = [r for ns in (exi.NS_DIN, exi.NS_ISO2) for r in results.get(ns, [])]
    if din_iso2:
        print(f"DIN + ISO-2: decode median {statistics.median(r[0] for r in din_iso2):.2f} us, "
              f"encode median {statistics.median(r[1] for r in din_iso2):.2f} us "
              f"(goal <= {GOALS_US['din/iso-2']} us; largest-ISO-20 goal <= {GOALS_US['iso-20 largest']} us)")

    so, size, stripped = so_sizes()
    print(f"\nextension {Path(so).name}: {size} bytes, stripped {stripped if stripped is not None else 'n/a (no strip)'}")
    for ns, t in _exi.table_sizes().items():
        print(f"  tables {SHORT.get(ns, ns):<14} {t['states']:>5} states {t['productions']:>5} productions "
              f"{t['datatypes']:>4} datatypes {t['names']:>4} names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
