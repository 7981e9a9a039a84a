"""Where a running SIL publishes its bus address, so `evchargectl` finds it without options.

One file per user: `$XDG_RUNTIME_DIR/evcharge-sil/address`, or `/tmp/evcharge-sil-<uid>/address`
where there is no runtime directory (containers, CI). The runner writes it once every service is
ready and removes it on shutdown; a file left by a killed runner is recognised as stale because
nobody answers at the address.
"""

from __future__ import annotations

import os
from pathlib import Path


def address_file() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "evcharge-sil" if runtime else Path(f"/tmp/evcharge-sil-{os.getuid()}")
    return base / "address"


def read_address(path: Path | None = None) -> str | None:
    path = path or address_file()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def write_address(address: str, path: Path | None = None) -> Path:
    path = path or address_file()
    # Private directory: the address is a socket anyone could otherwise be pointed at.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(address + "\n", encoding="utf-8")
    os.replace(tmp, path)  # readers never see a half-written address
    return path


def remove_address(address: str, path: Path | None = None) -> None:
    """Remove the file only if it still names our bus (another runner may have replaced it)."""
    path = path or address_file()
    if read_address(path) == address:
        path.unlink(missing_ok=True)
