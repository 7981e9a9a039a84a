"""Firmware-update test helpers shared by the 2.0.1 and 1.6J integration tests: a firmware
image, a manufacturer root with a signing certificate, an HTTP file server for the bundle, and
the simulated reboot into the written slot. Their fixtures (`signer`, `files`, `rauc`) are in
conftest.py."""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from datetime import UTC, datetime, timedelta

from evcharge.sil.supervisor import ServiceSpec

FIRMWARE = b"evcharge firmware bundle " * 4000


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago() -> str:
    return iso(datetime.now(UTC) - timedelta(hours=2))


def in_seconds(s: float) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=s))


class Signer:
    """A manufacturer root and a firmware signing certificate issued by it."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from evcharge.sim.pki import Authority
        self.root = Authority.create("evcharge manufacturer root")
        self.leaf = self.root.issue("evcharge firmware signing")
        self._sign = lambda data: self.leaf.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def signature(self, data: bytes = FIRMWARE) -> str:
        return base64.b64encode(self._sign(data)).decode()


class Files:
    """HTTP file server: /fw.raucb, and /slow.raucb which sends part of the file and waits until
    `release` is set (a download caught while Downloading)."""

    def __init__(self, root) -> None:
        (root / "www").mkdir()
        (root / "www" / "fw.raucb").write_bytes(FIRMWARE)
        self.release = threading.Event()
        self.gets: list[str] = []
        files = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                files.gets.append(self.path)
                if self.path != "/slow.raucb":
                    return super().do_GET()
                self.send_response(200)
                self.send_header("Content-Length", str(len(FIRMWARE)))
                self.end_headers()
                self.wfile.write(FIRMWARE[:1000])
                self.wfile.flush()
                files.release.wait(60)
                try:
                    self.wfile.write(FIRMWARE[1000:])
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        handler = functools.partial(Handler, directory=str(root / "www"))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()


async def reboot_into_new_slot(stack, rauc) -> None:
    """What the reboot does to the services: both start again, RAUC booted the written slot."""
    await stack.sup.stop("ocpp")
    await stack.sup.stop("update")
    rauc.boot_slot = rauc.primary
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    await stack.sup.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]), timeout_s=60)
