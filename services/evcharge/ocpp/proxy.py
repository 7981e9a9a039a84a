"""websockets' proxy lookup without importing urllib.request when no proxy is configured.

websockets >= 15 looks a proxy up for every connection it opens (its default `proxy=True`:
`urllib.request.getproxies()` and `proxy_bypass()`, on Linux the `*_proxy` environment
variables). Importing urllib.request for that costs the ocpp process ~1 MiB for good
(http.client, email, tempfile, ...: benchmarks/memory.py, issue 7; evcharge.common.deferred
leaves it unloaded until used). With no such variable in the environment the lookup can only
answer "no proxy", so the connection says so itself; with one (e.g. `Environment=https_proxy=`
in a drop-in for the unit), websockets looks it up exactly as before.
"""

from __future__ import annotations

import os
from inspect import signature
from typing import Any

from websockets.asyncio.client import connect

# websockets before 15 has no proxy support (and no such argument).
SUPPORTS_PROXY = "proxy" in signature(connect).parameters


def connect_options(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Extra arguments for websockets' connect(): {"proxy": None} when no proxy is configured."""
    env = os.environ if environ is None else environ
    if SUPPORTS_PROXY and not any(name.lower().endswith("_proxy") for name in env):
        return {"proxy": None}
    return {}
