"""Write the libFuzzer seed corpus: one file per test vector, prefixed with its schema index."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "services"))
from exigen.schemasets import SCHEMA_SETS  # noqa: E402  (same order as exi_schemas[])


def main(out: Path) -> int:
    index = {ns: i for i, (_cid, ns, _roots) in enumerate(SCHEMA_SETS)}
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in sorted((REPO / "tests/unit/exi/vectors").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            (out / f"seed-{n:04d}").write_bytes(bytes([index[rec["ns"]]]) + bytes.fromhex(rec["hex"]))
            n += 1
    print(f"{n} seeds in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
