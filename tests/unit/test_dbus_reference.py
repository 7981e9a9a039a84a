"""docs/dbus-api.md is generated from the interface classes and must match them."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dbus_reference_is_up_to_date():
    result = subprocess.run([sys.executable, str(REPO / "docs/gen_dbus_reference.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
