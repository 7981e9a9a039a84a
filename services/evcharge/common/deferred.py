"""Modules that libraries import at start-up but use only on paths a service rarely takes.

Each module a Python process imports stays in its memory for good (its code, functions,
classes: issue 7, benchmarks/memory.py). Some libraries import modules at the top that only
one rarely used function needs: dbus-fast imports `hashlib` (and with it OpenSSL's libcrypto,
~0.5 MiB per process) for a cache key of parsed introspection XML, which a service that only
exports objects and makes plain calls never parses; websockets imports `importlib.metadata`
(with email, zipfile, ...) for a version string that its releases set as a literal; subprocess
imports `locale` for text-mode pipes (asyncio imports subprocess, no service starts one);
PyYAML imports `base64` for `!!binary` values, which no configuration has.

`defer(name)` puts a placeholder module in `sys.modules` before the library imports it: the
library's `import hashlib` binds the placeholder, and the first attribute it reads from it
runs the module's code in the placeholder, which then is the module: behaviour is the same,
only later. `importlib.util.LazyLoader` cannot do this on 3.11: every later `import`
statement of the module reads its `__spec__` and so loads it at once.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from importlib.machinery import PathFinder
from typing import Any


class Deferred(types.ModuleType):
    """A module not imported yet: the first missing attribute imports it."""

    def __getattr__(self, attr: str):  # type: ignore[no-untyped-def]
        # Only called for attributes not in the placeholder's namespace, i.e. until it is loaded.
        if attr in _PROBES:
            # Asked by the import system (a plain module has no __path__) and by inspect: not a use.
            raise AttributeError(attr)
        return getattr(load(self.__name__), attr)


_PROBES = frozenset({"__path__", "__wrapped__"})
_lock = threading.RLock()


def load(name: str) -> types.ModuleType:
    """Import the real module for a placeholder (idempotent) and return it.

    The module's code runs in the placeholder itself, which then becomes an ordinary module (as
    importlib.util.LazyLoader does): whoever bound the placeholder holds the one module object,
    so nothing can diverge (a later monkeypatch, a rebound module global)."""
    with _lock:
        mod = sys.modules.get(name)
        if not isinstance(mod, Deferred):
            return importlib.import_module(name)
        spec = mod.__spec__
        mod.__class__ = types.ModuleType
        spec._initializing = True  # type: ignore[union-attr]  # an `import` meanwhile sees it partly done
        try:
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
        except BaseException:
            mod.__class__ = Deferred
            raise
        finally:
            spec._initializing = False  # type: ignore[union-attr]
        # A module may replace itself in sys.modules while it runs (as `import` allows).
        return sys.modules.get(name, mod)


def _stand_in(module: str, attr: str) -> type:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807 - the class's constructor
        return getattr(load(module), attr)(*args, **kwargs)

    return type(attr, (), {"__module__": module, "__qualname__": attr, "__new__": __new__})


def defer(name: str, stand_ins: tuple[str, ...] = ()) -> bool:
    """Make `name` load on first use; False if it is loaded already (nothing to gain) or absent.

    `stand_ins`: classes of the module that importers read at import time only to put them in
    annotations (dbus-fast's `introspection: Node | str | ET.Element`). Each gets a class of the
    same name in the placeholder, so that reading it does not load the module; calling it loads
    the module and returns an instance of the real class. A test like `type(x) is ET.Element`
    stays right: no instance of the real class can exist before the module is loaded, and
    loading it replaces the stand-in with the real class."""
    if name in sys.modules:
        return False
    parent, _, child = name.rpartition(".")
    path = None
    if parent:
        # The parent's search path without importing it: a submodule is deferred before its
        # package imports it (e.g. asyncio.sslproto, imported by asyncio's base_events).
        pkg = sys.modules.get(parent)
        pspec = pkg.__spec__ if pkg is not None else importlib.util.find_spec(parent)
        path = pspec.submodule_search_locations if pspec is not None else None
        if path is None:
            return False
    spec = PathFinder.find_spec(name, path)
    if spec is None:
        return False
    mod = Deferred(name)
    for attr in stand_ins:
        setattr(mod, attr, _stand_in(name, attr))
    mod.__spec__ = spec
    mod.__file__ = spec.origin
    mod.__loader__ = spec.loader
    mod.__package__ = spec.parent
    if spec.cached:
        mod.__cached__ = spec.cached
    if spec.submodule_search_locations is not None:
        mod.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = mod
    if parent in sys.modules:
        setattr(sys.modules[parent], child, mod)
    elif parent:
        _unbound.append(name)
    return True


# Deferred submodules whose package was not imported yet: `import urllib.request` then
# `urllib.request.x` needs the attribute on the package, which only a real import would set.
_unbound: list[str] = []


def bind_packages() -> None:
    """Import the packages of deferred submodules (after every placeholder is in place, so that
    they bind the placeholders) and set the submodule attribute on each."""
    while _unbound:
        name = _unbound.pop(0)
        parent, _, child = name.rpartition(".")
        pkg = importlib.import_module(parent)
        if not hasattr(pkg, child):
            setattr(pkg, child, sys.modules.get(name))


# What every service defers, before asyncio, dbus-fast, PyYAML and websockets are imported
# (evcharge.common.service imports this module first): modules that a library imports at the top
# but needs only on a path a running service rarely or never takes. Deferring a module nothing
# imports costs nothing; one that a library reads an attribute of at import time is loaded there
# anyway (datetime: PyYAML's representer; traceback: logging's `from traceback import`).
STARTUP = (
    "hashlib",             # dbus-fast: introspection XML cache keys (libcrypto: 0.5-0.8 MiB)
    "importlib.metadata",  # websockets: version string (with email, zipfile: 0.5 MiB in ocpp)
    "locale",              # subprocess (via asyncio): text-mode pipes
    "base64",              # PyYAML: !!binary values
    "asyncio.sslproto",    # asyncio: TLS transports (never in board, evse, energy, auth)
    "ssl",                 # asyncio, websockets, urllib: only for TLS (ocpp at security profile 0/1, update over http)
    "textwrap", "tokenize", "linecache",   # traceback: formatting an exception's source lines
    "tempfile", "shutil", "zipfile",       # importlib.resources (jsonschema's meta-schemas are files)
    "urllib.request",      # websockets: proxy lookup (evcharge.ocpp.proxy skips it without *_proxy)
    "random", "calendar", "email.utils", "email.parser", "pprint",  # http.client, urllib.request
    "uuid", "secrets", "hmac",             # the ocpp library (message ids), websockets (frame masks)
    "ipaddress",           # urllib.parse (through pathlib): only for a bracketed IPv6 host (0.15 MiB)
)



def _check_ssl_socket_once_ssl_is_loaded() -> None:
    """asyncio's sock_connect() and friends refuse an ssl.SSLSocket (`isinstance(sock,
    ssl.SSLSocket)`), which with ssl deferred would import it for every socket connected, the
    D-Bus connection included. No SSLSocket can exist before ssl is imported (the class is defined
    there), so until then there is nothing to check; afterwards asyncio's own check runs."""
    base_events = sys.modules.get("asyncio.base_events")
    check = getattr(base_events, "_check_ssl_socket", None)
    if check is None or not isinstance(sys.modules.get("ssl"), Deferred):
        return

    def _check_ssl_socket(sock: object) -> None:
        if not isinstance(sys.modules.get("ssl"), Deferred):
            check(sock)

    base_events._check_ssl_socket = _check_ssl_socket  # type: ignore[union-attr]


for _name in STARTUP:
    defer(_name)
# dbus-fast: its introspection XML (xml.etree with pyexpat, _elementtree: 0.3 MiB private and
# 0.2 MiB of shared libraries per service) is parsed only for a proxy object built from
# introspection and written only when a peer introspects an exported object; no service does the
# first, and the second (busctl introspect) loads it then. dbus-fast reads `ET.Element` at
# import only in annotations.
defer("xml.etree.ElementTree", stand_ins=("Element",))
defer("xml.parsers.expat")
bind_packages()
_check_ssl_socket_once_ssl_is_loaded()
