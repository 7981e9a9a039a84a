"""The linux backend against a fake sysfs tree (real files, real backend code paths).

GPIO goes through the `GpioLineFactory` seam: a factory backed by plain files stands in for the
kernel's character device, which needs gpio-sim (not in Debian's kernel; see the QEMU tests).
What is tested here is the backend's own GPIO logic: active-low, safe initial levels, wiring of
roles to lines, error naming. The periphery factory is driven for the paths it can honestly take
without a kernel GPIO chip (no chips; a non-chip file).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from evcharge.board.backends import linux
from evcharge.board.backends.base import BackendError, ConnectorOutputs, PwmMode
from evcharge.board.backends.linux import LinuxBackend, PeripheryGpioFactory, pp_resistance
from evcharge.board.profile import BoardProfile
from evcharge.common.config import from_dict

PERIOD = linux.PWM_PERIOD_NS


# ---- fakes ----------------------------------------------------------------------------------

class FileLine:
    def __init__(self, path: Path, factory: FileGpioFactory) -> None:
        self.path = path
        self.factory = factory
        self.closed = False

    def read(self) -> bool:
        return self.path.read_text().strip() == "1"

    def write(self, value: bool) -> None:
        assert not self.closed
        self.path.write_text("1" if value else "0")

    def close(self) -> None:
        self.closed = True
        self.factory.open_lines.discard(self.path.name)


class FileGpioFactory:
    """Line name -> file holding the physical level; absent file = no such line."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.open_lines: set[str] = set()
        self.requests: list[tuple[str, bool, bool]] = []

    def open(self, line_name: str, *, output: bool, initial: bool = False) -> FileLine:
        path = self.root / line_name
        if not path.exists():
            raise BackendError(f"GPIO line {line_name!r} not found on {self.root}")
        self.requests.append((line_name, output, initial))
        line = FileLine(path, self)
        if output:
            line.write(initial)
        self.open_lines.add(line_name)
        return line


class FakeSys:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "class" / "pwm").mkdir(parents=True)
        (root / "bus" / "iio" / "devices").mkdir(parents=True)

    def pwmchip(self, n: int, device: str, *, of_node: str | None = None, npwm: int = 2) -> Path:
        dev = self.root / "devices" / "platform" / device
        dev.mkdir(parents=True, exist_ok=True)
        if of_node:
            node = self.root / "firmware" / "devicetree" / "base" / "soc" / of_node
            node.mkdir(parents=True)
            (dev / "of_node").symlink_to(node)
        chip = self.root / "class" / "pwm" / f"pwmchip{n}"
        chip.mkdir()
        (chip / "device").symlink_to(os.path.relpath(dev, chip))
        (chip / "export").write_text("")
        (chip / "unexport").write_text("")
        (chip / "npwm").write_text(f"{npwm}\n")
        return chip

    @staticmethod
    def pwm_channel(chip: Path, ch: int, *, polarity: bool = True) -> Path:
        d = chip / f"pwm{ch}"
        d.mkdir()
        for attr, v in (("period", "0"), ("duty_cycle", "0"), ("enable", "0")):
            (d / attr).write_text(v + "\n")
        if polarity:
            (d / "polarity").write_text("normal\n")
        return d

    def iio(self, n: int, name: str, files: dict[str, str], label: str | None = None) -> Path:
        d = self.root / "bus" / "iio" / "devices" / f"iio:device{n}"
        d.mkdir()
        (d / "name").write_text(name + "\n")
        if label:
            (d / "label").write_text(label + "\n")
        for k, v in files.items():
            (d / k).write_text(v + "\n")
        return d


async def fake_kernel_export(chip: Path, stop: asyncio.Event, **kw: Any) -> None:
    """What the PWM core does on `echo N > export`: create pwmN/."""
    while not stop.is_set():
        text = (chip / "export").read_text().strip()
        if text and not (chip / f"pwm{text}").exists():
            FakeSys.pwm_channel(chip, int(text), **kw)
        await asyncio.sleep(0.002)


def make_profile(**linux_overrides: Any) -> BoardProfile:
    io: dict[str, Any] = {
        "cp_pwm": {"chip": "fe20c000.pwm", "channel": 1},
        # ADC pin 0..3.3 V <-> CP -13.2..+13.2 V
        "cp_high": {"device": "cp-adc", "channel": "in_voltage0", "scale": 8.0, "offset": -13.2},
        "cp_low": {"device": "cp-adc", "channel": "in_voltage1", "scale": 8.0, "offset": -13.2},
        "pp": {"device": "cp-adc", "channel": "in_voltage2"},
        "pp_pullup_v": 5.0,
        "contactor": {"line": "CONTACTOR1", "active_low": True},
        "contactor_feedback": {"line": "CONTACTOR1_FB"},
        "rcd_trip": {"line": "RCD1_TRIP", "active_low": True},
        "lock": {"line": "LOCK1"},
        "lock_feedback": {"line": "LOCK1_FB"},
    }
    io.update(linux_overrides)
    data = {"name": "test-board", "backend": "linux", "connectors": [{"id": 1, "linux": io}]}
    return from_dict(BoardProfile, data, file="test-board.yaml")


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.sys = FakeSys(tmp_path / "sys")
        # A decoy controller at a lower number: the backend must match by name, not number.
        self.decoy = self.sys.pwmchip(0, "ff000000.pwm")
        self.chip = self.sys.pwmchip(2, "fe20c000.pwm")
        self.sys.iio(0, "other-adc", {"in_voltage0_raw": "7"})
        # 1 mV per LSB keeps the arithmetic readable; 3150 mV -> +12.0 V
        self.adc = self.sys.iio(1, "cp-adc", {"in_voltage0_raw": "3150", "in_voltage1_raw": "150",
                                              "in_voltage2_raw": "5000", "in_voltage_scale": "1.0"})
        self.gpio_dir = tmp_path / "gpio"
        self.gpio_dir.mkdir()
        for name, level in (("CONTACTOR1", "0"), ("CONTACTOR1_FB", "0"), ("RCD1_TRIP", "1"),
                            ("LOCK1", "1"), ("LOCK1_FB", "0")):
            (self.gpio_dir / name).write_text(level)
        self.gpio = FileGpioFactory(self.gpio_dir)

    def backend(self, profile: BoardProfile | None = None) -> LinuxBackend:
        return LinuxBackend(profile or make_profile(), sysfs_root=self.sys.root,
                            dev_root=self.gpio_dir, gpio_factory=self.gpio)

    def pwm(self, attr: str) -> str:
        return (self.chip / "pwm1" / attr).read_text().strip()

    def line(self, name: str) -> str:
        return (self.gpio_dir / name).read_text().strip()

    def set_line(self, name: str, level: int) -> None:
        (self.gpio_dir / name).write_text(str(level))

    def set_raw(self, ch: int, raw: int) -> None:
        (self.adc / f"in_voltage{ch}_raw").write_text(f"{raw}\n")

    async def start(self, be: LinuxBackend, **kw: Any) -> None:
        stop = asyncio.Event()
        kernel = asyncio.create_task(fake_kernel_export(self.chip, stop, **kw))
        try:
            await be.start(lambda cid: None)
        finally:
            stop.set()
            await kernel


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


# ---- PWM ------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_start_exports_named_pwm_and_drives_x1(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    assert (rig.chip / "export").read_text() == "1"
    assert (rig.decoy / "export").read_text() == ""  # the lower-numbered chip is not ours
    assert rig.pwm("period") == str(PERIOD)
    assert rig.pwm("duty_cycle") == str(PERIOD)  # 100 % = steady +12 V
    assert rig.pwm("enable") == "1"
    assert rig.pwm("polarity") == "normal"
    await be.stop()


@pytest.mark.asyncio
async def test_already_exported_channel_is_not_exported_again(rig: Rig) -> None:
    FakeSys.pwm_channel(rig.chip, 1)
    be = rig.backend()
    await be.start(lambda cid: None)  # no fake kernel: pwm1/ is already there
    assert (rig.chip / "export").read_text() == ""  # writing it again would be EBUSY on a kernel
    assert rig.pwm("enable") == "1"
    await be.stop()


@pytest.mark.asyncio
async def test_pwm_controller_found_by_of_node_name(rig: Rig) -> None:
    chip = rig.sys.pwmchip(3, "soc:pwm-cp", of_node="pwm@7e20c000")
    FakeSys.pwm_channel(chip, 0)
    be = rig.backend(make_profile(cp_pwm={"chip": "pwm@7e20c000", "channel": 0}))
    await be.start(lambda cid: None)
    assert (chip / "pwm0" / "enable").read_text() == "1"
    await be.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("mode,duty,expected", [
    (PwmMode.PWM, 53.3, 533000), (PwmMode.PWM, 10.0, 100000), (PwmMode.PWM, 5.0, 50000),
    (PwmMode.LOW, 53.3, 0), (PwmMode.HIGH, 10.0, PERIOD),
])
async def test_apply_sets_duty(rig: Rig, mode: PwmMode, duty: float, expected: int) -> None:
    be = rig.backend()
    await rig.start(be)
    be.apply(1, ConnectorOutputs(pwm_mode=mode, duty_pct=duty))
    assert rig.pwm("duty_cycle") == str(expected)
    await be.stop()


@pytest.mark.asyncio
async def test_unchanged_duty_is_not_rewritten(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=25.0))
    (rig.chip / "pwm1" / "duty_cycle").write_text("sentinel")
    be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=25.0, contactor=True))
    assert rig.pwm("duty_cycle") == "sentinel"
    be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=30.0))
    assert rig.pwm("duty_cycle") == "300000"
    await be.stop()


@pytest.mark.asyncio
async def test_invalid_duty_is_refused_with_channel_named(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    with pytest.raises(BackendError, match=r"connector 1 cp_pwm \(PWM fe20c000.pwm channel 1\)"):
        be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=float("nan")))
    await be.stop()


@pytest.mark.asyncio
async def test_inverted_front_end_sets_inversed_polarity(rig: Rig) -> None:
    be = rig.backend(make_profile(cp_pwm={"chip": "fe20c000.pwm", "channel": 1, "inverted": True}))
    await rig.start(be)
    assert rig.pwm("polarity") == "inversed"
    assert rig.pwm("enable") == "1"
    await be.stop()


@pytest.mark.asyncio
async def test_inverted_without_polarity_support_is_an_error(rig: Rig) -> None:
    be = rig.backend(make_profile(cp_pwm={"chip": "fe20c000.pwm", "channel": 1, "inverted": True}))
    with pytest.raises(BackendError, match="polarity"):
        await rig.start(be, polarity=False)
    assert rig.gpio.open_lines == set()


@pytest.mark.asyncio
async def test_unknown_pwm_controller_names_what_was_found(rig: Rig) -> None:
    be = rig.backend(make_profile(cp_pwm={"chip": "nope.pwm", "channel": 0}))
    with pytest.raises(BackendError) as e:
        await be.start(lambda cid: None)
    msg = str(e.value)
    assert "'nope.pwm'" in msg and "pwmchip2 (fe20c000.pwm)" in msg and "pwmchip0 (ff000000.pwm)" in msg
    assert rig.gpio.open_lines == set()  # lines opened before the failure were released


@pytest.mark.asyncio
async def test_channel_beyond_npwm_is_an_error(rig: Rig) -> None:
    be = rig.backend(make_profile(cp_pwm={"chip": "fe20c000.pwm", "channel": 2}))
    with pytest.raises(BackendError, match="2 channel"):
        await be.start(lambda cid: None)


@pytest.mark.asyncio
async def test_export_that_never_appears_names_the_export_file(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linux, "PWM_EXPORT_WAIT_S", 0.05)
    be = rig.backend()
    with pytest.raises(BackendError, match=str(rig.chip / "export")):
        await be.start(lambda cid: None)  # no fake kernel answers


@pytest.mark.asyncio
async def test_write_failure_names_the_file(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    duty = rig.chip / "pwm1" / "duty_cycle"
    duty.unlink()
    duty.mkdir()  # EISDIR on open for writing, also as root
    with pytest.raises(BackendError, match=f"to {duty}"):
        be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=50.0))


# ---- ADC and PP -----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_adc_reads_follow_the_raw_files(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    inp = be.read(1)
    assert inp.cp_high_v == pytest.approx(12.0)
    assert inp.cp_low_v == pytest.approx(-12.0)
    rig.set_raw(0, 2400)  # 2.4 V at the pin -> +6 V: state C
    assert be.read(1).cp_high_v == pytest.approx(6.0)
    await be.stop()


@pytest.mark.asyncio
async def test_per_channel_scale_and_offset_win_over_shared(rig: Rig) -> None:
    (rig.adc / "in_voltage0_scale").write_text("0.5\n")
    (rig.adc / "in_voltage0_offset").write_text("100\n")
    be = rig.backend()
    await rig.start(be)
    rig.set_raw(0, 4700)  # (4700 + 100) * 0.5 mV = 2.4 V -> +6 V
    assert be.read(1).cp_high_v == pytest.approx(6.0)
    assert be.read(1).cp_low_v == pytest.approx(-12.0)  # channel 1 keeps the shared scale
    await be.stop()


@pytest.mark.asyncio
async def test_without_iio_scale_profile_scale_applies_to_raw(rig: Rig) -> None:
    (rig.adc / "in_voltage_scale").unlink()
    be = rig.backend(make_profile(cp_high={"device": "cp-adc", "channel": "in_voltage0",
                                           "scale": 0.01, "offset": -20.0}))
    await rig.start(be)
    rig.set_raw(0, 2900)
    assert be.read(1).cp_high_v == pytest.approx(9.0)
    await be.stop()


@pytest.mark.asyncio
async def test_iio_device_found_by_label(rig: Rig) -> None:
    rig.sys.iio(5, "ads1015", {"in_voltage3_raw": "1000", "in_voltage3_scale": "3.0"}, label="pilot")
    be = rig.backend(make_profile(cp_high={"device": "pilot", "channel": "in_voltage3",
                                           "scale": 8.0, "offset": -13.2}))
    await rig.start(be)
    assert be.read(1).cp_high_v == pytest.approx(10.8)
    await be.stop()


@pytest.mark.asyncio
async def test_missing_iio_channel_lists_the_channels(rig: Rig) -> None:
    be = rig.backend(make_profile(pp={"device": "cp-adc", "channel": "in_voltage7"}))
    with pytest.raises(BackendError) as e:
        await rig.start(be)
    assert "connector 1 pp" in str(e.value) and "in_voltage7_raw" in str(e.value)
    assert "in_voltage0, in_voltage1, in_voltage2" in str(e.value)
    assert rig.gpio.open_lines == set()


@pytest.mark.asyncio
async def test_ambiguous_iio_name_is_refused(rig: Rig) -> None:
    rig.sys.iio(4, "cp-adc", {"in_voltage0_raw": "1"})
    with pytest.raises(BackendError, match="iio:device1, iio:device4"):
        await rig.start(rig.backend())


@pytest.mark.asyncio
async def test_garbage_in_raw_file_is_a_backend_error(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    (rig.adc / "in_voltage1_raw").write_text("oops\n")
    with pytest.raises(BackendError, match="in_voltage1_raw holds 'oops'"):
        be.read(1)
    await be.stop()


@pytest.mark.parametrize("ohm", [1500.0, 680.0, 220.0, 100.0])
@pytest.mark.parametrize("pullup_v", [3.3, 5.0])
def test_pp_resistance_solves_the_divider(ohm: float, pullup_v: float) -> None:
    v = pullup_v * ohm / (ohm + 1000.0)
    assert pp_resistance(v, pullup_v, 1000.0) == pytest.approx(ohm)


def test_pp_open_and_short() -> None:
    assert pp_resistance(5.0, 5.0, 1000.0) is None
    assert pp_resistance(4.9, 5.0, 1000.0) is None
    assert pp_resistance(0.0, 5.0, 1000.0) == 0.0


@pytest.mark.asyncio
async def test_pp_through_the_backend_uses_the_profile_pullup(rig: Rig) -> None:
    be = rig.backend()  # pp_pullup_v: 5.0, default 1 kOhm, pp channel = raw mV / 1000
    await rig.start(be)
    assert be.read(1).pp_ohm is None  # 5000 mV: open
    rig.set_raw(2, round(5000 * 220 / 1220))
    assert be.read(1).pp_ohm == pytest.approx(220, rel=0.01)
    await be.stop()


@pytest.mark.asyncio
async def test_tethered_connector_reports_no_pp(rig: Rig) -> None:
    data = {"name": "t", "backend": "linux", "connectors": [{"id": 1, "socket": False, "lock": False,
            "linux": {"cp_pwm": {"chip": "fe20c000.pwm", "channel": 1},
                      "cp_high": {"device": "cp-adc", "channel": "in_voltage0"},
                      "cp_low": {"device": "cp-adc", "channel": "in_voltage1"},
                      "contactor": {"line": "CONTACTOR1"},
                      "contactor_feedback": {"line": "CONTACTOR1_FB"},
                      "rcd_trip": {"line": "RCD1_TRIP"}}}]}
    be = rig.backend(from_dict(BoardProfile, data, file="t.yaml"))
    await rig.start(be)
    inp = be.read(1)
    assert inp.pp_ohm is None and inp.locked is None
    await be.stop()


def test_profile_rejects_bad_pullup() -> None:
    from evcharge.common.config import ConfigError
    with pytest.raises(ConfigError, match="pp_pullup_v"):
        make_profile(pp_pullup_v=0.0)


# ---- GPIO (through the seam) ----------------------------------------------------------------

@pytest.mark.asyncio
async def test_outputs_open_at_their_inactive_physical_level(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    # CONTACTOR1 is active-low: off = physical high, requested atomically with the line.
    assert ("CONTACTOR1", True, True) in rig.gpio.requests
    assert ("LOCK1", True, False) in rig.gpio.requests
    assert rig.line("CONTACTOR1") == "1"
    assert rig.line("LOCK1") == "0"
    await be.stop()


@pytest.mark.asyncio
async def test_active_low_contactor_and_rcd(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=50.0, contactor=True, lock=True))
    assert rig.line("CONTACTOR1") == "0"
    assert rig.line("LOCK1") == "1"
    assert be.read(1).rcd_tripped is False  # RCD1_TRIP active-low, line high
    rig.set_line("RCD1_TRIP", 0)
    assert be.read(1).rcd_tripped is True
    rig.set_line("CONTACTOR1_FB", 1)
    rig.set_line("LOCK1_FB", 1)
    inp = be.read(1)
    assert inp.contactor_closed is True and inp.locked is True
    be.apply(1, ConnectorOutputs(contactor=False))
    assert rig.line("CONTACTOR1") == "1"
    await be.stop()


@pytest.mark.asyncio
async def test_stop_makes_safe_and_releases_everything(rig: Rig) -> None:
    be = rig.backend()
    await rig.start(be)
    be.apply(1, ConnectorOutputs(pwm_mode=PwmMode.PWM, duty_pct=50.0, contactor=True, lock=True))
    assert rig.gpio.open_lines
    await be.stop()
    assert rig.line("CONTACTOR1") == "1"       # open (active-low)
    assert rig.pwm("duty_cycle") == str(PERIOD)  # X1
    assert rig.pwm("enable") == "1"            # still driving +12 V, not floating
    assert rig.gpio.open_lines == set()
    with pytest.raises(BackendError):
        be.read(1)


@pytest.mark.asyncio
async def test_missing_line_names_connector_role_and_line(rig: Rig) -> None:
    (rig.gpio_dir / "RCD1_TRIP").unlink()
    with pytest.raises(BackendError, match=r"connector 1 rcd_trip: GPIO line 'RCD1_TRIP' not found"):
        await rig.start(rig.backend())
    assert rig.gpio.open_lines == set()


def test_periphery_factory_without_chips_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=rf"'CONTACTOR1': no GPIO chips \({tmp_path}/gpiochip\*\)"):
        PeripheryGpioFactory(tmp_path).open("CONTACTOR1", output=True)


def test_periphery_factory_reports_a_bad_chip_by_file(tmp_path: Path) -> None:
    # A file that is not a GPIO character device: periphery's ioctl fails, we name line + file.
    (tmp_path / "gpiochip0").write_text("")
    with pytest.raises(BackendError, match=rf"'CONTACTOR1': {tmp_path}/gpiochip0: .*ioctl"):
        PeripheryGpioFactory(tmp_path).open("CONTACTOR1", output=True)
