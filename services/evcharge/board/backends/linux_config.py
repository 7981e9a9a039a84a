"""Profile section for the `linux` backend: every line and channel by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...common.config import bounded

if TYPE_CHECKING:
    from ..profile import ConnectorProfile


@dataclass
class GpioLine:
    line: str = ""            # the line's name (label in the device tree / gpio-line-names)
    active_low: bool = False

    def validate(self) -> None:
        if not self.line:
            raise ValueError("line: a GPIO is named by its line name, e.g. 'CONTACTOR1'")


@dataclass
class PwmChannel:
    chip: str = ""            # the PWM controller's device name, e.g. 'fe20c000.pwm' (never pwmchipN)
    channel: int = 0
    # True where the CP driver inverts (SoC pin high -> CP -12 V): the backend then sets the
    # sysfs polarity to 'inversed' so duty_cycle still means "time at +12 V".
    inverted: bool = False

    def validate(self) -> None:
        if not self.chip:
            raise ValueError("chip: a PWM controller is named by its device, e.g. 'fe20c000.pwm'")
        if self.channel < 0:
            raise ValueError(f"channel: must be >= 0, got {self.channel}")


@dataclass
class AdcChannel:
    device: str = ""          # the IIO device's name attribute, e.g. 'mcp3202'
    channel: str = ""         # the channel, e.g. 'in_voltage0'
    # CP front ends divide and offset +/-12 V into the ADC range: volts = x * scale + offset, where
    # x is the ADC input in volts when the IIO driver publishes `<channel>_scale` (or the shared
    # `in_voltage_scale`; x = (raw + iio_offset) * iio_scale / 1000), else x is the raw count.
    scale: float = 1.0
    offset: float = 0.0

    def validate(self) -> None:
        if not self.device or not self.channel:
            raise ValueError("an ADC channel needs 'device' (IIO name) and 'channel' (e.g. in_voltage0)")


@dataclass
class LinuxConnectorIo:
    cp_pwm: PwmChannel | None = None
    cp_high: AdcChannel | None = None      # positive plateau (peak detector)
    cp_low: AdcChannel | None = None       # negative plateau (peak detector)
    pp: AdcChannel | None = None
    contactor: GpioLine | None = None
    contactor_feedback: GpioLine | None = None
    rcd_trip: GpioLine | None = None
    lock: GpioLine | None = None
    lock_feedback: GpioLine | None = None
    # PP front end: the plug's resistor to PE, pulled up by pp_pullup_ohm to pp_pullup_v (IEC
    # 61851-1 / 62196 designs use 1 kOhm to 3.3 V or 5 V). The backend solves the divider:
    # R_pp = pp_pullup_ohm * V / (pp_pullup_v - V).
    pp_pullup_ohm: float = bounded(1000.0, 100.0, 100000.0)
    pp_pullup_v: float = bounded(3.3, 1.0, 12.0)

    def check_against(self, connector: "ConnectorProfile") -> None:
        required = {"cp_pwm": self.cp_pwm, "cp_high": self.cp_high, "cp_low": self.cp_low,
                    "contactor": self.contactor}
        if connector.socket:
            required["pp"] = self.pp
        if connector.contactor_feedback:
            required["contactor_feedback"] = self.contactor_feedback
        if connector.rcd:
            required["rcd_trip"] = self.rcd_trip
        if connector.lock:
            required["lock"] = self.lock
        missing = [k for k, v in required.items() if v is None]
        if missing:
            raise ValueError(f"connector {connector.id}: linux: missing {', '.join(missing)}")
