"""A real FTP / explicit-FTPS server (pyftpdlib) on 127.0.0.1 and a free port, for the GetLog,
GetDiagnostics and UpdateFirmware ftp:// tests. One user with a password (with characters that
must be percent-encoded in the URL) and a temporary home directory; its own IOLoop, so servers
of different tests never share one."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import quote

USER = "evcharge"
PASSWORD = "s3cret p@ss:/"


class FtpServer:
    def __init__(self, home: Path, *, cert: tuple[Path, Path] | None = None) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
        from pyftpdlib.ioloop import IOLoop
        from pyftpdlib.servers import FTPServer

        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(home), perm="elradfmwMT")
        base = TLS_FTPHandler if cert else FTPHandler
        handler = type("Handler", (base,), {"authorizer": authorizer, "auth_failed_timeout": 0.0})
        if cert:
            handler.certfile, handler.keyfile = str(cert[0]), str(cert[1])
            handler.tls_control_required = True   # no login, no transfer in the clear
            handler.tls_data_required = True
        self.scheme = "ftps" if cert else "ftp"
        self.server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
        self.port = self.server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        # One poll at a time, so the server is closed in its own thread (pyftpdlib is not thread-safe).
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self.server.close_all()

    def url(self, path: str = "", *, password: str = PASSWORD) -> str:
        return f"{self.scheme}://{quote(USER, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{path}"

    def files(self, directory: str = "") -> dict[str, bytes]:
        """The files in `directory` of the home, by name."""
        return {p.name: p.read_bytes() for p in sorted((self.home / directory).iterdir()) if p.is_file()}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
