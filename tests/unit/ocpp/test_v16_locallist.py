"""OCPP 1.6J local list entries as the auth service's AuthorizationData: the idTag type rule."""

import pytest
from evcharge.ocpp.v16.locallist import authorization_data, idtag_type


@pytest.mark.parametrize(("tag", "kind"), [
    ("04A1B2C3", "ISO14443"), ("04a1b2c3d4e5f6", "ISO14443"), ("0" * 20, "ISO14443"),
    ("E004010012345678", "ISO15693"),
    ("04A1B2C", "Central"), ("04A1B2C3D", "Central"), ("FLEET-7", "Central"), ("04A1B2G3", "Central"),
    ("", "Central"),
])
def test_idtag_type(tag, kind):
    assert idtag_type(tag) == kind


def test_authorization_data():
    out = authorization_data([
        {"idTag": "0a0b0c0d", "idTagInfo": {"status": "Accepted", "expiryDate": "2030-01-01T01:00:00+01:00",
                                            "parentIdTag": "P"}},
        {"idTag": "FLEET-7", "idTagInfo": {"status": "Blocked"}},
        {"idTag": "0E0E0E0E"},
    ])
    assert out == [
        {"idToken": {"idToken": "0a0b0c0d", "type": "ISO14443"},
         "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2030-01-01T00:00:00Z"}},
        {"idToken": {"idToken": "FLEET-7", "type": "Central"}, "idTokenInfo": {"status": "Blocked"}},
        {"idToken": {"idToken": "0E0E0E0E", "type": "ISO14443"}},
    ]
    with pytest.raises(ValueError, match="expiryDate"):
        authorization_data([{"idTag": "X", "idTagInfo": {"status": "Accepted", "expiryDate": "soon"}}])
