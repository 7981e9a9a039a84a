"""Modules deferred until first use (evcharge.common.deferred) and the command line parsed
without argparse (evcharge.common.service.parse_args): same behaviour, imported later (issue 7)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from evcharge.common import service

REPO = Path(__file__).resolve().parents[3]


def run_py(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


# Each service's start-up imports, then which of the deferred modules are still placeholders.
PROBE = """
import sys
import evcharge.{svc}.__main__
import evcharge.{svc}.service
from evcharge.common.deferred import Deferred
print(" ".join(sorted(n for n, m in sys.modules.items() if isinstance(m, Deferred))) or "-")
print("argparse" in sys.modules, "_hashlib" in sys.modules)
"""


@pytest.mark.parametrize("svc", ["board", "energy", "evse", "auth"])
def test_services_start_without_the_deferred_modules(svc):
    words = run_py(PROBE.format(svc=svc))
    # What these services imported at start before (benchmarks/memory.py), now left for later.
    assert {"hashlib", "locale", "base64", "asyncio.sslproto", "textwrap", "tokenize", "linecache"} <= set(words[:-2])
    assert words[-2:] == ["False", "False"]   # neither argparse nor OpenSSL's hashlib loaded


def run_py_without_site(code: str) -> list[str]:
    """As the image runs the services: no .pth files (a venv's editable-install finder imports
    pathlib, with urllib.parse and ipaddress, before any evcharge code runs)."""
    import site

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "services"), *site.getsitepackages()])}
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("svc", ["board", "energy", "evse", "meter", "auth", "ocpp", "update"])
def test_services_start_without_ipaddress_and_xml(svc):
    words = run_py_without_site(PROBE.format(svc=svc))
    assert {"ipaddress", "xml.etree.ElementTree", "xml.parsers.expat"} <= set(words[:-2])


def test_dbus_fast_xml_works_with_xml_deferred():
    words = run_py_without_site(
        "import sys, evcharge.common.service\n"
        "from evcharge.common.deferred import Deferred\n"
        "from dbus_fast import introspection as intr\n"
        "import xml.etree.ElementTree as ET\n"
        "deferred = lambda: isinstance(sys.modules['xml.etree.ElementTree'], Deferred)\n"
        "stand_in = ET.Element\n"
        "print(deferred(), isinstance(object(), ET.Element))\n"
        "node = intr.Node('/x', interfaces=[intr.Interface('a.b', methods=[intr.Method('M')])])\n"
        "xml = node.tostring()\n"   # builds ET.Element objects: loads the module
        "print(deferred(), ET.Element is not stand_in, type(ET.Element('n')) is ET.Element)\n"
        "print(intr.Node.parse(xml).interfaces[0].methods[0].name)\n")   # parses with expat
    assert words == ["True", "False", "False", "True", "True", "M"]


def test_calling_a_stand_in_loads_the_module_and_returns_the_real_class():
    words = run_py_without_site(
        "import sys, evcharge.common.service\n"
        "import xml.etree.ElementTree as ET\n"
        "stand_in = ET.Element\n"
        "e = stand_in('node', {'name': 'x'})\n"
        "print(type(e) is ET.Element, ET.Element is not stand_in, e.get('name'))\n")
    assert words == ["True", "True", "x"]


def test_urllib_parse_still_checks_a_bracketed_host_with_ipaddress_deferred():
    words = run_py_without_site(
        "import sys, evcharge.common.service, urllib.parse\n"
        "from evcharge.common.deferred import Deferred\n"
        "print(isinstance(sys.modules['ipaddress'], Deferred), urllib.parse.urlsplit('ws://[::1]:9000/ocpp').port)\n"
        "try:\n"
        "    urllib.parse.urlsplit('ws://[not-an-address]/')\n"
        "except ValueError:\n"
        "    print('refused', isinstance(sys.modules['ipaddress'], Deferred))\n")
    assert words == ["True", "9000", "refused", "False"]


def test_ocpp_starts_without_importlib_metadata():
    words = run_py(PROBE.format(svc="ocpp"))
    assert "importlib.metadata" in words[:-2]


def test_a_deferred_module_works_on_first_use():
    out = run_py("""
import sys
import evcharge.common.deferred
from evcharge.common.deferred import Deferred
import hashlib, base64, locale
import importlib.metadata as md
print(isinstance(sys.modules["hashlib"], Deferred), "_hashlib" in sys.modules)
print(hashlib.sha256(b"abc").hexdigest()[:16])
from hashlib import sha1
print(sha1(b"abc").hexdigest()[:8], isinstance(sys.modules["hashlib"], Deferred))
print(base64.b64decode("ZXZjaGFyZ2U=").decode(), bool(locale.getpreferredencoding()))
print(md.version("PyYAML") == md.version("pyyaml"))
import yaml
print(yaml.safe_load("b: !!binary ZXZjaGFyZ2U=")["b"].decode())
""")
    assert out == ["True", "False", "ba7816bf8f01cfea", "a9993e36", "False", "evcharge", "True", "True", "evcharge"]


def test_a_missing_attribute_is_still_an_attribute_error():
    out = run_py("""
import evcharge.common.deferred
import base64
try:
    base64.no_such_function
except AttributeError:
    print("AttributeError")
print(base64.b64encode(b"x").decode())
""")
    assert out == ["AttributeError", "eA=="]


def test_defer_refuses_a_loaded_or_missing_module():
    from evcharge.common.deferred import defer
    assert defer("sys") is False
    assert defer("evcharge_no_such_module") is False


def _profile(p):
    p.add_argument("--profile", help="board profile")


def test_known_options_are_parsed_without_argparse():
    args = service.parse_args("board", ["--config", "/etc/x.yaml", "--log-level=DEBUG", "--profile", "sim"], _profile)
    assert vars(args) == {"config": "/etc/x.yaml", "bus_address": None, "state_dir": None, "log_level": "DEBUG",
                          "profile": "sim"}
    assert vars(service.parse_args("energy", [])) == {"config": None, "bus_address": None, "state_dir": None,
                                                     "log_level": None}
    # The last one wins, as in argparse.
    assert service.parse_args("energy", ["--config", "a", "--config", "b"]).config == "b"


def test_anything_else_goes_to_argparse():
    # An abbreviation argparse accepts.
    assert service.parse_args("energy", ["--conf", "x"]).config == "x"
    # A value that looks like an option: argparse's error, exit status 2.
    with pytest.raises(SystemExit) as e:
        service.parse_args("energy", ["--config", "-x"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        service.parse_args("energy", ["--no-such-option", "1"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        service.parse_args("energy", ["--config"])
    assert e.value.code == 2


def test_help_still_comes_from_argparse(capsys):
    with pytest.raises(SystemExit) as e:
        service.parse_args("board", ["--help"], _profile)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--profile" in out and "--config" in out and "evcharge-board" in out


def test_an_option_with_a_type_makes_argparse_parse():
    def typed(p):
        p.add_argument("--port", type=int)
    assert service.parse_args("x", ["--port", "5"], typed).port == 5


def test_a_deferred_submodule_is_an_attribute_of_its_package():
    # `import urllib.request` then `urllib.request.x` (websockets' proxy lookup does this).
    out = run_py("""
import evcharge.common.deferred
import urllib.request, email.utils, asyncio.sslproto
from evcharge.common.deferred import Deferred
print(isinstance(urllib.request, Deferred), isinstance(email.utils, Deferred))
print(type(urllib.request.getproxies()).__name__, email.utils.parseaddr("a <b@c>")[1])
print(asyncio.sslproto.SSLProtocol.__name__)
""")
    assert out == ["True", "True", "dict", "b@c", "SSLProtocol"]


def test_tls_still_works_with_ssl_deferred():
    out = run_py("""
import evcharge.common.deferred, sys
from evcharge.common.deferred import Deferred
import ssl
print(isinstance(sys.modules["ssl"], Deferred))
ctx = ssl.create_default_context()
print(type(ctx).__name__, isinstance(ctx, ssl.SSLContext))
""")
    assert out == ["True", "SSLContext", "True"]


def test_connecting_a_socket_does_not_import_ssl_but_an_ssl_socket_is_still_refused():
    out = run_py("""
import evcharge.common.deferred
import asyncio, socket, sys
from evcharge.common.deferred import Deferred

async def main():
    loop = asyncio.get_running_loop()
    srv = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    s = socket.socket(); s.setblocking(False)
    await loop.sock_connect(s, ("127.0.0.1", port))
    s.close()
    print(isinstance(sys.modules["ssl"], Deferred))
    import ssl
    ctx = ssl.create_default_context()
    t = ctx.wrap_socket(socket.socket(), do_handshake_on_connect=False, server_hostname="x")
    t.setblocking(False)
    try:
        await loop.sock_connect(t, ("127.0.0.1", port))
    except TypeError as e:
        print("refused")
    t.close()
    srv.close()

asyncio.run(main())
""")
    assert out == ["True", "refused"]


def test_the_loaded_module_is_the_object_the_importers_bound():
    # pprint: deferred, and loaded at start-up by no interpreter set-up (a site .pth may import tempfile)
    out = run_py("""
import evcharge.common.deferred
import importlib, sys
import pprint as bound
from evcharge.common.deferred import Deferred
print(isinstance(bound, Deferred))
bound.pformat([1])
print(bound is sys.modules["pprint"] is importlib.import_module("pprint"), type(bound).__name__)
""")
    assert out == ["True", "True", "module"]
