"""Update core: retrieve and install times, download retries, the signature step, cancelling,
and what a restart in each new status does (time is fed explicitly, wall-clock seconds)."""

import base64

import pytest
from evcharge.update.core import Action, NotCancellable, Options, Request, Status, UpdateCore
from evcharge.update.signature import SignatureError, check_inputs, verify_file

URL = "http://10.0.2.2:8000/v2.raucb"


def _persisted(core: UpdateCore) -> UpdateCore:
    return UpdateCore(Request.from_json(core.request.to_json()))


def test_download_waits_for_the_retrieve_time():
    core = UpdateCore()
    assert core.request_install("r", URL, "/x", "A", Options(retrieve_at=1000.0), now=900.0) == [Action.PERSIST]
    assert core.status == Status.DOWNLOAD_SCHEDULED
    assert core.next_deadline() == 1000.0
    assert core.tick(999.0) == []
    assert core.tick(1000.0) == [Action.PERSIST, Action.DOWNLOAD]
    assert core.request.history == ["DownloadScheduled", "Downloading"]
    assert core.next_deadline() is None


def test_a_retrieve_time_in_the_past_downloads_at_once():
    core = UpdateCore()
    assert core.request_install("r", URL, "/x", "A", Options(retrieve_at=100.0), now=900.0) == \
        [Action.PERSIST, Action.DOWNLOAD]


def test_a_scheduled_download_survives_a_restart():
    core = UpdateCore()
    core.request_install("r", URL, "/x", "A", Options(retrieve_at=1000.0), now=900.0)
    after = _persisted(core)
    assert after.booted("A", marked_good=True) == []
    assert after.status == Status.DOWNLOAD_SCHEDULED
    assert after.tick(1001.0) == [Action.PERSIST, Action.DOWNLOAD]


def test_download_retries_then_fails():
    core = UpdateCore()
    core.request_install("r", URL, "/x", "A", Options(retries=2, retry_interval_s=30), now=0.0)
    assert core.download_done(False, "404", now=10.0) == [Action.PERSIST]
    assert core.status == Status.DOWNLOADING and core.next_deadline() == 40.0
    assert core.download_done(False, "again", now=11.0) == []    # no attempt is running
    assert core.tick(39.0) == []
    assert core.tick(40.0) == [Action.PERSIST, Action.DOWNLOAD]
    assert core.download_done(False, "404", now=41.0) == [Action.PERSIST]
    assert core.tick(71.0) == [Action.PERSIST, Action.DOWNLOAD]
    assert core.download_done(False, "404", now=72.0) == [Action.PERSIST]
    assert core.status == Status.DOWNLOAD_FAILED
    assert core.request.history == ["Downloading", "DownloadFailed"]   # one Downloading for all attempts


def test_a_retry_succeeds():
    core = UpdateCore()
    core.request_install("r", URL, "/x", "A", Options(retries=1, retry_interval_s=5), now=0.0)
    core.download_done(False, "timeout", now=1.0)
    after = _persisted(core)              # a restart while waiting keeps the retry time
    assert after.booted("A", marked_good=True) == []
    assert after.tick(6.0) == [Action.PERSIST, Action.DOWNLOAD]
    assert after.download_done(True, now=7.0) == [Action.PERSIST, Action.INSTALL]


def test_an_interrupted_download_starts_again():
    core = UpdateCore()
    core.request_install("r", URL, "/x", "A", now=0.0)
    after = _persisted(core)
    assert after.booted("A", marked_good=True) == [Action.DOWNLOAD]
    assert after.request.history == ["Downloading"]


def test_signed_request_verifies_then_installs_or_fails():
    opts = Options(signature="c2ln", signing_certificate="PEM")
    core = UpdateCore()
    core.request_install("r", URL, "/x", "A", opts, now=0.0)
    assert core.download_done(True, now=1.0) == [Action.PERSIST, Action.VERIFY]
    after = _persisted(core)                      # a restart before the check: check again
    assert after.booted("A", marked_good=True) == [Action.VERIFY]
    assert core.signature_checked(True, now=2.0) == [Action.PERSIST, Action.INSTALL]
    assert core.request.history == ["Downloading", "Downloaded", "SignatureVerified", "Installing"]
    bad = UpdateCore()
    bad.request_install("r", URL, "/x", "A", opts, now=0.0)
    bad.download_done(True, now=1.0)
    assert bad.signature_checked(False, "does not verify", now=2.0) == [Action.PERSIST]
    assert bad.status == Status.INVALID_SIGNATURE and not bad.busy()
    assert bad.signature_checked(True) == []      # late results change nothing


def test_install_waits_for_the_install_time_and_the_sessions():
    core = UpdateCore()
    core.request_install("r", URL, "/x", "A", Options(install_at=500.0), now=0.0)
    assert core.download_done(True, now=10.0) == [Action.PERSIST]
    assert core.status == Status.INSTALL_SCHEDULED and core.next_deadline() == 500.0
    assert core.tick(499.0) == []
    assert core.sessions_changed(False, now=499.5) == []
    core.sessions_changed(True, now=499.8)
    assert core.tick(500.0) == []                 # due, but a session is active
    assert core.sessions_changed(False, now=501.0) == [Action.PERSIST, Action.INSTALL]
    assert core.request.history == ["Downloading", "Downloaded", "InstallScheduled", "Installing"]


def test_cancel_before_installing_only():
    core = UpdateCore()
    core.request_install("r1", URL, "/x", "A", now=0.0)
    with pytest.raises(NotCancellable):
        core.cancel("other")
    assert core.cancel("r1") == [Action.PERSIST, Action.STOP_DOWNLOAD]
    assert core.status == Status.CANCELED and not core.busy()
    assert core.download_done(True) == []         # the stopped download's late result
    core.request_install("r2", URL, "/x", "A", Options(retrieve_at=100.0), now=0.0)
    assert core.cancel("r2") == [Action.PERSIST]
    core.request_install("r3", "/b", "/x", "A", now=0.0)
    assert core.status == Status.INSTALLING
    with pytest.raises(NotCancellable):
        core.cancel("r3")


def test_negative_retries_refused():
    with pytest.raises(ValueError):
        UpdateCore().request_install("r", URL, "/x", "A", Options(retries=-1))


# ---- the signature over the file (cryptography only here) ----------------------------------------

def _signer(kind):
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fw signer")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(data: bytes) -> str:
        sig = key.sign(data, ec.ECDSA(hashes.SHA256())) if kind == "ec" else \
            key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(sig).decode()
    return pem, sign


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_signature_over_the_file(tmp_path, kind):
    pem, sign = _signer(kind)
    other_pem, _ = _signer(kind)
    f = tmp_path / "b.raucb"
    f.write_bytes(b"bundle" * 300_000)      # more than one hashing chunk
    sig = sign(f.read_bytes())
    verify_file(str(f), sig, pem)
    with pytest.raises(SignatureError):
        verify_file(str(f), sig, other_pem)                 # someone else's certificate
    with pytest.raises(SignatureError):
        verify_file(str(f), sign(b"another file"), pem)     # a real signature of something else
    f.write_bytes(b"bundle" * 300_000 + b"!")
    with pytest.raises(SignatureError):
        verify_file(str(f), sig, pem)                       # the file changed


def test_signature_inputs_are_checked_early():
    with pytest.raises(SignatureError):
        check_inputs("not base64 !!", "-----BEGIN CERTIFICATE-----")
    with pytest.raises(SignatureError):
        check_inputs("c2ln", "not a certificate")
    check_inputs("c2ln", "-----BEGIN CERTIFICATE-----\n...")
