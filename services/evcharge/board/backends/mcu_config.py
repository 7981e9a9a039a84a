"""Profile section for the `mcu` backend: the safety MCU's serial link."""

from __future__ import annotations

from dataclasses import dataclass

from ...common.config import bounded


@dataclass
class McuLink:
    port: str = ""            # a stable name, e.g. /dev/evcharge-mcu (udev symlink), never ttyS3
    baudrate: int = 115200
    # The MCU opens the contactors by itself when it hears nothing from us for this long.
    link_timeout_ms: float = bounded(500.0, 50.0, 5000.0)
    # While the port is gone (USB unplugged, MCU reset), try to reopen it this often.
    reopen_interval_ms: float = bounded(1000.0, 50.0, 60000.0)

    def validate(self) -> None:
        if not self.port:
            raise ValueError("port: the MCU's serial port, e.g. /dev/evcharge-mcu")
