"""The `linux` board backend: CP PWM through sysfs PWM, CP/PP through IIO ADCs, relays through GPIO.

Everything is found by name, never by number, because pwmchipN / iio:deviceN / gpiochipN follow
probe order and change between kernels:

- GPIO: the line name (device tree `gpio-line-names`), searched across `<dev_root>/gpiochip*`
  with python-periphery's character-device API. Active-low is applied here, not by the kernel,
  so an output is requested already at its *inactive* physical level (no glitch on open).
- PWM: `<sysfs_root>/class/pwm/pwmchipN` whose `device` link points at the named controller
  (basename, e.g. `fe20c000.pwm`) or whose `device/of_node` is named so (e.g. `pwm@fe20c000`).
- ADC: `<sysfs_root>/bus/iio/devices/iio:deviceN` whose `label` or `name` matches.

Assumed CP driver circuit (typical of Linux-only designs): the SoC PWM pin drives a comparator /
op-amp stage with +/-12 V rails, so pin high = CP +12 V and pin low = CP -12 V (set `inverted:
true` on the PWM channel where the stage inverts). Hence:

- `PwmMode.PWM`  -> 1 kHz (period 1 ms), duty_cycle = duty_pct of the period at +12 V;
- `PwmMode.HIGH` -> duty 100 %: steady +12 V (X1);
- `PwmMode.LOW`  -> duty 0 %: steady -12 V (state F); the front end does the inversion to -12 V.

The PWM stays *enabled* in HIGH and LOW, also after `stop()`: a disabled (or unexported) PWM
leaves the pin at a driver-specific idle level, which on some controllers is low (= state F) and
on others floats. This circuit cannot produce 0 V (state E); E is only ever measured.

CP plateaus are read from two ADC channels behind peak detectors (positive and negative plateau).
The PP resistor is solved from the PP ADC voltage and the profile's pull-up (`pp_pullup_ohm`,
default 1 kOhm, to `pp_pullup_v`, default 3.3 V; use 5.0 for 5 V front ends).

This is a polling backend: `read()` samples the ADCs and inputs when the controller asks (every
`cp_sample_period_ms`) and `on_input` is not called. Each sample is one `pread` on an fd held
open for the backend's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..profile import BoardProfile, ConnectorProfile
from .base import SAFE_OUTPUTS, BackendError, BoardBackend, ConnectorInputs, ConnectorOutputs, PwmMode
from .linux_config import AdcChannel, GpioLine, LinuxConnectorIo, PwmChannel

log = logging.getLogger(__name__)

PWM_PERIOD_NS = 1_000_000  # IEC 61851-1: 1 kHz
# After writing `export` the kernel creates pwmN/ at once, but udev may still be fixing its
# permissions; wait this long for the attributes before giving up.
PWM_EXPORT_WAIT_S = 1.0
# At or above this fraction of the pull-up voltage the PP line is open: nothing plugged in.
PP_OPEN_FRACTION = 0.95
GPIO_CONSUMER = "evcharge-board"


# ---- GPIO seam ------------------------------------------------------------------------------

class GpioHandle(Protocol):
    """One requested line. Values are *physical* levels; active-low is the backend's business."""

    def read(self) -> bool: ...
    def write(self, value: bool) -> None: ...
    def close(self) -> None: ...


class GpioLineFactory(Protocol):
    def open(self, line_name: str, *, output: bool, initial: bool = False) -> GpioHandle:
        """Request the line called `line_name`; outputs start at physical level `initial`.
        Raises BackendError naming the line (and chip) when it is missing or busy."""
        ...


def _chip_number(path: Path) -> int:
    m = re.search(r"(\d+)$", path.name)
    return int(m.group(1)) if m else -1


class PeripheryGpioFactory:
    """The real thing: python-periphery's character-device GPIO, line found by name."""

    def __init__(self, dev_root: str | os.PathLike[str] = "/dev", consumer: str = GPIO_CONSUMER) -> None:
        self.dev_root = Path(dev_root)
        self.consumer = consumer

    def open(self, line_name: str, *, output: bool, initial: bool = False) -> GpioHandle:
        from periphery import GPIO, GPIOError  # imported late: the sim and mcu backends do not need it

        chips = sorted(self.dev_root.glob("gpiochip*"), key=_chip_number)
        if not chips:
            raise BackendError(f"GPIO line {line_name!r}: no GPIO chips ({self.dev_root}/gpiochip*)")
        direction = ("high" if initial else "low") if output else "in"
        for chip in chips:
            try:
                gpio = GPIO(str(chip), line_name, direction, label=self.consumer)
            except LookupError:
                continue  # not on this chip
            except (GPIOError, OSError, TypeError, ValueError) as e:
                raise BackendError(f"GPIO line {line_name!r}: {chip}: {e}") from e
            # gpiolib warns about duplicate line names; like libgpiod, the first chip wins.
            return _PeripheryHandle(gpio, str(chip), line_name)
        raise BackendError(f"GPIO line {line_name!r} not found on {', '.join(map(str, chips))}")


class _PeripheryHandle:
    def __init__(self, gpio: object, chip: str, name: str) -> None:
        self._gpio = gpio
        self._where = f"GPIO line {name!r} on {chip}"

    def read(self) -> bool:
        try:
            return bool(self._gpio.read())  # type: ignore[attr-defined]
        except Exception as e:  # periphery raises GPIOError (an IOError) or TypeError
            raise BackendError(f"{self._where}: read: {e}") from e

    def write(self, value: bool) -> None:
        try:
            self._gpio.write(bool(value))  # type: ignore[attr-defined]
        except Exception as e:
            raise BackendError(f"{self._where}: write: {e}") from e

    def close(self) -> None:
        try:
            self._gpio.close()  # type: ignore[attr-defined]
        except Exception as e:
            raise BackendError(f"{self._where}: close: {e}") from e


class _Gpio:
    """A profile line: logical value <-> physical level through active_low."""

    def __init__(self, factory: GpioLineFactory, cfg: GpioLine, what: str, *, output: bool) -> None:
        self.cfg = cfg
        self.what = what
        try:
            # Outputs start inactive (contactor open, lock released).
            self._h = factory.open(cfg.line, output=output, initial=cfg.active_low)
        except BackendError as e:
            raise BackendError(f"{what}: {e}") from e

    def get(self) -> bool:
        return self._h.read() != self.cfg.active_low

    def set(self, active: bool) -> None:
        self._h.write(bool(active) != self.cfg.active_low)

    def close(self) -> None:
        self._h.close()


# ---- sysfs helpers --------------------------------------------------------------------------

def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as e:
        raise BackendError(f"{what}: reading {path}: {e.strerror or e}") from e


def _write_text(path: Path, value: str, what: str) -> None:
    try:
        # O_TRUNC is ignored by sysfs and keeps a plain-file tree (tests) honest.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise BackendError(f"{what}: writing {value!r} to {path}: {e.strerror or e}") from e


def _link_name(path: Path) -> str | None:
    try:
        return Path(os.path.realpath(path)).name if path.exists() else None
    except OSError:
        return None


# ---- PWM ------------------------------------------------------------------------------------


def _find_named(base: Path, pattern: str, wanted: str, kind: str, what: str,
                names_of: Callable[[Path], set[str]], hint: str = "") -> Path:
    """The one entry of `base` matching `pattern` whose names include `wanted`: devices are
    found by name, never by their kernel-assigned number, and the error lists what was there."""
    seen: list[str] = []
    matches: list[Path] = []
    for entry in sorted(base.glob(pattern), key=_chip_number):
        names = names_of(entry)
        seen.append(f"{entry.name} ({', '.join(sorted(names)) or 'unnamed'})")
        if wanted in names:
            matches.append(entry)
    if not matches:
        found = "; ".join(seen) or f"no {pattern} under {base}"
        raise BackendError(f"{what}: no {kind} named {wanted!r} in {base} (found: {found})")
    if len(matches) > 1:
        raise BackendError(f"{what}: {wanted!r} matches {', '.join(m.name for m in matches)}{hint}")
    return matches[0]

class _SysfsPwm:
    def __init__(self, sysfs_root: Path, cfg: PwmChannel, what: str) -> None:
        self.cfg = cfg
        self.what = f"{what} (PWM {cfg.chip} channel {cfg.channel})"
        self.chip_dir = self._find_chip(sysfs_root / "class" / "pwm")
        self.dir = self.chip_dir / f"pwm{cfg.channel}"
        self._duty_ns: int | None = None

    def _find_chip(self, base: Path) -> Path:
        chip = _find_named(base, "pwmchip*", self.cfg.chip, "PWM controller", self.what, lambda c: {
            n for n in (_link_name(c / "device"), _link_name(c / "device" / "of_node")) if n})
        npwm = chip / "npwm"
        if npwm.exists():
            try:
                n = int(_read_text(npwm, self.what))
            except ValueError:
                n = None
            if n is not None and self.cfg.channel >= n:
                raise BackendError(f"{self.what}: {chip} has {n} channel(s) ({npwm})")
        return chip

    async def open(self) -> None:
        if not (self.dir / "enable").exists():
            _write_text(self.chip_dir / "export", str(self.cfg.channel), self.what)
            deadline = time.monotonic() + PWM_EXPORT_WAIT_S
            while not all((self.dir / a).exists() for a in ("enable", "period", "duty_cycle")):
                if time.monotonic() > deadline:
                    raise BackendError(f"{self.what}: {self.dir} did not appear after writing "
                                       f"{self.cfg.channel} to {self.chip_dir / 'export'}")
                await asyncio.sleep(0.01)
        polarity = "inversed" if self.cfg.inverted else "normal"
        pol_file = self.dir / "polarity"
        current_pol = _read_text(pol_file, self.what) if pol_file.exists() else "normal"
        if current_pol != polarity:
            if not pol_file.exists():
                raise BackendError(f"{self.what}: 'inverted' needs {pol_file}, which this driver lacks")
            # Most drivers refuse a polarity change while enabled.
            _write_text(self.dir / "enable", "0", self.what)
            _write_text(pol_file, polarity, self.what)
        period = self._read_int("period")
        if period != PWM_PERIOD_NS:
            # The kernel refuses duty_cycle > period at every step: shrink duty first if needed.
            if self._read_int("duty_cycle") > PWM_PERIOD_NS:
                _write_text(self.dir / "duty_cycle", "0", self.what)
            _write_text(self.dir / "period", str(PWM_PERIOD_NS), self.what)
        self.set(PwmMode.HIGH, 100.0)
        _write_text(self.dir / "enable", "1", self.what)

    def _read_int(self, attr: str) -> int:
        text = _read_text(self.dir / attr, self.what)
        try:
            return int(text)
        except ValueError:
            raise BackendError(f"{self.what}: {self.dir / attr} holds {text!r}, not a number") from None

    def set(self, mode: PwmMode, duty_pct: float) -> None:
        if mode is PwmMode.HIGH:
            duty_ns = PWM_PERIOD_NS
        elif mode is PwmMode.LOW:
            duty_ns = 0
        else:
            if not math.isfinite(duty_pct) or not 0.0 <= duty_pct <= 100.0:
                raise BackendError(f"{self.what}: duty {duty_pct!r} % is not within 0..100")
            duty_ns = round(PWM_PERIOD_NS * duty_pct / 100.0)
        if duty_ns == self._duty_ns:
            return  # some drivers restart the period on every write: do not glitch the EV's sampling
        _write_text(self.dir / "duty_cycle", str(duty_ns), self.what)
        self._duty_ns = duty_ns

    @property
    def duty_ns(self) -> int | None:
        return self._duty_ns


# ---- ADC ------------------------------------------------------------------------------------

class _IioChannel:
    def __init__(self, sysfs_root: Path, cfg: AdcChannel, what: str) -> None:
        self.cfg = cfg
        self.what = f"{what} (IIO {cfg.device} {cfg.channel})"
        self.dev = self._find_device(sysfs_root / "bus" / "iio" / "devices")
        self.raw_path = self.dev / f"{cfg.channel}_raw"
        if not self.raw_path.exists():
            have = sorted(p.name[:-4] for p in self.dev.glob("*_raw"))
            raise BackendError(f"{self.what}: no {self.raw_path} (channels: {', '.join(have) or 'none'})")
        # IIO publishes per-channel or per-type ("shared_by_type") scale and offset.
        self.iio_scale = self._attr("scale")
        self.iio_offset = self._attr("offset") or 0.0
        try:
            self._fd: int | None = os.open(self.raw_path, os.O_RDONLY)
        except OSError as e:
            raise BackendError(f"{self.what}: opening {self.raw_path}: {e.strerror or e}") from e

    def _find_device(self, base: Path) -> Path:
        return _find_named(base, "iio:device*", self.cfg.device, "IIO device", self.what,
                           lambda d: {_read_text(d / a, self.what) for a in ("label", "name") if (d / a).is_file()},
                           hint=" (give the ADCs distinct device-tree labels)")

    def _attr(self, kind: str) -> float | None:
        shared = re.sub(r"\d+$", "", self.cfg.channel)
        for name in dict.fromkeys((f"{self.cfg.channel}_{kind}", f"{shared}_{kind}")):
            path = self.dev / name
            if path.exists():
                text = _read_text(path, self.what)
                try:
                    return float(text)
                except ValueError:
                    raise BackendError(f"{self.what}: {path} holds {text!r}, not a number") from None
        return None

    def raw(self) -> int:
        if self._fd is None:
            raise BackendError(f"{self.what}: closed")
        try:
            text = os.pread(self._fd, 64, 0).decode("ascii", "replace").strip()
        except OSError as e:
            raise BackendError(f"{self.what}: reading {self.raw_path}: {e.strerror or e}") from e
        try:
            return int(text)
        except ValueError:
            raise BackendError(f"{self.what}: {self.raw_path} holds {text!r}, not a number") from None

    def volts(self) -> float:
        x: float = self.raw()
        if self.iio_scale is not None:
            x = (x + self.iio_offset) * self.iio_scale / 1000.0  # IIO voltage is in millivolts
        return x * self.cfg.scale + self.cfg.offset

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def pp_resistance(volts: float, pullup_v: float, pullup_ohm: float) -> float | None:
    """The PP resistor to PE from the divider voltage; None when the line is open (no plug)."""
    if volts >= pullup_v * PP_OPEN_FRACTION:
        return None
    if volts <= 0.0:
        return 0.0
    return pullup_ohm * volts / (pullup_v - volts)


# ---- the backend ----------------------------------------------------------------------------

@dataclass
class _Connector:
    profile: ConnectorProfile
    io: LinuxConnectorIo
    pwm: _SysfsPwm
    cp_high: _IioChannel
    cp_low: _IioChannel
    contactor: _Gpio
    pp: _IioChannel | None = None
    contactor_feedback: _Gpio | None = None
    rcd_trip: _Gpio | None = None
    lock: _Gpio | None = None
    lock_feedback: _Gpio | None = None

    def closables(self) -> list[_Gpio | _IioChannel]:
        items = [self.contactor, self.lock, self.cp_high, self.cp_low, self.pp,
                 self.contactor_feedback, self.rcd_trip, self.lock_feedback]
        return [i for i in items if i is not None]


class LinuxBackend(BoardBackend):
    def __init__(self, profile: BoardProfile, *, sysfs_root: str | os.PathLike[str] = "/sys",
                 dev_root: str | os.PathLike[str] = "/dev",
                 gpio_factory: GpioLineFactory | None = None) -> None:
        self.profile = profile
        self.sysfs_root = Path(sysfs_root)
        self.gpio_factory: GpioLineFactory = gpio_factory or PeripheryGpioFactory(dev_root)
        self._conns: dict[int, _Connector] = {}
        self._opened: list[_Gpio | _IioChannel] = []

    async def start(self, on_input: Callable[[int], None]) -> None:
        try:
            for c in self.profile.connectors:
                if c.linux is None:
                    raise BackendError(f"connector {c.id}: the linux backend needs a 'linux:' section")
                self._conns[c.id] = await self._open_connector(c, c.linux)
        except BaseException:
            self._close_all()
            raise

    async def _open_connector(self, c: ConnectorProfile, io: LinuxConnectorIo) -> _Connector:
        def what(role: str) -> str:
            return f"connector {c.id} {role}"

        def gpio(cfg: GpioLine | None, role: str, output: bool) -> _Gpio | None:
            if cfg is None:
                return None
            g = _Gpio(self.gpio_factory, cfg, what(role), output=output)
            self._opened.append(g)
            return g

        def adc(cfg: AdcChannel | None, role: str) -> _IioChannel | None:
            if cfg is None:
                return None
            a = _IioChannel(self.sysfs_root, cfg, what(role))
            self._opened.append(a)
            return a

        if io.cp_pwm is None or io.cp_high is None or io.cp_low is None or io.contactor is None:
            raise BackendError(f"connector {c.id}: linux needs cp_pwm, cp_high, cp_low and contactor")
        # Outputs first, each at its safe level, before anything can fail half-way.
        contactor = gpio(io.contactor, "contactor", True)
        lock = gpio(io.lock, "lock", True) if c.lock else None
        pwm = _SysfsPwm(self.sysfs_root, io.cp_pwm, what("cp_pwm"))
        await pwm.open()
        assert contactor is not None
        conn = _Connector(
            profile=c, io=io, pwm=pwm, contactor=contactor, lock=lock,
            cp_high=adc(io.cp_high, "cp_high"), cp_low=adc(io.cp_low, "cp_low"),  # type: ignore[arg-type]
            pp=adc(io.pp, "pp") if c.socket else None,
            contactor_feedback=gpio(io.contactor_feedback, "contactor_feedback", False) if c.contactor_feedback else None,
            rcd_trip=gpio(io.rcd_trip, "rcd_trip", False) if c.rcd else None,
            lock_feedback=gpio(io.lock_feedback, "lock_feedback", False) if c.lock else None,
        )
        return conn

    def _conn(self, connector_id: int) -> _Connector:
        try:
            return self._conns[connector_id]
        except KeyError:
            raise BackendError(f"connector {connector_id}: not started or not in board profile "
                               f"{self.profile.name!r}") from None

    def read(self, connector_id: int) -> ConnectorInputs:
        c = self._conn(connector_id)
        pp = None
        if c.pp is not None:
            pp = pp_resistance(c.pp.volts(), c.io.pp_pullup_v, c.io.pp_pullup_ohm)
        return ConnectorInputs(
            cp_high_v=c.cp_high.volts(),
            cp_low_v=c.cp_low.volts(),
            pp_ohm=pp,
            contactor_closed=c.contactor_feedback.get() if c.contactor_feedback else None,
            rcd_tripped=c.rcd_trip.get() if c.rcd_trip else False,
            locked=c.lock_feedback.get() if c.lock_feedback else None,
        )

    def apply(self, connector_id: int, outputs: ConnectorOutputs) -> None:
        c = self._conn(connector_id)
        # Opening the contactor is the safety action: do it before anything that might fail.
        if not outputs.contactor:
            c.contactor.set(False)
        c.pwm.set(outputs.pwm_mode, outputs.duty_pct)
        if c.lock is not None:
            c.lock.set(outputs.lock)
        if outputs.contactor:
            c.contactor.set(True)

    async def stop(self) -> None:
        for cid, c in self._conns.items():
            # Each step on its own: a failing PWM must not keep the contactor from opening.
            try:
                c.contactor.set(False)
            except BackendError as e:
                log.error("connector %d: could not open the contactor on stop: %s", cid, e)
            try:
                c.pwm.set(SAFE_OUTPUTS.pwm_mode, SAFE_OUTPUTS.duty_pct)
            except BackendError as e:
                log.error("connector %d: could not set CP to X1 on stop: %s", cid, e)
        self._close_all()

    def _close_all(self) -> None:
        # The PWM stays exported and enabled at +12 V (see the module docstring); lines and
        # ADC fds are released.
        for item in reversed(self._opened):
            try:
                item.close()
            except BackendError as e:
                log.warning("%s", e)
        self._opened.clear()
        self._conns.clear()
