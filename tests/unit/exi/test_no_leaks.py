"""The C codec releases everything it allocates, on success and on every error path."""
from __future__ import annotations

import gc
import tracemalloc

import pytest
from evcharge import exi


def _growth(fn, repeats: int = 30) -> int:
    fn()  # warm caches (interned strings, free lists)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(repeats):
            fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def samples(request) -> list[tuple[str, bytes]]:
    helpers = request.getfixturevalue("vecs")
    return [(rec["ns"], bytes.fromhex(rec["hex"])) for _, rec in helpers.load(helpers.vendored)][::10]


def test_decode_encode_do_not_leak(samples) -> None:
    def run() -> None:
        for ns, data in samples:
            exi.encode(ns, exi.decode(ns, data))

    # A leak of one object per message would be > 100 objects x 30 repeats x ~50 bytes.
    assert _growth(run) < 20_000


def test_error_paths_do_not_leak(samples) -> None:
    def run() -> None:
        for ns, data in samples:
            for cut in (3, len(data) // 2, len(data) - 1):
                try:
                    exi.decode(ns, data[:cut])
                except exi.ExiError:
                    pass
            msg = exi.decode(ns, data)
            root = next(iter(msg))
            if isinstance(msg[root], dict):
                msg[root]["Bogus"] = 1
                try:
                    exi.encode(ns, msg)
                except exi.ExiError:
                    pass

    assert _growth(run) < 20_000
