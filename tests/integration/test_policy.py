"""The shipped D-Bus policies, users and systemd units, checked against the real services.

A system-style private bus (default deny) loads `services/dbus/*.conf` exactly as the system
bus loads /usr/share/dbus-1/system.d. The board (sim profile), energy and evse services run as
processes under their own users, with the shipped configuration files, and clients connect as
specific users (nobody, an operator in group `evcharge`, the service users) to show who may
call what. A last test boots systemd in private namespaces and runs the shipped units.

Needs root: it creates the users and groups of `services/sysusers.d/evcharge.conf` and a test
operator `evcharge-test-op` (in group evcharge) where missing; they are left in place, so
a second run changes nothing. Run: `python -m pytest tests/integration/test_policy.py -q`.

Where the test interpreter is not usable by other users (e.g. a pyenv under /root, mode 0700),
each process for another user runs in a private mount namespace in which only the
interpreter's directory is made reachable; nothing changes on the host.
"""

from __future__ import annotations

import dataclasses
import grp
import json
import os
import pwd
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from evcharge.common import names
from evcharge.sil.dbusd import PrivateBus, start_bus

pytestmark = pytest.mark.policy

REPO = Path(__file__).resolve().parents[2]
DBUS_DIR = REPO / "services" / "dbus"
UNIT_DIR = REPO / "services" / "systemd"
SYSUSERS = REPO / "services" / "sysusers.d" / "evcharge.conf"
CONFIG_DIR = REPO / "services" / "config"
BOARDS_DIR = REPO / "board-support" / "boards"

OPERATOR = "evcharge-test-op"  # a person in group evcharge, created for this test
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
SERVICE_START_TIMEOUT_S = 90.0  # Python start-up on a loaded 2-core machine (the units allow 90 s too)

BUS_SERVICES = {  # policy file -> (bus name, owning user)
    "org.evcharge.Board1.conf": (names.BOARD, "evcharge-board"),
    "org.evcharge.Evse1.conf": (names.EVSE, "evcharge-evse"),
    "org.evcharge.Meter1.conf": (names.METER, "evcharge-meter"),
    "org.evcharge.Auth1.conf": (names.AUTH, "evcharge-auth"),
    "org.evcharge.Energy1.conf": (names.ENERGY, "evcharge-energy"),
    "org.evcharge.Ocpp1.conf": (names.OCPP, "evcharge-ocpp"),
    "org.evcharge.V2g1.conf": (names.V2G, "evcharge-v2g"),
    "org.evcharge.Slac1.conf": (names.SLAC, "evcharge-slac"),
    "org.evcharge.PowerSupply1.conf": (names.POWER_SUPPLY, "evcharge-power"),
}


@pytest.fixture(scope="module", autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("tests/integration/test_policy.py needs root: it creates the evcharge system users "
                    "(services/sysusers.d/evcharge.conf) and runs services and clients as other users. "
                    "Run it as root, or deselect it with -m 'not policy'.", pytrace=False)


# ---- users ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Sysusers:
    groups: dict[str, int | None]
    users: dict[str, tuple[int | None, str]]   # name -> (uid, gecos)
    members: list[tuple[str, str]]             # (user, group)


def parse_sysusers(path: Path) -> Sysusers:
    out = Sysusers({}, {}, [])
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        f = shlex.split(line)
        kind, name = f[0], f[1]
        if kind == "m":
            out.members.append((name, f[2]))
            continue
        ident = None if len(f) < 3 or f[2] == "-" else int(f[2])
        if kind == "g":
            out.groups[name] = ident
        elif kind == "u":
            out.users[name] = (ident, f[3] if len(f) > 3 and f[3] != "-" else "")
        else:
            raise AssertionError(f"{path}: unexpected line type {kind!r}: {line}")
    return out


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _gid_free(gid: int | None) -> bool:
    if gid is None:
        return False
    try:
        grp.getgrgid(gid)
        return False
    except KeyError:
        return True


def _uid_free(uid: int | None) -> bool:
    if uid is None:
        return False
    try:
        pwd.getpwuid(uid)
        return False
    except KeyError:
        return True


def _run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")


def _nologin() -> str:
    return shutil.which("nologin") or "/usr/sbin/nologin"


def ensure_group(name: str, gid: int | None = None) -> None:
    if not _group_exists(name):
        _run(["groupadd", "--system", *(["--gid", str(gid)] if _gid_free(gid) else []), name])


def ensure_user(name: str, uid: int | None = None, gecos: str = "", groups: tuple[str, ...] = ()) -> None:
    if not _user_exists(name):
        ensure_group(name, uid)  # the user's own group, same id as the user where free
        _run(["useradd", "--system", "--no-create-home", "--home-dir", "/", "--shell", _nologin(),
              "--gid", name, *(["--uid", str(uid)] if _uid_free(uid) else []),
              *(["--comment", gecos] if gecos else []), name])
    for g in groups:
        if name not in grp.getgrnam(g).gr_mem:
            _run(["usermod", "--append", "--groups", g, name])


@pytest.fixture(scope="module")
def accounts(_root) -> Sysusers:
    spec = parse_sysusers(SYSUSERS)
    for g, gid in spec.groups.items():
        ensure_group(g, gid)
    for u, (uid, gecos) in spec.users.items():
        ensure_user(u, uid, gecos)
    for u, g in spec.members:
        ensure_user(u, groups=(g,))
    ensure_user(OPERATOR, gecos="evcharge policy test operator", groups=("evcharge",))
    return spec


# ---- running things as other users ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Ident:
    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def of(cls, user: str, *, extra: tuple[str, ...] = ()) -> Ident:
        """The user with the supplementary groups /etc/group gives it (as initgroups would)."""
        pw = pwd.getpwnam(user)
        gids = set(os.getgrouplist(user, pw.pw_gid)) | {grp.getgrnam(g).gr_gid for g in extra}
        return cls(user, pw.pw_uid, pw.pw_gid, tuple(sorted(gids)))


def _exposed_dirs() -> dict[Path, set[Path]]:
    """Directories of this interpreter behind a directory other users cannot enter.

    Returns {closed ancestor: {its children on the way to what Python needs}}.
    """
    needed = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    needed |= {Path(p) for p in sys.path if p and Path(p).is_dir()}
    out: dict[Path, set[Path]] = {}
    for p in needed:
        p = p.resolve()
        for anc in reversed(p.parents):
            if anc == Path("/") or anc == p:
                continue
            if not os.stat(anc).st_mode & 0o001:
                rel = p.relative_to(anc).parts[0]
                out.setdefault(anc, set()).add(anc / rel)
                break
    return out


class Runner:
    """Starts processes as another user; `wrap` mode uses a private mount namespace (see top)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.wrap = False
        probe = [sys.executable, "-c", "import evcharge.board.service, dbus_fast, yaml"]
        nobody = Ident.of("nobody")
        try:
            if self.run(nobody, probe).returncode == 0:
                return
        except PermissionError:  # exec of the interpreter itself refused
            pass
        self.wrap = True
        r = self.run(nobody, probe)
        if r.returncode != 0:
            pytest.fail(f"the test interpreter {sys.executable} cannot be run by other users, even in a "
                        f"private mount namespace: {r.stderr.strip()}", pytrace=False)

    def argv(self, ident: Ident, argv: list[str]) -> tuple[list[str], dict]:
        if not self.wrap:
            return argv, {"user": ident.uid, "group": ident.gid, "extra_groups": list(ident.groups)}
        lines = ["set -e"]
        for anc, children in _exposed_dirs().items():
            staged = []
            for child in sorted(children):
                s = tempfile.mkdtemp(prefix="stage-", dir=self.workdir)
                lines.append(f"mount --bind {shlex.quote(str(child))} {shlex.quote(s)}")
                staged.append((child, s))
            lines.append(f"mount -t tmpfs -o mode=0755,size=1m evcharge-test {shlex.quote(str(anc))}")
            for child, s in staged:
                lines.append(f"mkdir -p {shlex.quote(str(child))}")
                lines.append(f"mount --move {shlex.quote(s)} {shlex.quote(str(child))}")
        groups = ",".join(map(str, ident.groups))
        lines.append(shlex.join(["exec", "setpriv", f"--reuid={ident.uid}", f"--regid={ident.gid}",
                                 f"--groups={groups}" if groups else "--clear-groups", "--"]) + ' "$@"')
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh", *argv], {}

    def run(self, ident: Ident, argv: list[str], timeout: float = 60.0, **kw) -> subprocess.CompletedProcess:
        cmd, extra = self.argv(ident, argv)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/", check=False, **extra,
                              **kw)

    def popen(self, ident: Ident, argv: list[str], **kw) -> subprocess.Popen:
        cmd, extra = self.argv(ident, argv)
        return subprocess.Popen(cmd, cwd="/", **extra, **kw)


# One client process per batch of calls: prints one JSON result per request.
CLIENT = r"""
import asyncio, json, sys
from dbus_fast import DBusError, RequestNameReply, Variant
from dbus_fast.constants import NameFlag
from evcharge.common.bus import call, connect, unwrap

def arg(v):  # {"variant": [signature, value]} stands for a Variant
    return Variant(*v["variant"]) if isinstance(v, dict) and "variant" in v else v

async def main(address, requests):
    bus = await connect(address)
    out = []
    for r in requests:
        try:
            if r["op"] == "own":
                reply = await bus.request_name(r["name"], NameFlag.DO_NOT_QUEUE)
                out.append({"ok": reply in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER),
                            "reply": reply.name})
                if out[-1]["ok"]:
                    await bus.release_name(r["name"])
            else:
                body = await call(bus, r["dest"], r["path"], r["iface"], r["member"], r.get("sig", ""),
                                  [arg(v) for v in r.get("body", [])])
                out.append({"ok": True, "body": unwrap(body)})
        except DBusError as e:
            out.append({"ok": False, "error": e.type, "message": e.text})
    bus.disconnect()
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
"""


def req(dest: str, path: str, iface: str, member: str, sig: str = "", *body) -> dict:
    return {"op": "call", "dest": dest, "path": path, "iface": iface, "member": member, "sig": sig,
            "body": list(body)}


def get_all(dest: str, path: str, iface: str) -> dict:
    return req(dest, path, names.PROPERTIES_IFACE, "GetAll", "s", iface)


# ---- services -------------------------------------------------------------------------------

class ServiceProcess:
    """One service as its own user, with NOTIFY_SOCKET for READY=1 like systemd's Type=notify."""

    def __init__(self, name: str, ident: Ident, workdir: Path, bus: PrivateBus, runner: Runner,
                 config: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.ident, self.runner = name, ident, runner
        self.log = workdir / f"{name}.log"
        self.state = workdir / "state" / name
        self.state.mkdir(parents=True)
        os.chown(self.state, ident.uid, ident.gid)
        os.chmod(self.state, 0o700)
        self.notify_path = workdir / f"notify-{name}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.notify_path))
        os.chmod(self.notify_path, 0o777)  # sending needs write permission on the socket
        env_all = {k: v for k, v in os.environ.items()
                   if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
        env_all.update({"EVCHARGE_BUS_ADDRESS": bus.address, "NOTIFY_SOCKET": str(self.notify_path),
                        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/"}, **(env or {}))
        with open(self.log, "wb") as logf:
            self.proc = runner.popen(ident, [sys.executable, "-m", f"evcharge.{name}", "--config", str(config),
                                             "--state-dir", str(self.state)],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env_all)

    def wait_ready(self, timeout: float = SERVICE_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            ready, _, _ = select.select([self.sock], [], [], 0.2)
            if ready and b"READY=1" in self.sock.recv(4096).split(b"\n"):
                return
        raise AssertionError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()


class Stack:
    def __init__(self, bus: PrivateBus, runner: Runner, services: dict[str, ServiceProcess]) -> None:
        self.bus, self.runner, self.services = bus, runner, services

    def calls(self, ident: Ident, *requests: dict) -> list[dict]:
        r = self.runner.run(ident, [sys.executable, "-c", CLIENT, self.bus.address, json.dumps(list(requests))])
        assert r.returncode == 0, f"client as {ident.user} failed ({r.returncode}): {r.stderr}"
        return json.loads(r.stdout.strip().splitlines()[-1])

    def call(self, ident: Ident, request: dict) -> dict:
        return self.calls(ident, request)[0]

    def props(self, dest: str, path: str, iface: str) -> dict:
        res = self.call(Ident.of("root"), get_all(dest, path, iface))
        assert res["ok"], res
        return res["body"][0]

    def wait_props(self, dest: str, path: str, iface: str, predicate, timeout: float = 20.0, what: str = ""):
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.props(dest, path, iface)
            if predicate(value):
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what or predicate}; last: {value}")


@pytest.fixture(scope="module")
def workdir(_root) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="evcharge-policy-"))
    os.chmod(d, 0o755)  # service users read their config and reach their state and notify socket here
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(accounts, workdir) -> Iterator[Stack]:
    bus = start_bus(policy_dirs=[DBUS_DIR], workdir=workdir / "bus")
    runner = Runner(workdir)
    services: dict[str, ServiceProcess] = {}
    try:
        # The shipped configuration files, unchanged; "profile: sim" is found in the repository.
        for name, extra in (("board", ("evcharge-hw",)), ("energy", ()), ("evse", ())):
            svc = ServiceProcess(name, Ident.of(f"evcharge-{name}", extra=extra), workdir, bus, runner,
                                 CONFIG_DIR / f"{name}.yaml", env={"EVCHARGE_BOARDS_DIR": str(BOARDS_DIR)})
            services[name] = svc
            svc.wait_ready()
        yield Stack(bus, runner, services)
    finally:
        for svc in reversed(list(services.values())):
            svc.stop()
        bus.stop()
    logs = {n: s.log.read_text(errors="replace") for n, s in services.items()}
    for n, text in logs.items():
        for sign in ("AccessDenied", "Rejected send message"):
            assert sign not in text, f"{n} was refused a call under the shipped policies:\n{text[-3000:]}"
        assert "Traceback" not in text, f"{n} logged a traceback:\n{text[-3000:]}"


NOBODY = "nobody"


def nobody() -> Ident:
    return Ident.of(NOBODY)


def operator() -> Ident:
    return Ident.of(OPERATOR)


B1 = names.board_connector_path(1)
E1 = names.evse_connector_path(1)


# ---- static checks: policy files, units, sysusers, configs ------------------------------------

@pytest.mark.parametrize("policy", sorted(BUS_SERVICES))
def test_policy_file_is_accepted_by_dbus_daemon(policy, accounts, tmp_path):
    path = DBUS_DIR / policy
    assert path.is_file(), f"missing {path}"
    bus = start_bus(policy_files=[path], workdir=tmp_path / "bus")
    bus.stop()
    err = bus.process.stderr.read().decode() if bus.process.stderr else ""
    # With the accounts in place, an unknown user or group can only be a typo in the policy.
    assert "Unknown" not in err, err


def test_malformed_policy_is_refused(tmp_path):
    """The check above means something: dbus-daemon does refuse to start on a broken file."""
    bad = tmp_path / "broken.conf"
    bad.write_text((DBUS_DIR / "org.evcharge.Board1.conf").read_text().replace("</policy>", "</polcy>", 1))
    with pytest.raises(RuntimeError, match="dbus-daemon did not start"):
        start_bus(policy_files=[bad], workdir=tmp_path / "bus")


def _exported_methods() -> dict[str, set[str]]:
    """interface -> method names, from the services' dbus-fast interface classes."""
    from dbus_fast.service import ServiceInterface
    from evcharge.board import interfaces as board_ifaces
    from evcharge.energy import interfaces as energy_ifaces
    from evcharge.evse import interfaces as evse_ifaces
    modules = [board_ifaces, evse_ifaces, energy_ifaces]
    for extra in ("evcharge.meter.service", "evcharge.auth.service", "evcharge.update.interfaces",
                  "evcharge.ocpp.interfaces", "evcharge.power.interfaces"):
        try:
            modules.append(__import__(extra, fromlist=["x"]))
        except ImportError:
            pass
    out: dict[str, set[str]] = {}
    for mod in modules:
        for obj in vars(mod).values():
            if not (isinstance(obj, type) and issubclass(obj, ServiceInterface) and obj.__module__ == mod.__name__):
                continue
            # dbus-fast's @method() leaves its description in the function's __dict__.
            methods = {vars(fn)["__DBUS_METHOD"].name for fn in vars(obj).values()
                       if "__DBUS_METHOD" in getattr(fn, "__dict__", {})}
            if methods:
                out.setdefault(_iface_name(obj), set()).update(methods)
    return out


def _iface_name(cls) -> str:
    """The D-Bus interface name a ServiceInterface subclass passes to super().__init__."""
    import inspect

    src = inspect.getsource(cls.__init__)
    m = re.search(r"super\(\).__init__\((names\.\w+|\"[^\"]+\")\)", src)
    assert m, f"cannot find the interface name of {cls.__name__}"
    expr = m.group(1)
    return getattr(names, expr.split(".")[1]) if expr.startswith("names.") else expr.strip('"')


def test_every_exported_method_has_a_policy_rule():
    """A method added without a rule would be callable by root only: make that a test failure."""
    text = "\n".join(p.read_text() for p in DBUS_DIR.glob("*.conf"))
    rules = set(re.findall(r'send_interface="([^"]+)"\s+send_member="([^"]+)"', text))
    exported = _exported_methods()
    assert names.BOARD_CONNECTOR_IFACE in exported, exported  # the introspection itself worked
    missing = sorted(f"{i}.{m}" for i, ms in exported.items() for m in ms if (i, m) not in rules)
    assert not missing, f"methods without a rule in services/dbus/: {missing}"


def test_policies_have_no_wildcard_allows():
    """Outside root's context, every allow names destination, interface and member (or own)."""
    for path in DBUS_DIR.glob("*.conf"):
        text = re.sub(r"<!--.*?-->", "", path.read_text(), flags=re.DOTALL)
        for ctx, body in re.findall(r"<policy ([^>]*)>(.*?)</policy>", text, flags=re.DOTALL):
            for rule in re.findall(r"<allow\b([^>]*)/>", body):
                if 'user="root"' in ctx:
                    continue
                if "own=" in rule:
                    assert ctx.startswith("user="), f"{path.name}: own outside a user context: {rule}"
                    continue
                for attr in ("send_destination", "send_interface", "send_member"):
                    assert f'{attr}="' in rule and f'{attr}="*"' not in rule, f"{path.name} {ctx}: {rule}"


def _unit_files() -> list[Path]:
    return sorted(UNIT_DIR.glob("*.service")) + sorted(UNIT_DIR.glob("*.target"))


def test_units_pass_systemd_analyze_verify():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    units = _unit_files()
    assert {u.name for u in units} >= {f"evcharge-{s}.service" for s in ("board", "evse", "meter", "auth", "energy")} \
        | {"evcharge.target"}
    r = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, check=False)
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "evcharge" in line]
    assert r.returncode == 0 and not ours, f"rc={r.returncode}\n{r.stdout}{r.stderr}"


def test_units_exposure_is_low():
    """`systemd-analyze security` (offline, systemd >= 252): every unit well inside "OK"."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"systemd (\d+)", version)
    if not m or int(m.group(1)) < 252:
        pytest.skip(f"systemd-analyze security --offline needs systemd 252: {version.splitlines()[:1]}")
    scores = {}
    for unit in sorted(UNIT_DIR.glob("*.service")):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
                           capture_output=True, text=True, check=False)
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        scores[unit.name] = float(m.group(1))
    # Measured with systemd 252 (docs/security.md): 0.2 .. 1.2. The board, meter and auth keep
    # host /dev (GPIO, serial), the meter needs IP. A unit going above 2.0 lost some hardening.
    assert all(s <= 2.0 for s in scores.values()), scores


def test_sysusers_file_creates_the_users(tmp_path):
    spec = parse_sysusers(SYSUSERS)
    assert set(spec.users) >= {"evcharge-board", "evcharge-evse", "evcharge-meter", "evcharge-auth",
                               "evcharge-energy", "evcharge-ocpp"}
    assert set(spec.groups) >= {"evcharge", "evcharge-hw"}
    assert ("evcharge-board", "evcharge-hw") in spec.members
    # Every user a unit runs as is in the file.
    for unit in UNIT_DIR.glob("*.service"):
        for key in ("User", "Group"):
            for value in re.findall(rf"^{key}=(\S+)", unit.read_text(), flags=re.MULTILINE):
                assert value in spec.users, f"{unit.name}: {key}={value} is not in {SYSUSERS.name}"
    # The ids agree with the image's static id files where both name an account.
    static = REPO / "meta-evcharge" / "files"
    for fname, table in (("evcharge-passwd", {u: i for u, (i, _) in spec.users.items()}),
                         ("evcharge-group", spec.groups)):
        if (static / fname).exists():
            for line in (static / fname).read_text().splitlines():
                name, _x, ident, *_ = line.split(":")
                if name in table and table[name] is not None:
                    assert int(ident) == table[name], f"{fname}: {name} has id {ident}, sysusers says {table[name]}"
    if not shutil.which("systemd-sysusers"):
        return
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    r = subprocess.run(["systemd-sysusers", f"--root={root}", str(SYSUSERS)], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    group = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    for user, (uid, _gecos) in spec.users.items():
        assert passwd[user][2] == str(uid) and passwd[user][5] == "/", passwd[user]
    assert "evcharge-board" in group["evcharge-hw"][3].split(","), group["evcharge-hw"]


def test_shipped_configs_are_the_code_defaults():
    from evcharge.board.config import BoardConfig
    from evcharge.common.config import load_config
    from evcharge.energy.config import EnergyConfig
    from evcharge.evse.config import EvseConfig
    from evcharge.ocpp.config import OcppConfig
    from evcharge.power.config import PowerConfig

    for cls, name in ((BoardConfig, "board"), (EvseConfig, "evse"), (EnergyConfig, "energy"), (OcppConfig, "ocpp"),
                      (PowerConfig, "power")):
        assert load_config(cls, CONFIG_DIR / f"{name}.yaml", required=True) == cls(), name


# ---- the policies against the running services ----------------------------------------------
# The tests below share one running stack (module scope): the read-only and refusal checks come
# first, the ones that change state (plug-in, sessions, limits) after them.

def test_anyone_may_read(stack):
    res = stack.calls(nobody(),
                      get_all(names.BOARD, names.BOARD_PATH, names.BOARD),
                      get_all(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE),
                      get_all(names.BOARD, B1, names.BOARD_SIM_IFACE),
                      req(names.BOARD, B1, names.PROPERTIES_IFACE, "Get", "ss", names.BOARD_CONNECTOR_IFACE,
                          "CpState"),
                      req(names.BOARD, B1, "org.freedesktop.DBus.Introspectable", "Introspect"),
                      get_all(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE),
                      req(names.EVSE, names.EVSE_PATH, names.EVSE, "ListSessions", "u", 10),
                      get_all(names.ENERGY, names.ENERGY_PATH, names.ENERGY))
    assert all(r["ok"] for r in res), res
    assert res[1]["body"][0]["CpState"] == "A"
    assert res[5]["body"][0]["State"] == "Available"


def test_nobody_cannot_control_and_nothing_changes(stack):
    before = (stack.props(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE),
              stack.props(names.BOARD, B1, names.BOARD_SIM_IFACE),
              stack.props(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE),
              stack.props(names.ENERGY, names.ENERGY_PATH, names.ENERGY))
    denied = [
        req(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", 16.0),
        req(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "SetLock", "b", True),
        req(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "ResetFault"),
        req(names.BOARD, names.BOARD_PATH, names.BOARD, "Heartbeat"),
        req(names.BOARD, B1, names.BOARD_SIM_IFACE, "PlugIn", "d", 220.0),
        req(names.BOARD, B1, names.PROPERTIES_IFACE, "Set", "ssv", names.BOARD_CONNECTOR_IFACE, "OfferA",
            {"variant": ["d", 16.0]}),
        req(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, "RemoteStart", "s", "NOBODY01"),
        req(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, "SetAvailability", "b", False),
        req(names.ENERGY, names.ENERGY_PATH, names.ENERGY, "RequestCurrent", "ud", 1, 16.0),
        req(names.ENERGY, names.ENERGY_PATH, names.ENERGY, "SetExternalLimit", "usd", 0, "nobody", 6.0),
    ]
    res = stack.calls(nobody(), *denied)
    for r, q in zip(res, denied):
        assert not r["ok"] and r["error"] == ACCESS_DENIED, (q["iface"], q["member"], r)
    after = (stack.props(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE),
             stack.props(names.BOARD, B1, names.BOARD_SIM_IFACE),
             stack.props(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE),
             stack.props(names.ENERGY, names.ENERGY_PATH, names.ENERGY))
    assert after == before


def test_the_wrong_service_user_is_refused_too(stack):
    """Policies name users, not "any evcharge service": energy may not drive the board, etc."""
    res = stack.calls(Ident.of("evcharge-energy"),
                      req(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", 16.0),
                      req(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, "RemoteStart", "s", "ENERGY01"))
    assert [r.get("error") for r in res] == [ACCESS_DENIED] * 2, res
    res = stack.calls(Ident.of("evcharge-meter"),
                      req(names.ENERGY, names.ENERGY_PATH, names.ENERGY, "RequestCurrent", "ud", 1, 16.0))
    assert res[0].get("error") == ACCESS_DENIED, res


def test_operator_may_not_drive_safety_outputs(stack):
    res = stack.calls(operator(),
                      req(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", 16.0),
                      req(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "SetLock", "b", True),
                      req(names.BOARD, names.BOARD_PATH, names.BOARD, "Heartbeat"),
                      req(names.ENERGY, names.ENERGY_PATH, names.ENERGY, "RequestCurrent", "ud", 1, 16.0))
    assert [r.get("error") for r in res] == [ACCESS_DENIED] * 4, res


@pytest.mark.parametrize("policy", sorted(BUS_SERVICES))
def test_only_the_service_user_may_own_its_name(stack, policy):
    name, owner = BUS_SERVICES[policy]
    for intruder in (NOBODY, OPERATOR, "evcharge-ocpp" if owner != "evcharge-ocpp" else "evcharge-evse"):
        res = stack.call(Ident.of(intruder), {"op": "own", "name": name})
        assert res.get("error") == ACCESS_DENIED, (intruder, name, res)
    # not running here: the owner may take it
    if name in (names.OCPP, names.METER, names.AUTH, names.V2G, names.SLAC, names.POWER_SUPPLY):
        res = stack.call(Ident.of(owner), {"op": "own", "name": name})
        assert res["ok"], (owner, name, res)
    else:  # running: the owner's user may own it, but the running service holds it
        res = stack.call(Ident.of(owner), {"op": "own", "name": name})
        assert not res["ok"] and res.get("reply") == "EXISTS", (owner, name, res)


def test_chain_works_under_the_policies(stack):
    """evse (as evcharge-evse) heartbeats the board and drives a session through energy and board."""
    time.sleep(3 * 2.0)  # three board heartbeat timeouts (sim profile: 2 s)
    for cid in (1, 2):
        props = stack.props(names.BOARD, names.board_connector_path(cid), names.BOARD_CONNECTOR_IFACE)
        assert "HeartbeatLost" not in props["Faults"], props
        assert props["LastOpenReason"] != "HeartbeatLost", props

    op = operator()
    res = stack.calls(op,
                      req(names.BOARD, B1, names.BOARD_SIM_IFACE, "PlugIn", "d", 220.0),
                      req(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, "RemoteStart", "s", "OPERATOR01"))
    assert all(r["ok"] for r in res), res
    # RequestCurrent (evse -> energy), SetLock + SetOffer (evse -> board): all allowed for evcharge-evse.
    stack.wait_props(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, lambda p: p["OfferA"] > 0 and p["Locked"],
                     what="the board to get an offer and lock from evse")
    energy = stack.props(names.ENERGY, names.ENERGY_PATH, names.ENERGY)
    assert energy["Demands"].get(1, energy["Demands"].get("1", 0)) > 0, energy
    assert stack.call(op, req(names.BOARD, B1, names.BOARD_SIM_IFACE, "SetEvReady", "b", True))["ok"]
    stack.wait_props(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, lambda p: p["ContactorClosed"],
                     what="the contactor to close")
    stack.wait_props(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, lambda p: p["State"] == "Charging",
                     what="evse to report Charging")

    # Operators stop and unplug; nobody still cannot.
    assert stack.call(nobody(), req(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, "Stop", "s", "Remote"))["error"] \
        == ACCESS_DENIED
    res = stack.calls(op,
                      req(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, "Stop", "s", "Remote"),
                      req(names.BOARD, B1, names.BOARD_SIM_IFACE, "SetEvReady", "b", False))
    assert all(r["ok"] for r in res), res
    stack.wait_props(names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, lambda p: not p["ContactorClosed"],
                     what="the contactor to open")
    assert stack.call(op, req(names.BOARD, B1, names.BOARD_SIM_IFACE, "Unplug"))["ok"]
    stack.wait_props(names.EVSE, E1, names.EVSE_CONNECTOR_IFACE, lambda p: p["State"] == "Available",
                     what="the connector to be Available again")
    sessions = stack.call(nobody(), req(names.EVSE, names.EVSE_PATH, names.EVSE, "ListSessions", "u", 5))
    assert sessions["ok"] and sessions["body"][0][0]["token"] == "OPERATOR01", sessions


def test_operator_controls(stack):
    """Group evcharge: remote start on an idle connector, availability, external limits, fault reset."""
    op = operator()
    e2 = names.evse_connector_path(2)
    res = stack.calls(op,
                      req(names.EVSE, e2, names.EVSE_CONNECTOR_IFACE, "RemoteStart", "s", "OPERATOR02"),
                      req(names.ENERGY, names.ENERGY_PATH, names.ENERGY, "SetExternalLimit", "usd", 0, "test", 20.0),
                      req(names.ENERGY, names.ENERGY_PATH, names.ENERGY, "ClearExternalLimit", "us", 0, "test"),
                      req(names.BOARD, names.board_connector_path(2), names.BOARD_CONNECTOR_IFACE, "ResetFault"),
                      req(names.EVSE, e2, names.EVSE_CONNECTOR_IFACE, "SetAvailability", "b", False),
                      req(names.EVSE, e2, names.EVSE_CONNECTOR_IFACE, "SetAvailability", "b", True))
    # Allowed by the policy means: the service answered (success, or its own named error).
    for r in res:
        assert r["ok"] or not r["error"].startswith("org.freedesktop.DBus.Error."), res
    assert res[0]["ok"] and res[1]["ok"] and res[2]["ok"], res


# ---- the units under a real systemd -----------------------------------------------------------
#
# systemd is not PID 1 on a development machine or in CI, but it runs fine as PID 1 of private
# pid/mount/cgroup namespaces. This boots it with only the system bus and evcharge.target, the
# shipped units and policies unchanged (a test drop-in only adds DefaultDependencies=no, log
# files, and - when the test interpreter is not /usr/bin/python3 - that interpreter), and shows
# that the services start, stay up under the watchdog and really run with the sandbox.

INNER = r"""
set -e
mount --make-rprivate /
if [ "$EVT_CGROUP" = unified ]; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
    mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
    mkdir /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup/devices
    mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
    mount -t cgroup -o devices cgroup /sys/fs/cgroup/devices
fi
mount -t tmpfs -o mode=755 tmpfs /run
# The checkout (and a virtualenv inside it) may live under /tmp, which gets a fresh tmpfs here
# and which the services' PrivateTmp= hides anyway: give it a stable path first.
mkdir -p /run/evtest/repo
mount --bind "$EVT_REPO" /run/evtest/repo
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /var/lib/evcharge
if [ -n "$EVT_EXPOSE" ]; then
    mount -t tmpfs -o mode=755 tmpfs /opt
    mkdir /opt/evcharge-python
    mount --bind "$EVT_EXPOSE" /opt/evcharge-python
fi
mkdir -p /run/evtest/system.d /run/dbus
# Configuration in /run: the services' PrivateTmp= hides this test's /var/tmp from them.
cp -r "$EVT_LOGDIR/config" /run/evtest/config
cp /usr/share/dbus-1/system.d/* /run/evtest/system.d/ 2>/dev/null || true
cp /run/evtest/repo/services/dbus/*.conf /run/evtest/system.d/
mount --bind /run/evtest/system.d /usr/share/dbus-1/system.d
mount --bind "$EVT_LOGDIR/console.log" /dev/console
U=/run/systemd/system
mkdir -p $U/evcharge.target.wants
cp /run/evtest/repo/services/systemd/* $U/
cp -r "$EVT_LOGDIR"/units/. $U/
for s in board evse meter auth energy; do ln -s ../evcharge-$s.service $U/evcharge.target.wants/; done
exec env container=evcharge-test "$EVT_SYSTEMD" --system --unit=evcharge-test.target --log-level=info
"""

OUTER = r"""
set -e
for d in $EVT_CGROUP_DIRS; do mkdir -p "$d"; echo $$ > "$d/cgroup.procs"; done
exec unshare --fork --kill-child --pid --mount-proc --mount --cgroup --uts --ipc bash "$EVT_LOGDIR/inner.sh"
"""

SERVICE_USERS = {s: f"evcharge-{s}" for s in ("board", "evse", "meter", "auth", "energy")}


class BootedSystemd:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None  # systemd, as seen from here

    def ns(self, *argv: str, check: bool = True) -> str:
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p", "--", *argv],
                           capture_output=True, text=True, timeout=60, check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)}: rc {r.returncode}: {r.stderr}{r.stdout}\n{self.logs()}")
        return r.stdout

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.ns("systemctl", "show", unit, *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted(self.dir.glob("*.log")) if p.stat().st_size)

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")


def _cgroup_setup() -> tuple[str, list[Path]] | None:
    fs = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True, text=True,
                        check=False).stdout.strip()
    name = f"evcharge-test-{os.getpid()}"
    if fs == "cgroup2fs":
        return "unified", [Path("/sys/fs/cgroup") / name]
    needed = [Path("/sys/fs/cgroup") / h for h in ("unified", "systemd", "devices")]
    if all((h / "cgroup.procs").exists() for h in needed):
        return "hybrid", [h / name for h in needed]
    return None


def _remove_cgroups(dirs: list[Path]) -> None:
    for _ in range(50):
        left = False
        for top in dirs:
            if not top.exists():
                continue
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
                try:
                    d.rmdir()
                except OSError:
                    left = True
        if not left:
            return
        time.sleep(0.1)


NS_REPO = Path("/run/evtest/repo")  # where INNER binds the checkout inside the namespace


def _in_namespace(path: Path) -> Path:
    """The path of a file of the checkout as the namespaced systemd and its services see it."""
    path = path.resolve()
    return NS_REPO / path.relative_to(REPO.resolve()) if path.is_relative_to(REPO.resolve()) else path


def test_units_run_under_systemd(accounts):
    systemd = next((p for p in ("/usr/lib/systemd/systemd", "/lib/systemd/systemd") if Path(p).exists()), None)
    if not systemd or not all(shutil.which(t) for t in ("unshare", "nsenter", "busctl", "systemctl")):
        pytest.skip("needs systemd, busctl, unshare and nsenter")
    cg = _cgroup_setup()
    if cg is None:
        pytest.skip("needs a cgroup2 or hybrid cgroup hierarchy")
    import evcharge

    hidden = ("/root", "/home", "/run/user")  # ProtectHome=yes makes these inaccessible to the services
    if any(Path(evcharge.__file__).resolve().is_relative_to(h) for h in hidden):
        pytest.skip("the evcharge sources are under a home directory, which ProtectHome= hides")
    # A virtualenv's interpreter finds its base through pyvenv.cfg, which may point into a hidden
    # home directory: run the base interpreter instead, with the venv's packages and the sources
    # on PYTHONPATH (what the image does with the system Python and site-packages).
    in_venv = sys.prefix != sys.base_prefix
    pythonpath = ""
    if in_venv:
        import sysconfig

        dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], str(REPO / "services")}
        if any(Path(d).resolve().is_relative_to(h) for d in dirs for h in hidden):
            pytest.skip("the virtualenv is under a home directory, which ProtectHome= hides")
        pythonpath = ":".join(sorted(str(_in_namespace(Path(d))) for d in dirs))
    system_python_ok = not in_venv and subprocess.run(
        ["/usr/bin/python3", "-c", "import evcharge.board.service, dbus_fast"],
        capture_output=True, cwd="/", check=False).returncode == 0
    prefix = Path(sys.base_prefix).resolve()
    expose, python, ld_path = "", "/usr/bin/python3", ""
    if not system_python_ok:
        base_executable = getattr(sys, "_base_executable", sys.executable)
        python = str(Path(prefix / "bin" / Path(base_executable).name)) if in_venv else sys.executable
        if any(prefix.is_relative_to(h) for h in hidden):
            expose = str(prefix)
            python = str(Path("/opt/evcharge-python") / Path(sys.executable).resolve().relative_to(prefix))
            ld_path = "/opt/evcharge-python/lib"

    work = Path(tempfile.mkdtemp(prefix="evcharge-systemd-", dir="/var/tmp"))
    made_state_root = not Path("/var/lib/evcharge").exists()
    Path("/var/lib/evcharge").mkdir(exist_ok=True)  # mount point for a tmpfs inside the namespace
    booted = BootedSystemd(work)
    mode, cgroup_dirs = cg
    try:
        (work / "console.log").touch()
        (work / "inner.sh").write_text(INNER)
        cfg = work / "units"
        (cfg / "evcharge-test.target").parent.mkdir(parents=True)
        (cfg / "evcharge-test.target").write_text(
            "[Unit]\nDescription=evcharge unit test\nDefaultDependencies=no\nWants=evcharge.target dbus.socket\n")
        for unit in ("dbus.service", "dbus.socket"):
            (cfg / f"{unit}.d").mkdir()
            (cfg / f"{unit}.d" / "50-test.conf").write_text("[Unit]\nDefaultDependencies=no\n")
        (cfg / "dbus.service.d" / "60-log.conf").write_text(
            f"[Service]\nStandardOutput=append:{work}/dbus.log\nStandardError=inherit\n")
        confdir = work / "config"  # copied to /run/evtest/config in the namespace
        confdir.mkdir()
        for name in ("board", "evse", "energy"):
            shutil.copy(CONFIG_DIR / f"{name}.yaml", confdir)
        (confdir / "meter.yaml").write_text("meters:\n  - connector_id: 1\n    backend: sim\n"
                                            "  - connector_id: 2\n    backend: sim\n")
        (confdir / "auth.yaml").write_text("readers:\n  - name: rfid0\n    type: sim\n")
        os.chmod(work, 0o755)
        for p in confdir.iterdir():
            os.chmod(p, 0o644)
        os.chmod(confdir, 0o755)
        for svc in SERVICE_USERS:
            d = cfg / f"evcharge-{svc}.service.d"
            d.mkdir()
            lines = ["# test only: no sysinit.target in this namespace; logs to files; the test's config",
                     "[Unit]", "DefaultDependencies=no", "[Service]",
                     f"Environment=EVCHARGE_CONFIG_DIR=/run/evtest/config EVCHARGE_BOARDS_DIR={_in_namespace(BOARDS_DIR)}",
                     f"StandardOutput=append:{work}/{svc}.log", "StandardError=inherit"]
            if python != "/usr/bin/python3":
                lines += ["ExecStart=", f"ExecStart={python} -m evcharge.{svc}"]
            if ld_path:
                lines.append(f"Environment=LD_LIBRARY_PATH={ld_path}")
            if pythonpath:
                lines.append(f"Environment=PYTHONPATH={pythonpath}")
            (d / "50-test.conf").write_text("\n".join(lines) + "\n")
        env = dict(os.environ, EVT_REPO=str(REPO), EVT_LOGDIR=str(work), EVT_EXPOSE=expose, EVT_SYSTEMD=systemd,
                   EVT_CGROUP=mode, EVT_CGROUP_DIRS=" ".join(map(str, cgroup_dirs)))
        with open(work / "outer.log", "wb") as outer_log:
            booted.proc = subprocess.Popen(["bash", "-c", OUTER], env=env, stdout=outer_log, stderr=subprocess.STDOUT,
                                           start_new_session=True)

        def systemd_pid():
            children = Path(f"/proc/{booted.proc.pid}/task/{booted.proc.pid}/children")
            try:
                kids = children.read_text().split()
            except OSError:
                return None
            if not kids:
                return None
            try:
                return int(kids[0]) if "systemd" in Path(f"/proc/{kids[0]}/comm").read_text() else None
            except OSError:
                return None

        booted.pid = booted.wait(systemd_pid, 30, "systemd to start in the namespace")
        units = [f"evcharge-{s}.service" for s in SERVICE_USERS]

        def all_active():
            states = [s.strip() for s in booted.ns("systemctl", "is-active", *units, check=False).splitlines()]
            if "failed" in states:
                raise AssertionError(f"a unit failed: {dict(zip(units, states))}\n{booted.logs()}")
            return states == ["active"] * len(units)

        booted.wait(all_active, SERVICE_START_TIMEOUT_S, "every evcharge unit to be active (READY=1)")
        time.sleep(12)  # two board watchdog periods, six heartbeat timeouts
        can_lower_oom = subprocess.run(["sh", "-c", "echo -1 > /proc/self/oom_score_adj"],
                                       capture_output=True, check=False).returncode == 0
        for svc, user in SERVICE_USERS.items():
            props = booted.show(f"evcharge-{svc}.service", "MainPID", "NRestarts", "ActiveState")
            assert props["ActiveState"] == "active" and props["NRestarts"] == "0", (svc, props, booted.logs())
            status = dict(line.split(":", 1) for line in
                          booted.ns("cat", f"/proc/{props['MainPID']}/status").splitlines() if ":" in line)
            uid = pwd.getpwnam(user).pw_uid
            assert status["Uid"].split()[0] == str(uid), (svc, status["Uid"])
            assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2", (svc, status)
            assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, (svc, status)
            # SupplementaryGroups= (device access) survive PrivateUsers=: real gids, seen from here.
            unit_text = (UNIT_DIR / f"evcharge-{svc}.service").read_text()
            for g in " ".join(re.findall(r"^SupplementaryGroups=(.*)$", unit_text, flags=re.MULTILINE)).split():
                assert str(grp.getgrnam(g).gr_gid) in status["Groups"].split(), (svc, g, status["Groups"])
            if svc == "board":  # the safety service is the last the OOM killer picks
                assert booted.show("evcharge-board.service", "OOMScoreAdjust")["OOMScoreAdjust"] == "-900"
                if can_lower_oom:  # some sandboxes refuse negative values even to root
                    assert booted.ns("cat", f"/proc/{props['MainPID']}/oom_score_adj").strip() == "-900"
        faults = booted.ns("busctl", "get-property", names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "Faults")
        assert "HeartbeatLost" not in faults, faults

        # The shipped policies on the real system bus: nobody reads, but may not drive the board.
        nobody_cmd = ["setpriv", f"--reuid={pwd.getpwnam(NOBODY).pw_uid}",
                      f"--regid={pwd.getpwnam(NOBODY).pw_gid}", "--clear-groups", "--"]
        booted.ns(*nobody_cmd, "busctl", "get-property", names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "CpState")
        r = subprocess.run(["nsenter", "-t", str(booted.pid), "-m", "-p", "--", *nobody_cmd, "busctl", "call",
                            names.BOARD, B1, names.BOARD_CONNECTOR_IFACE, "SetOffer", "d", "16"],
                           capture_output=True, text=True, timeout=30, check=False)
        assert r.returncode != 0 and "Access denied" in r.stderr, (r.returncode, r.stderr)

        # A broken configuration ends in "failed" with EX_CONFIG (78), not in a restart loop.
        main_pid = booted.show("evcharge-energy.service", "MainPID")["MainPID"]
        booted.ns("sh", "-c", "echo 'site_limit_a: plenty' > /run/evtest/config/energy.yaml")
        booted.ns("kill", "-9", main_pid)
        booted.wait(lambda: booted.show("evcharge-energy.service", "ActiveState")["ActiveState"] == "failed", 30,
                    "energy to fail on its broken config")
        props = booted.show("evcharge-energy.service", "ExecMainStatus", "NRestarts")
        assert props == {"ExecMainStatus": "78", "NRestarts": "1"}, props
        booted.ns("cp", str(_in_namespace(CONFIG_DIR / "energy.yaml")), "/run/evtest/config/energy.yaml")
        booted.ns("systemctl", "start", "evcharge-energy.service")
        booted.wait(lambda: booted.show("evcharge-energy.service", "ActiveState")["ActiveState"] == "active", 60,
                    "energy to start again with its shipped config")

        # Stopping the target stops every service (PartOf=); evse before the board (After=).
        booted.ns("systemctl", "stop", "evcharge.target")  # waits for the target's job only
        booted.wait(lambda: set(booted.ns("systemctl", "is-active", *units, check=False).split()) == {"inactive"},
                    60, "every evcharge unit to stop with evcharge.target")
        t = {s: int(booted.show(f"evcharge-{s}.service", "InactiveEnterTimestampMonotonic")
                    ["InactiveEnterTimestampMonotonic"]) for s in ("evse", "board")}
        assert t["evse"] < t["board"], t
    finally:
        if booted.pid:
            try:
                os.kill(booted.pid, signal.SIGKILL)  # PID 1 of the namespace: everything in it goes
            except ProcessLookupError:
                pass
        if booted.proc:
            try:
                booted.proc.wait(30)
            except subprocess.TimeoutExpired:
                booted.proc.kill()
                booted.proc.wait()
        _remove_cgroups(cgroup_dirs)
        if made_state_root:
            shutil.rmtree("/var/lib/evcharge", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
