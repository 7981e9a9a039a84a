"""The python3-evcharge recipe ships what services/ defines: every unit, policy and config, and a
user with the same id as services/sysusers.d for every service user. A unit added to services/
but not to the recipe would be missing from the Yocto image while the QEMU test image (which
copies services/) still had it, so no system test would notice."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPE = next((ROOT / "meta-evcharge/recipes-evcharge/python3-evcharge").glob("python3-evcharge_*.bb"))
LAYER_FILES = ROOT / "meta-evcharge/files"


def recipe_var(name: str) -> list[str]:
    text = RECIPE.read_text().replace("\\\n", " ")
    m = re.search(rf'^{re.escape(name)} = "([^"]*)"', text, re.M)
    assert m, f"{name} not set in {RECIPE.name}"
    return m.group(1).split()


def bus_name(svc: str) -> str:
    return "PowerSupply1" if svc == "power" else svc.capitalize() + "1"


def test_every_unit_policy_and_config_is_installed_by_the_recipe():
    services = recipe_var("EVCHARGE_SERVICES") + recipe_var("EVCHARGE_HLC_SERVICES")
    shipped_units = {f"evcharge-{s}.service" for s in services} | set(recipe_var("EVCHARGE_UPDATE_UNITS"))
    shipped_units.add("evcharge.target")
    units = {p.name for p in (ROOT / "services/systemd").iterdir() if p.suffix in (".service", ".path", ".target")}
    assert units == shipped_units

    policies = {p.name for p in (ROOT / "services/dbus").glob("*.conf")}
    assert policies == {f"org.evcharge.{bus_name(s)}.conf" for s in services} | {"org.evcharge.Update1.conf"}

    configs = {p.stem for p in (ROOT / "services/config").glob("*.yaml")}
    assert configs == set(services)


def test_every_service_user_is_created_with_its_static_id():
    text = RECIPE.read_text().replace("\\\n", " ")
    created = set(re.findall(r"--user-group(?: --groups \S+)? (evcharge-[a-z0-9]+)", text))
    sysusers = {}
    for line in (ROOT / "services/sysusers.d/evcharge.conf").read_text().splitlines():
        f = line.split()
        if f and f[0] in ("u", "g"):
            sysusers[(f[0], f[1])] = f[2]
    users = {name for kind, name in sysusers if kind == "u"}
    assert created == users

    passwd = {f[0]: f[2] for f in (ln.split(":") for ln in (LAYER_FILES / "evcharge-passwd").read_text().split())}
    group = {f[0]: f[2] for f in (ln.split(":") for ln in (LAYER_FILES / "evcharge-group").read_text().split())}
    for (kind, name), uid in sysusers.items():
        if kind == "u":
            assert passwd.get(name) == uid, name
            assert group.get(name) == uid, name
        else:
            assert group.get(name) == uid, name


def test_unit_users_are_the_service_users():
    """Each service unit runs as its own user, the one the recipe creates for its package."""
    for unit in (ROOT / "services/systemd").glob("evcharge-*.service"):
        m = re.search(r"^User=(\S+)", unit.read_text(), re.M)
        if unit.name == "evcharge-update-reboot.service":
            continue  # DynamicUser: SuccessAction=reboot is done by systemd, the unit runs /bin/true
        assert m, f"{unit.name} has no User="
        svc = unit.stem.removeprefix("evcharge-")
        expected = "evcharge-update" if svc in ("healthcheck", "mark-good") else f"evcharge-{svc}"
        assert m.group(1) == expected, unit.name


def test_units_run_python_with_the_bytecode_both_images_compile():
    """The units' PYTHONOPTIMIZE=2 needs .opt-2.pyc files in the image (read-only /usr, no bytecode
    written at run time): the Yocto image and the QEMU test image both compile them, without debug
    ranges as PYTHONNODEBUGRANGES asks (otherwise every module is compiled in memory at each start)."""
    python_units = [p for p in (ROOT / "services/systemd").glob("evcharge-*.service")
                    if re.search(r"^ExecStart=/usr/bin/python3 -m evcharge\.(?!update\.health)", p.read_text(), re.M)]
    assert len(python_units) >= 7
    for unit in python_units:
        env = " ".join(re.findall(r"^Environment=(.*)$", unit.read_text(), re.M)).split()
        assert {"PYTHONOPTIMIZE=2", "PYTHONNODEBUGRANGES=1", "PYTHONDONTWRITEBYTECODE=1"} <= set(env), unit.name
    image = (ROOT / "meta-evcharge/recipes-core/images/evcharge-image.inc").read_text()
    test_image = (ROOT / "ci/build-test-image.sh").read_text()
    for text in (image, test_image):
        assert re.search(r"-X no_debug_ranges -m compileall [^\n]*-o 2", text)
    assert "ROOTFS_POSTPROCESS_COMMAND += \"evcharge_python_opt2_bytecode;\"" in image
