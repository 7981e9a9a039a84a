"""GetLog (OCPP 2.0.1 N01): collect a log file and upload it over HTTP(S), reporting each step
with LogStatusNotification.

What is uploaded: the ocpp service's own recent log records (a ring buffer of `RING_SIZE`
records of every `evcharge.*` logger in this process, kept from the start of the service),
between oldestTimestamp and latestTimestamp; SecurityLog takes only the security-relevant ones
(loggers named `*.security*`, and warnings/errors of the connection). The journal of the other
services is not included: the ocpp unit may not read it (docs/security.md).

Upload: one HTTP PUT of the text file to an http(s) remoteLocation, or one STOR to an ftp(s)
one (common/ftp.py: passive mode, user and password from the URL or anonymous, explicit FTPS with
the certificate checked like https). A location that ends in "/" is a directory the file goes into
under the station's name; any other names the file itself (the answer's filename is then its last
path segment). 2xx / a completed STOR is Uploaded. A failed attempt is reported as UploadFailure
(FTP: PermissionDenied, NotSupportedOperation or BadMessage where the server's reply says so,
common/ftpurl.py upload_status) and retried `retries` times, `retryInterval` seconds apart. A
second GetLog while one is running cancels it (AcceptedCanceled, N01.FR.12). Other schemes
(sftp, file, ...): Rejected.

OCPP 1.6J uses the same uploader (`make` builds its 1.6 requests) with a job's `report`:
the security extension's GetLog reports LogStatusNotification with its requestId (1.6 has no
AcceptedCanceled status: a cancelled upload just ends), the core GetDiagnostics reports
DiagnosticsStatusNotification (Uploading, Uploaded, UploadFailed; no requestId) and uploads
into the directory its location names.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from ..common import ftpurl
from .adapter import make_call

if TYPE_CHECKING:
    from .service import OcppService

log = logging.getLogger("evcharge.ocpp.logs")

# How a job's statuses are reported
V201 = "2.0.1"              # LogStatusNotification with requestId
LOG16 = "1.6-log"           # 1.6 security extension LogStatusNotification (no AcceptedCanceled)
DIAGNOSTICS16 = "1.6-diagnostics"   # 1.6 core DiagnosticsStatusNotification
# 1.6 core has one failure status for all of 2.0.1's
DIAGNOSTICS_STATUSES = {"Uploading": "Uploading", "Uploaded": "Uploaded", "UploadFailure": "UploadFailed",
                        "PermissionDenied": "UploadFailed", "BadMessage": "UploadFailed",
                        "NotSupportedOperation": "UploadFailed", "Idle": "Idle"}
HTTP_PREFIXES = ("http://", "https://")

RING_SIZE = 5000
UPLOAD_TIMEOUT_S = 30.0
MAX_RETRY_INTERVAL_S = 3600


class RingHandler(logging.Handler):
    """The last RING_SIZE log records, formatted, with their time (UTC)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: collections.deque[tuple[datetime, str, bool]] = collections.deque(maxlen=RING_SIZE)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            security = ".security" in record.name or (record.name == "evcharge.ocpp" and record.levelno >= logging.WARNING)
            self.records.append((datetime.fromtimestamp(record.created, UTC), self.format(record), security))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)

    def text(self, log_type: str, oldest: datetime | None, latest: datetime | None) -> str:
        lines = [f"# evcharge ocpp {log_type} generated {datetime.now(UTC).isoformat(timespec='seconds')}"]
        for at, line, security in list(self.records):
            if log_type == "SecurityLog" and not security:
                continue
            if (oldest and at < oldest) or (latest and at > latest):
                continue
            lines.append(f"{at.isoformat(timespec='milliseconds')} {line}")
        return "\n".join(lines) + "\n"


_process_ring: RingHandler | None = None


def process_ring() -> RingHandler:
    """The process's in-memory log, shared by every uploader in it: the log is the process's, and a
    handler per station (a fleet benchmark runs a thousand in one process) would format and keep
    every record once per station."""
    global _process_ring
    if _process_ring is None:
        _process_ring = RingHandler()
        logging.getLogger("evcharge").addHandler(_process_ring)
    return _process_ring


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def put(url: str, body: bytes, timeout: float) -> int:
    """Blocking HTTP(S) PUT; the status code (raises OSError / HTTPError on failure)."""
    req = urllib.request.Request(url, data=body, method="PUT",
                                 headers={"Content-Type": "text/plain; charset=utf-8"})
    ctx = ssl.create_default_context() if url.startswith("https://") else None
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310 - scheme checked
        return int(resp.status)


def upload_once(url: str, body: bytes, timeout: float) -> tuple[str, str]:
    """One blocking upload attempt of `body` to `url` (http(s) or ftp(s), the file name in it):
    ("Uploaded", detail) or (the failure's UploadLogStatusEnumType value, why)."""
    if ftpurl.is_ftp(url):
        from ..common import ftp  # ftplib only when an FTP location is used
        try:
            loc = ftpurl.parse(url)
        except ValueError as e:
            return "UploadFailure", str(e)
        try:
            reply = ftp.upload(loc, body, timeout_s=timeout, context=ssl.create_default_context())
        except ftp.FtpFailure as e:
            return ftpurl.upload_status(e.step, e.reply), f"{loc.redacted()}: {e}"
        return "Uploaded", reply
    try:
        code = put(url, body, timeout)
    except (OSError, ValueError) as e:  # urllib.error.URLError/HTTPError are OSErrors
        return "UploadFailure", str(e)
    return ("Uploaded" if 200 <= code < 300 else "UploadFailure"), f"HTTP {code}"


def location(url: str, generated: str) -> tuple[str, str] | None:
    """(the URL the file goes to, its file name) for a remoteLocation: a directory (ending in "/")
    gets the `generated` name, any other URL names the file itself. None: not a location this
    station uploads to (not http, https, ftp or ftps, or an FTP URL that does not parse)."""
    if ftpurl.is_ftp(url):
        try:
            loc = ftpurl.parse(url)
        except ValueError:
            return None
        if not loc.is_directory:
            return url, loc.filename
        return url + ("" if url.endswith("/") else "/") + quote(generated, safe=""), generated
    if not url.startswith(HTTP_PREFIXES):
        return None
    if url.endswith("/"):
        return url + generated, generated
    return url, unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or generated


def notification(report: str, status: str, request_id: int | None) -> tuple[str, dict[str, Any]] | None:
    """(action, payload) reporting `status` (a 2.0.1 UploadLogStatusEnumType value) of a job
    reported as `report`; None when that protocol has no such status."""
    if report == DIAGNOSTICS16:
        core = DIAGNOSTICS_STATUSES.get(status)
        return ("DiagnosticsStatusNotification", {"status": core}) if core else None
    if report == LOG16 and status == "AcceptedCanceled":
        return None
    payload: dict[str, Any] = {"status": status}
    if request_id is not None:
        payload["requestId"] = request_id
    return "LogStatusNotification", payload


class LogUploader:
    def __init__(self, station: OcppService, make: Callable[[str, dict[str, Any]], Any] = make_call) -> None:
        self.station = station
        self.make = make
        self.report = V201   # how the job in progress is reported
        self.ring = process_ring()
        self.pending: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.current_request: int | None = None
        # False from the moment the final status is being sent: a trigger answered after it says Idle
        self.active = False
        self._finishing: set[asyncio.Task[None]] = set()

    def request(self, log_data: dict[str, Any], log_type: str, request_id: int, retries: int | None,
                retry_interval: int | None, report: str = V201) -> tuple[str, str | None]:
        url = str(log_data.get("remoteLocation", ""))
        if report == DIAGNOSTICS16 and not url.endswith("/"):
            url += "/"   # 1.6 6.21: the location is the directory the file goes into
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = location(url, f"{self.station.cfg.station_id}-{log_type}-{stamp}-{request_id}.log")
        if target is None:
            log.info("GetLog %d: unsupported location %s", request_id, ftpurl.redact(url))
            return "Rejected", None
        try:
            oldest, latest = _time(log_data.get("oldestTimestamp")), _time(log_data.get("latestTimestamp"))
        except ValueError:
            return "Rejected", None
        target_url, filename = target
        status = "AcceptedCanceled" if self._running() else "Accepted"
        self.pending = {"url": target_url, "filename": filename,
                        "log_type": log_type, "request_id": request_id, "oldest": oldest, "latest": latest,
                        "report": report,
                        "retries": max(0, retries or 0),
                        "interval": min(MAX_RETRY_INTERVAL_S, max(0, retry_interval or 0))}
        return status, filename

    def start_pending(self) -> None:
        job, self.pending = self.pending, None
        if job is None:
            return
        canceled = None
        previous = self.task
        if previous is not None and self._running():
            log.info("GetLog %s: canceled by request %d", self.current_request, job["request_id"])
            previous.cancel()
            canceled = self.current_request
        elif previous is not None and not previous.done():
            # Only sending its final status (Uploaded / UploadFailure): the upload is over, that
            # CALL completes, and the new request is not reported as cancelling it. The event loop
            # keeps only weak references to tasks, so this one is held until it ends.
            self._finishing.add(previous)
            previous.add_done_callback(self._finishing.discard)
        canceled_report, self.report = self.report, job["report"]
        self.current_request = job["request_id"]
        self.active = True
        self.task = asyncio.create_task(self._run(job, canceled, canceled_report))

    def _running(self) -> bool:
        return self.active and self.task is not None and not self.task.done()

    def uploading(self) -> int | None:
        """The requestId of the upload in progress, None when idle."""
        return self.current_request if self._running() else None

    async def notify_current(self, report: str = V201) -> None:
        """TriggerMessage(LogStatusNotification), F06.FR.14/15: Uploading while an upload runs, else
        Idle (1.6: LogStatusNotification or DiagnosticsStatusNotification after `report`; the
        requestId only when the upload in progress was a GetLog)."""
        rid = self.uploading()
        if rid is not None and self.report == DIAGNOSTICS16:
            rid = None
        await self._notify("Idle" if self.uploading() is None else "Uploading", rid, report)

    async def _notify(self, status: str, request_id: int | None, report: str = V201) -> None:
        link = self.station.link
        found = notification(report, status, request_id)
        if link is None or not self.station.online or found is None:
            return
        action, payload = found
        try:
            await link.call(self.make(action, payload), suppress=False)
        except Exception as e:  # noqa: BLE001 - a lost notification must not stop the upload
            log.info("%s %s failed: %s", action, status, e)

    async def _run(self, job: dict[str, Any], canceled: int | None = None, canceled_report: str = V201) -> None:
        rid = job["request_id"]
        report = job["report"]
        if canceled is not None:  # N01.FR.12 / TC_N_36: the first request's end is reported
            await self._notify("AcceptedCanceled", canceled, canceled_report)
        body = self.ring.text(job["log_type"], job["oldest"], job["latest"]).encode()
        attempts = 1 + job["retries"]
        for attempt in range(1, attempts + 1):
            await self._notify("Uploading", rid, report)
            outcome, detail = await asyncio.to_thread(upload_once, job["url"], body, UPLOAD_TIMEOUT_S)
            if outcome == "Uploaded":
                log.info("GetLog %d: %s uploaded (%d bytes, %s)", rid, job["filename"], len(body), detail)
                self.active = False
                await self._notify("Uploaded", rid, report)
                return
            error = f"{outcome}: {detail}"
            log.warning("GetLog %d: upload attempt %d/%d failed: %s", rid, attempt, attempts, error)
            if attempt == attempts:
                self.active = False
            await self._notify(outcome, rid, report)
            if attempt < attempts:
                await asyncio.sleep(job["interval"])

