"""A private dbus-daemon for SIL runs and tests.

`open_policy=True` gives a session-style bus where anyone may call anything (SIL on a developer
machine). `policy_dirs` instead builds a system-style bus: default deny, then the given
`org.evcharge.*.conf` policy files, exactly as the system bus would load them from
/usr/share/dbus-1/system.d. Tests use the latter to prove the shipped policies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import lifeline

OPEN_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
"""

# Mirrors the defaults of dbus's own system.conf: deny by default, allow signals and replies,
# and let policy files open exactly what each service needs.
SYSTEM_LIKE_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
{includes}
  <policy context="mandatory">
  </policy>
</busconfig>
"""


@dataclass
class PrivateBus:
    address: str
    process: subprocess.Popen[bytes]
    workdir: Path
    _owns_workdir: bool = field(default=True, repr=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_bus(*, policy_dirs: Iterable[Path] | None = None, policy_files: Iterable[Path] | None = None,
              workdir: Path | None = None, die_with_parent: bool = False) -> PrivateBus:
    owns = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="evcharge-bus-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # World-accessible so that tests can connect as unprivileged users to check the policies.
    os.chmod(workdir, 0o755)
    socket = workdir / "bus.sock"
    if policy_dirs is None and policy_files is None:
        text = OPEN_CONFIG.format(socket=socket)
    else:
        includes = [f"  <includedir>{d}</includedir>" for d in policy_dirs or ()]
        includes += [f"  <include>{f}</include>" for f in policy_files or ()]
        text = SYSTEM_LIKE_CONFIG.format(socket=socket, includes="\n".join(includes))
    conf = workdir / "bus.conf"
    conf.write_text(text)
    proc = subprocess.Popen(["dbus-daemon", "--nofork", "--nopidfile", f"--config-file={conf}", "--print-address"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lifeline.die_with_parent() if die_with_parent else None)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line:
        err = proc.stderr.read().decode() if proc.stderr else ""
        proc.wait()
        raise RuntimeError(f"dbus-daemon did not start: {err.strip()}")
    return PrivateBus(address=line, process=proc, workdir=workdir, _owns_workdir=owns)
