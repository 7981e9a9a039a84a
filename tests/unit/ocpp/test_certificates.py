"""open_store: the certificate store both protocols open from ocpp.yaml, and its configuration errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from evcharge.common.config import ConfigError
from evcharge.ocpp.certificates import CertificateStore, open_store


def cfg(ca_file: str = "", client_cert_file: str = "", client_key_file: str = "") -> SimpleNamespace:
    return SimpleNamespace(ca_file=ca_file, client_cert_file=client_cert_file, client_key_file=client_key_file)


def test_an_empty_configuration_gives_an_empty_store(tmp_path):
    store = open_store(tmp_path / "certs", cfg())
    assert isinstance(store, CertificateStore) and store.roots() == []


@pytest.mark.parametrize("content, reason", [(None, "No such file or directory"),
                                             ("not a certificate", "no PEM certificate found")])
def test_an_unusable_ca_file_is_a_configuration_error_naming_the_key(tmp_path, content, reason):
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    with pytest.raises(ConfigError) as e:
        open_store(tmp_path / "certs", cfg(ca_file=str(ca)))
    assert f"{ca}: ca_file: cannot use it: {reason}" in str(e.value)


def test_an_unusable_client_certificate_names_the_client_keys(tmp_path):
    with pytest.raises(ConfigError) as e:
        open_store(tmp_path / "certs", cfg(client_cert_file=str(tmp_path / "nope.pem"),
                                           client_key_file=str(tmp_path / "nope.key")))
    assert "client_cert_file/client_key_file: cannot use it" in str(e.value)
