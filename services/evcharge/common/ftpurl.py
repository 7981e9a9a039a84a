"""FTP / FTPS locations as OCPP central systems send them (pure: no I/O).

OCPP 1.6 section 8 gives the format `ftp://user:password@host:port/path`, where `user:password@`,
`:password` and `:port` may be left out. The path is read as RFC 1738 says: relative to the
directory the login lands in, one CWD per directory segment, then the file name; segments are
percent-decoded, so a first segment `%2F` reaches the root (`ftp://host/%2Fvar/log/` changes to
/var, then log). A path that ends in `/` (or no path) names a directory: the caller supplies the
file name (GetDiagnostics, GetLog into a directory).

`ftps://` is explicit FTPS (RFC 4217: AUTH TLS on the control connection, then PROT P so the data
connection is encrypted too), default port 21. Implicit FTPS (TLS from the first byte, port 990)
is not supported. SFTP is a different protocol (SSH) and is not an FTP location.

What an FTP reply code means for an upload is `upload_status`: the OCPP UploadLogStatusEnumType
value (2.0.1 and the 1.6 security extension) a failed attempt is reported with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

SCHEMES = ("ftp", "ftps")
DEFAULT_PORT = 21
ANONYMOUS = "anonymous"
ANONYMOUS_PASSWORD = "anonymous@"

# The steps of a transfer, named in FtpFailure so the reply code can be read in context: 550 to
# CWD is a missing directory, 550 to STOR a directory the user may not write into.
CONNECT, TLS, LOGIN, CWD, TRANSFER = "connect", "tls", "login", "cwd", "transfer"


@dataclass(frozen=True)
class FtpLocation:
    secure: bool                       # ftps: explicit FTPS
    host: str
    port: int
    user: str
    password: str
    directories: tuple[str, ...]       # CWD arguments, in order (decoded)
    filename: str                      # "" when the location names a directory

    @property
    def is_directory(self) -> bool:
        return self.filename == ""

    def with_filename(self, name: str) -> FtpLocation:
        """This directory location with the file `name` in it (a file location stays as it is)."""
        if not self.is_directory:
            return self
        if not name or "/" in name:
            raise ValueError(f"not a file name: {name!r}")
        return replace(self, filename=name)

    def redacted(self) -> str:
        """The location for logs: never the password."""
        scheme = "ftps" if self.secure else "ftp"
        path = "/".join((*self.directories, self.filename))
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{self.user}@{host}:{self.port}/{path}"


def is_ftp(url: str) -> bool:
    """Whether `url` is an ftp:// or ftps:// URL (scheme case-insensitive, as RFC 3986 says)."""
    head, sep, _ = url.partition("://")
    return bool(sep) and head.lower() in SCHEMES


def parse(url: str) -> FtpLocation:
    """An ftp:// or ftps:// URL as an FtpLocation; ValueError saying what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"not a valid URL: {e}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError(f"not an ftp:// or ftps:// URL: {parts.scheme or 'no'} scheme")
    if not parts.hostname:
        raise ValueError("the FTP URL has no host")
    if parts.query or parts.fragment:
        raise ValueError("an FTP URL has no query or fragment")
    path = parts.path
    typecode = path.rfind(";type=")
    if typecode >= 0:   # RFC 1738 ;type=a|i|d: transfers here are always binary
        path = path[:typecode]
    segments = [unquote(s) for s in path.split("/")[1:]] if path else []
    for s in segments:
        if "\r" in s or "\n" in s:
            raise ValueError("a path segment of the FTP URL contains a line break")
    filename = segments.pop() if segments else ""
    directories = tuple(s for s in segments if s)
    user = unquote(parts.username) if parts.username is not None else ""
    password = unquote(parts.password) if parts.password is not None else ""
    for value in (user, password):
        if "\r" in value or "\n" in value:
            raise ValueError("the FTP URL's user or password contains a line break")
    if not user:
        user, password = ANONYMOUS, password or ANONYMOUS_PASSWORD
    return FtpLocation(secure=parts.scheme.lower() == "ftps", host=parts.hostname, port=port or DEFAULT_PORT,
                       user=user, password=password, directories=directories, filename=filename)


def redact(url: str) -> str:
    """Any URL for a log line: without the user and password of its userinfo."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def reply_code(reply: str) -> int | None:
    """The three-digit code an FTP reply starts with (None: not an FTP reply)."""
    head = reply.strip()[:3]
    return int(head) if len(head) == 3 and head.isdigit() else None


def upload_status(step: str, reply: str | None) -> str:
    """The UploadLogStatusEnumType a failed upload attempt is reported with: the FTP `reply` (its
    text, None when the failure was not an FTP reply: a refused connection, a timeout, a TLS or
    certificate error) to the `step` that failed.

    - 530 not logged in, 532 need an account to store, and 550 / 553 to STOR (no write permission,
      file name not allowed): PermissionDenied.
    - 502 / 504 command not implemented, and any refusal of AUTH TLS / PROT P (the server has no
      FTPS): NotSupportedOperation.
    - 500 / 501 / 503 syntax error, bad sequence, and a reply that is not FTP: BadMessage.
    - everything else (4xx transient failures, a missing directory, 552 storage exceeded, network
      and TLS errors): UploadFailure.
    """
    if reply is None:
        return "UploadFailure"
    code = reply_code(reply)
    if code is None:
        return "BadMessage"
    if code in (530, 532) or (step == TRANSFER and code in (550, 553)):
        return "PermissionDenied"
    if code in (502, 504) or (step == TLS and code >= 500):
        return "NotSupportedOperation"
    if code in (500, 501, 503):
        return "BadMessage"
    return "UploadFailure"
