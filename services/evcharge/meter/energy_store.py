"""The simulated meters' energy registers on disk (`<state_dir>/energy.json`).

A real meter keeps its total through a service restart; the simulator must too, or a restarted
meter service would report a transaction with negative energy. Writes are atomic (temp file,
fsync, rename) so a power cut leaves the old or the new total, never a torn file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "energy.json"


class EnergyStore:
    def __init__(self, state_dir: Path, *, min_interval_s: float = 5.0) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self.min_interval_s = min_interval_s
        self._values: dict[int, float] = self._load()
        self._saved: dict[int, float] = dict(self._values)
        self._last_save_s: float | None = None

    def _load(self) -> dict[int, float]:
        try:
            data = json.loads(self.path.read_text())
            return {int(k): float(v) for k, v in data.get("energy_wh", {}).items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError, OSError) as e:
            # Starting from 0 is wrong, but refusing to start leaves the charger without a meter.
            log.error("cannot read %s (%s): simulated energy registers restart at 0", self.path, e)
            return {}

    def get(self, connector_id: int) -> float:
        return self._values.get(connector_id, 0.0)

    def set(self, connector_id: int, energy_wh: float) -> None:
        self._values[connector_id] = energy_wh

    def maybe_save(self, now_s: float) -> None:
        """Save if something changed and the last save is at least `min_interval_s` old."""
        if self._values == self._saved:
            return
        if self._last_save_s is not None and now_s - self._last_save_s < self.min_interval_s:
            return
        self.save()
        self._last_save_s = now_s

    def save(self) -> None:
        if self._values == self._saved and self.path.exists():
            return
        snapshot = dict(self._values)
        text = json.dumps({"energy_wh": {str(k): v for k, v in sorted(snapshot.items())}})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".energy-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a power cut
        finally:
            os.close(dir_fd)
        self._saved = snapshot
