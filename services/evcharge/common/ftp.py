"""FTP / explicit-FTPS transfers with the standard library's ftplib (blocking: run in a thread).

The location is a parsed `ftpurl.FtpLocation`. Passive mode always (OCPP 1.6 section 8 and the
security whitepaper ask for it: the station is usually behind NAT); ftplib takes the data
connection's address from the control connection, not from the PASV reply. ftps: AUTH TLS before
the login and PROT P after it, the server certificate checked with `context` (the same default
context the https paths use: the system's CA store, or SSL_CERT_FILE / SSL_CERT_DIR).

Every failure is an FtpFailure naming the step and, when there was one, the server's reply, so
`ftpurl.upload_status` can map it. `timeout_s` bounds each socket operation (connect, every
reply, every data block), not the whole transfer.
"""

from __future__ import annotations

import ftplib
import io
import ssl
import threading
from collections.abc import Callable
from typing import BinaryIO

from .ftpurl import CONNECT, CWD, LOGIN, TLS, TRANSFER, FtpLocation

BLOCK = 1 << 16


class FtpFailure(Exception):
    """A transfer that failed at `step`; `reply` is the server's reply (None: no FTP reply, e.g.
    a refused connection, a timeout or a TLS error)."""

    def __init__(self, step: str, reply: str | None, detail: str) -> None:
        super().__init__(f"FTP {step} failed: {detail}")
        self.step = step
        self.reply = reply


def _step(step: str, action: Callable[[], object]) -> object:
    try:
        return action()
    except InterruptedError:
        raise                     # a stop requested by the caller, not a failure of the server
    except ftplib.Error as e:     # error_reply / error_temp / error_perm / error_proto: the reply text
        text = str(e).strip()
        raise FtpFailure(step, text, text) from e
    except (OSError, EOFError) as e:   # socket, timeout, TLS (ssl.SSLError is an OSError), closed
        raise FtpFailure(step, None, str(e) or type(e).__name__) from e


def _open(loc: FtpLocation, timeout_s: float, context: ssl.SSLContext | None) -> ftplib.FTP:
    if loc.secure:
        ftp: ftplib.FTP = ftplib.FTP_TLS(context=context or ssl.create_default_context(), timeout=timeout_s)
    else:
        ftp = ftplib.FTP(timeout=timeout_s)
    try:
        _step(CONNECT, lambda: ftp.connect(loc.host, loc.port))
        if isinstance(ftp, ftplib.FTP_TLS):
            tls = ftp
            _step(TLS, tls.auth)
            _step(LOGIN, lambda: ftp.login(loc.user, loc.password))
            _step(TLS, tls.prot_p)
        else:
            _step(LOGIN, lambda: ftp.login(loc.user, loc.password))
        ftp.set_pasv(True)
        for directory in loc.directories:
            _step(CWD, lambda d=directory: ftp.cwd(d))
    except BaseException:
        ftp.close()
        raise
    return ftp


def _quit(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except (ftplib.Error, OSError, EOFError):
        pass   # the transfer is complete; a server that drops QUIT changes nothing
    finally:
        ftp.close()


def upload(loc: FtpLocation, body: bytes, *, timeout_s: float, context: ssl.SSLContext | None = None) -> str:
    """STOR `body` as the location's file (binary); the server's final reply. FtpFailure."""
    if loc.is_directory:
        raise ValueError("an upload needs a file name: the location is a directory")
    ftp = _open(loc, timeout_s, context)
    try:
        reply = _step(TRANSFER, lambda: ftp.storbinary(f"STOR {loc.filename}", io.BytesIO(body), BLOCK))
    except BaseException:
        ftp.close()
        raise
    _quit(ftp)
    return str(reply)


def download(loc: FtpLocation, out: BinaryIO, *, timeout_s: float, context: ssl.SSLContext | None = None,
             stop: threading.Event | None = None) -> int:
    """RETR the location's file into `out` (binary); the bytes written. FtpFailure; InterruptedError
    as soon as `stop` is set (checked at every block)."""
    if loc.is_directory:
        raise ValueError("the location is a directory, not a file")
    written = 0

    def block(data: bytes) -> None:
        nonlocal written
        if stop is not None and stop.is_set():
            raise InterruptedError("download cancelled")
        out.write(data)
        written += len(data)

    ftp = _open(loc, timeout_s, context)
    try:
        _step(TRANSFER, lambda: ftp.retrbinary(f"RETR {loc.filename}", block, BLOCK))
    except BaseException:
        ftp.close()   # the server may still be sending: the connection goes, not a half-read reply
        raise
    _quit(ftp)
    return written
