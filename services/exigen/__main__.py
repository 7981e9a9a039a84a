"""CLI: regenerate services/evcharge/exi/exi_tables.c (or check it is current with --check)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import emit, grammar, xsd
from .schemasets import SCHEMA_SETS

SERVICES = Path(__file__).resolve().parent.parent
SCHEMA_DIR = SERVICES / "exi-schemas"
OUTPUT = SERVICES / "evcharge" / "exi" / "exi_tables.c"


def generate(schema_dir: Path = SCHEMA_DIR) -> str:
    sets = []
    for cid, ns, roots in SCHEMA_SETS:
        schemas = xsd.load([schema_dir / r for r in roots])
        sets.append((cid, ns, grammar.GrammarSet(schemas)))
    return emit.emit_all(sets)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m exigen", description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed tables are stale")
    ap.add_argument("--output", type=Path, default=OUTPUT)
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `cd services && python -m exigen`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text)} chars)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
