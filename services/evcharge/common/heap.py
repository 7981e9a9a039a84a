"""Give the memory the heap no longer uses back to the kernel.

glibc's malloc keeps freed memory inside its heap for reuse; only the free space at its top is
returned (above M_TRIM_THRESHOLD), so the temporary objects of start-up (parsing the config and
the code of the imported modules, D-Bus introspection, the schemas ocpp loads) leave pages
that stay resident, counted in the service's PSS for as long as it runs. `malloc_trim(0)` also
releases the free pages in the middle of the heap (madvise DONTNEED): measured 0.5-1 MiB per
service after start-up, more in ocpp after it loaded its schemas (benchmarks/memory.py).
Its cost is a walk over the free chunks: well under a millisecond for these heaps.

A no-op where the C library has no malloc_trim (musl) or ctypes is missing.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

# After start-up, then at this period: what a service allocated for a burst of work (a session,
# a CSMS request) and freed again goes back within a minute.
TRIM_PERIOD_S = 60.0


def _malloc_trim():  # type: ignore[no-untyped-def]
    try:
        import ctypes

        # The process's own symbols include the C library's (no ctypes.util: it runs ldconfig).
        fn = ctypes.CDLL(None).malloc_trim
    except (ImportError, OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_trim = _malloc_trim()


def release_free_memory() -> bool:
    """Return freed heap pages to the kernel; True if the C library did (or could have)."""
    if _trim is None:
        return False
    return bool(_trim(0))


async def trim_periodically(period_s: float = TRIM_PERIOD_S) -> None:
    if _trim is None:
        log.debug("no malloc_trim in this C library: heap not trimmed")
        return
    while True:
        release_free_memory()
        await asyncio.sleep(period_s)
