"""The committed C grammar tables are exactly what the generator produces from the vendored XSDs."""
from __future__ import annotations

import sys
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[3] / "services"


def test_generated_tables_are_up_to_date() -> None:
    sys.path.insert(0, str(SERVICES))
    try:
        from exigen.__main__ import OUTPUT, generate
    finally:
        sys.path.remove(str(SERVICES))
    assert OUTPUT.read_text() == generate(), "stale tables: run `cd services && python -m exigen`"
