"""For services that never use TLS: asyncio without the `ssl` module.

Imported first by the `__main__` of board, energy, evse and auth, before anything imports
asyncio. asyncio imports `ssl` only to offer TLS (it runs without it, as on a Python built
without OpenSSL: `asyncio.base_events.ssl` is then None), and that import costs each process
~1 MiB of PSS: the module's Python code, its enums, libssl and the SSL library's
initialisation (benchmarks/memory.py, issue 7). These services talk D-Bus, serial and GPIO
only; `import ssl` in them fails with ImportError instead of loading it. Services that use TLS
(ocpp, update, iso15118) and meter (pymodbus may use TLS) do not import this module.
tests/unit/common/test_notls.py checks that the services start without `ssl`.
"""

import sys

if "ssl" not in sys.modules:
    sys.modules["ssl"] = None  # type: ignore[assignment]  # the import system's "not available"
