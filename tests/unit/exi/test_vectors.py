"""Every captured message decodes to its reference content and re-encodes to the same bytes."""
from __future__ import annotations

import pytest
from evcharge import exi


def test_decode_matches_reference(vector: dict, vecs) -> None:
    decoded = exi.decode(vector["ns"], bytes.fromhex(vector["hex"]))
    assert vecs.normalise(decoded) == vector["json"]


def test_encode_reproduces_capture(vector: dict) -> None:
    # The reference JSON carries hexBinary as hex strings; the encoder accepts that lexical form.
    encoded = exi.encode(vector["ns"], vector["json"])
    # Some captures end in one extra zero padding byte.
    assert encoded.rstrip(b"\0") == bytes.fromhex(vector["hex"]).rstrip(b"\0")


def test_decoded_dict_round_trips(vector: dict) -> None:
    data = bytes.fromhex(vector["hex"])
    decoded = exi.decode(vector["ns"], data)
    assert exi.decode(vector["ns"], exi.encode(vector["ns"], decoded)) == decoded


def test_vector_set_is_complete(vecs) -> None:
    vectors = vecs.load(vecs.vendored)
    assert len(vectors) == 1026
    assert {rec["ns"] for _, rec in vectors} <= set(exi.NAMESPACES)


def test_known_failures_are_real_vector_ids(vecs) -> None:
    ids = {vid for vid, _ in vecs.load(vecs.vendored)}
    assert vecs.known_failures() <= ids


def test_vendored_copy_matches_shared(vecs) -> None:
    if not vecs.shared.exists():
        pytest.skip(f"shared reference folder not present at {vecs.shared}")
    for name in vecs.files:
        assert (vecs.vendored / name).read_bytes() == (vecs.shared / name).read_bytes(), name
