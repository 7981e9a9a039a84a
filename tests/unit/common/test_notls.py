"""Services that never use TLS run asyncio without `ssl` (evcharge.common.notls)."""

import subprocess
import sys

import pytest

PROBE = """
import sys
import evcharge.{svc}.__main__
import evcharge.{svc}.service
import asyncio.base_events
print(sys.modules.get("ssl") is not None, asyncio.base_events.ssl is not None)
"""


@pytest.mark.parametrize("svc", ["board", "energy", "evse", "auth"])
def test_service_imports_everything_without_ssl(svc):
    out = subprocess.run([sys.executable, "-c", PROBE.format(svc=svc)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("svc", ["ocpp", "update", "meter"])
def test_tls_capable_services_keep_ssl(svc):
    out = subprocess.run([sys.executable, "-c", PROBE.format(svc=svc)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
