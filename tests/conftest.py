"""Test layers are marked by directory so `pytest -m unit` etc. select a layer."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(REPO / "tests")
        layer = rel.parts[0]
        if layer in ("unit", "integration", "system"):
            item.add_marker(getattr(pytest.mark, layer))
