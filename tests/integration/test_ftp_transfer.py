"""common/ftp.py against a real FTP / explicit-FTPS server (pyftpdlib, ftp_helpers.py) on a free
port: what each failure looks like to the uploader (ftpurl.upload_status on the real replies),
downloads, and a download stopped by its caller."""

from __future__ import annotations

import io
import ssl
import threading

import pytest
from evcharge.common import ftp, ftpurl
from evcharge.sim.pki import Authority

from .ftp_helpers import FtpServer


def status_of(url: str, context: ssl.SSLContext | None = None) -> str:
    try:
        ftp.upload(ftpurl.parse(url).with_filename("x.log"), b"x", timeout_s=30, context=context)
    except ftp.FtpFailure as e:
        return ftpurl.upload_status(e.step, e.reply)
    return "Uploaded"


@pytest.fixture
def pki(tmp_path):
    ca = Authority.create("evcharge test FTP CA")
    return ca, ca.issue("127.0.0.1", server=True).write(tmp_path, "server")


def test_upload_statuses_from_real_replies(tmp_path, pki):
    ca, cert = pki
    plain = FtpServer(tmp_path / "plain")
    tls = FtpServer(tmp_path / "tls", cert=cert)
    trusted = ssl.create_default_context(cadata=ca.cert_pem)
    try:
        assert status_of(plain.url("")) == "Uploaded" and plain.files() == {"x.log": b"x"}
        assert status_of(plain.url("", password="wrong")) == "PermissionDenied"           # 530
        assert status_of(plain.url("missing/")) == "UploadFailure"                         # 550 to CWD
        assert status_of(plain.url("ftps-only/").replace("ftp://", "ftps://", 1), trusted) == \
            "NotSupportedOperation"                                                         # AUTH: 500
        assert status_of(tls.url(""), trusted) == "Uploaded" and tls.files() == {"x.log": b"x"}
        assert status_of(tls.url(""), ssl.create_default_context()) == "UploadFailure"     # not trusted
        assert status_of(tls.url("").replace("ftps://", "ftp://", 1)) == "UploadFailure"   # TLS required
        closed = FtpServer(tmp_path / "closed")
        closed.close()
        assert status_of(closed.url("")) == "UploadFailure"                                # refused
    finally:
        plain.close()
        tls.close()


def test_download_and_a_stopped_download(tmp_path, pki):
    ca, cert = pki
    server = FtpServer(tmp_path / "home", cert=cert)
    try:
        data = bytes(range(256)) * 4096   # 1 MiB: many blocks
        (server.home / "fw").mkdir()
        (server.home / "fw" / "b.raucb").write_bytes(data)
        loc = ftpurl.parse(server.url("fw/b.raucb"))
        context = ssl.create_default_context(cadata=ca.cert_pem)
        out = io.BytesIO()
        assert ftp.download(loc, out, timeout_s=30, context=context) == len(data) and out.getvalue() == data
        stop = threading.Event()
        stop.set()
        with pytest.raises(InterruptedError):
            ftp.download(loc, io.BytesIO(), timeout_s=30, context=context, stop=stop)
        with pytest.raises(ftp.FtpFailure) as e:
            ftp.download(ftpurl.parse(server.url("fw/none.raucb")), io.BytesIO(), timeout_s=30, context=context)
        assert e.value.step == ftpurl.TRANSFER and e.value.reply.startswith("550")
        # the server is still usable after the stopped transfer
        assert ftp.download(loc, io.BytesIO(), timeout_s=30, context=context) == len(data)
    finally:
        server.close()
