"""Shared fixtures for the EXI codec tests: test vectors and their normalisation.

Vectors are read from the copy vendored in ./vectors (so the suite runs without ../shared);
test_vectors.py also checks that copy against ../shared/exi/vectors when that exists.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VENDORED = HERE / "vectors"
SHARED = REPO.parent / "shared" / "exi" / "vectors"
KNOWN_FAILURES = HERE / "known_failures.txt"
VECTOR_FILES = ("lab-captures.jsonl", "josev-sessions.jsonl")


def load_vectors(directory: Path) -> list[tuple[str, dict]]:
    """(id, record) for every line; id is '<file stem>:<line number>'."""
    out = []
    for name in VECTOR_FILES:
        with open(directory / name, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    out.append((f"{Path(name).stem}:{lineno}", json.loads(line)))
    return out


def known_failures() -> set[str]:
    """Vector ids expected to fail (strict xfail): one per line, '#' comments."""
    if not KNOWN_FAILURES.exists():
        return set()
    lines = (ln.split("#", 1)[0].strip() for ln in KNOWN_FAILURES.read_text().splitlines())
    return {ln for ln in lines if ln}


def normalise(obj: object) -> object:
    """Codec output -> reference JSON form: binary values become uppercase hex strings."""
    if isinstance(obj, dict):
        return {k: normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [normalise(v) for v in obj]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex().upper()
    return obj


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vector" in metafunc.fixturenames:
        xfails = known_failures()
        params = []
        for vid, rec in load_vectors(VENDORED):
            marks = [pytest.mark.xfail(strict=True, reason="listed in known_failures.txt")] if vid in xfails else []
            params.append(pytest.param(rec, id=vid, marks=marks))
        metafunc.parametrize("vector", params)


class _Helpers:
    """Exposed to tests as the `vecs` fixture (test modules cannot import conftest under
    pytest's importlib import mode)."""

    shared = SHARED
    vendored = VENDORED
    files = VECTOR_FILES
    load = staticmethod(load_vectors)
    known_failures = staticmethod(known_failures)
    normalise = staticmethod(normalise)


@pytest.fixture(scope="session")
def vecs() -> type[_Helpers]:
    return _Helpers
