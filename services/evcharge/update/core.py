"""Firmware update decisions, free of I/O: fed requests, charging-session changes, RAUC results
and the slot booted after the reboot; returns the actions the adapter performs.

A request's life (OCPP firmware statuses, 1.6 security extension / 2.0.1):

    [DownloadScheduled]                                      until its retrieve time (remote only)
    [Downloading -> Downloaded | DownloadFailed]            only for a remote location (http,
                                                             https, ftp, ftps); a failed
                                                             attempt is retried `retries` times,
                                                             `retry_interval_s` apart, still Downloading
    [SignatureVerified | InvalidSignature]                   when the request carries a signature
                                                             (OCPP L01: over the file, by the signing
                                                             certificate the OCPP service checked)
    InstallScheduled                                         while a charging session is active or
                                                             until its install time
    Installing -> InstallRebooting                           RAUC wrote the other slot
      ... reboot; GRUB tries the new slot; health check; mark-good ...
    Installed                                                booted the slot RAUC installed
    InstallationFailed                                       fell back (health check failed)
    InvalidSignature | InstallVerificationFailed | InstallationFailed   RAUC refused or failed

The request is persisted (on the data partition, which survives the slot switch) before the
reboot, and the final status is decided only after the new boot was marked good, so a fleet
server counts healthy boots, not writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

# Locations downloaded to the local bundle first; anything else is a local path.
REMOTE_SCHEMES = ("http", "https", "ftp", "ftps")


def is_remote(location: str) -> bool:
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in REMOTE_SCHEMES


class Status(str, Enum):
    IDLE = "Idle"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"
    INVALID_SIGNATURE = "InvalidSignature"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"
    CANCELED = "Canceled"        # replaced by a newer request before it was installed (not OCPP)


FINAL = {Status.IDLE, Status.DOWNLOAD_FAILED, Status.INSTALLED, Status.INSTALLATION_FAILED,
         Status.INVALID_SIGNATURE, Status.INSTALL_VERIFICATION_FAILED, Status.CANCELED}
# Before Installing nothing was written to a slot: the request can still be dropped.
CANCELLABLE = {Status.DOWNLOAD_SCHEDULED, Status.DOWNLOADING, Status.DOWNLOADED, Status.SIGNATURE_VERIFIED,
               Status.INSTALL_SCHEDULED}


class Action(str, Enum):
    DOWNLOAD = "download"        # fetch request.location to the local bundle file
    STOP_DOWNLOAD = "stop-download"  # abandon a running download (the request was cancelled)
    VERIFY = "verify"            # check request.signature over the bundle (signature_checked)
    INSTALL = "install"          # RAUC InstallBundle(request.bundle)
    REBOOT = "reboot"            # the request is persisted; reboot into the new slot
    MAKE_BOOTED_PRIMARY = "make-booted-primary"  # RAUC Mark("active", "booted") after a fallback
    PERSIST = "persist"          # write the request (to_json) durably


class Busy(Exception):
    """An update is already in progress (not in a final status)."""


class NotCancellable(Exception):
    """The request is installing (or over): it cannot be cancelled."""


@dataclass
class Options:
    """What an OCPP UpdateFirmware adds to a location (all optional)."""
    retrieve_at: float = 0.0         # wall-clock s: do not download before (0: at once)
    install_at: float = 0.0          # wall-clock s: do not install before (0: at once)
    retries: int = 0                 # further download attempts after a failed one
    retry_interval_s: float = 0.0
    signature: str = ""              # base64, over the bundle file (SHA-256)
    signing_certificate: str = ""    # PEM; checked against the manufacturer roots by the caller
    origin: str = ""                 # who asked (e.g. "ocpp:<requestId>"), to find it again after a crash


# RAUC's LastError texts (1.8 .. 1.15) for the refusals a charger must tell apart. A signature
# that does not verify (unsigned bundle, untrusted signer, expired or wrong-purpose certificate)
# is InvalidSignature. A verity bundle whose payload was changed passes the signature (it covers
# the manifest and the verity root hash) and fails when read through dm-verity: that and a
# bundle for another device (compatible) are InstallVerificationFailed: the firmware is not one
# this charger may install. Anything else (write errors, no slot) is InstallationFailed.
_SIGNATURE = ("signature", "signed", "signer", "certificate", "cms", "verify error", "pkcs7",
              "unable to get local issuer")
_VERIFICATION = ("compatible", "verity", "hash", "squashfs", "mount", "input/output error", "i/o error",
                 "checksum", "corrupt", "bad magic", "invalid bundle", "manifest", "format")


def classify_rauc_error(message: str) -> Status:
    text = message.lower()
    if any(k in text for k in _SIGNATURE):
        return Status.INVALID_SIGNATURE
    if any(k in text for k in _VERIFICATION):
        return Status.INSTALL_VERIFICATION_FAILED
    return Status.INSTALLATION_FAILED


def other_slot(booted: str) -> str:
    return {"A": "B", "B": "A"}.get(booted, "")


@dataclass
class Request:
    id: str
    location: str
    bundle: str                      # the local file RAUC installs
    status: Status = Status.IDLE
    booted_before: str = ""          # bootname when the request came
    target_slot: str = ""            # bootname RAUC wrote (the other slot)
    error: str = ""
    history: list[str] = field(default_factory=list)
    retrieve_at: float = 0.0
    install_at: float = 0.0
    retries: int = 0
    retry_interval_s: float = 0.0
    signature: str = ""
    signing_certificate: str = ""
    failed_attempts: int = 0         # failed downloads so far
    next_attempt_at: float = 0.0     # a retry waits until then (0: no retry pending)
    origin: str = ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    @classmethod
    def from_json(cls, d: dict) -> Request:
        d = dict(d)
        d["status"] = Status(d.get("status", "Idle"))
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


class UpdateCore:
    """One update at a time. Methods return the actions to perform, in order."""

    def __init__(self, request: Request | None = None) -> None:
        self.request = request
        self.sessions_active = False
        self.now = 0.0   # wall clock, as last fed

    def _time(self, now: float | None) -> None:
        if now is not None:
            self.now = now

    # ---- helpers --------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self.request.status if self.request else Status.IDLE

    def busy(self) -> bool:
        return self.request is not None and self.request.status not in FINAL

    def _set(self, status: Status, error: str = "") -> None:
        assert self.request is not None
        self.request.status = status
        self.request.error = error
        self.request.history.append(status.value)

    # ---- events -----------------------------------------------------------------------------------
    def request_install(self, req_id: str, location: str, local_bundle: str, booted: str,
                        options: Options | None = None, now: float | None = None) -> list[Action]:
        """A new request. location is a local path or a remote URL (REMOTE_SCHEMES: http, https,
        ftp, ftps), which is downloaded to local_bundle."""
        self._time(now)
        if self.busy():
            raise Busy(f"update {self.request.id} is {self.request.status.value}")
        o = options or Options()
        if o.retries < 0 or o.retry_interval_s < 0:
            raise ValueError("retries and retry_interval_s must not be negative")
        remote = is_remote(location)
        self.request = Request(id=req_id, location=location, bundle=local_bundle if remote else location,
                               booted_before=booted, target_slot=other_slot(booted),
                               retrieve_at=o.retrieve_at, install_at=o.install_at, retries=o.retries,
                               retry_interval_s=o.retry_interval_s, signature=o.signature,
                               signing_certificate=o.signing_certificate, origin=o.origin)
        if remote:
            if o.retrieve_at > self.now:
                self._set(Status.DOWNLOAD_SCHEDULED)
                return [Action.PERSIST]
            self._set(Status.DOWNLOADING)
            return [Action.PERSIST, Action.DOWNLOAD]
        return self._downloaded()

    def cancel(self, req_id: str) -> list[Action]:
        """Drop the request `req_id` (a newer one replaces it). Raises NotCancellable once it is
        installing or over."""
        req = self.request
        if req is None or req.id != req_id:
            raise NotCancellable(f"update {req_id} is not the current request")
        if req.status not in CANCELLABLE:
            raise NotCancellable(f"update {req_id} is {req.status.value}")
        downloading = req.status == Status.DOWNLOADING
        self._set(Status.CANCELED, "cancelled by a newer request")
        return [Action.PERSIST, Action.STOP_DOWNLOAD] if downloading else [Action.PERSIST]

    def download_done(self, ok: bool, error: str = "", now: float | None = None) -> list[Action]:
        self._time(now)
        req = self.request
        if req is None or req.status != Status.DOWNLOADING or req.next_attempt_at:
            return []
        if not ok:
            req.failed_attempts += 1
            if req.failed_attempts <= req.retries:
                # Still Downloading (OCPP has no status for a pause between attempts).
                req.error = error
                req.next_attempt_at = max(self.now + req.retry_interval_s, 1e-9)
                return [Action.PERSIST]
            self._set(Status.DOWNLOAD_FAILED, error)
            return [Action.PERSIST]
        self._set(Status.DOWNLOADED)
        return self._downloaded()

    def _downloaded(self) -> list[Action]:
        req = self.request
        if req.signature:
            return [Action.PERSIST, Action.VERIFY]
        return self._ready_to_install()

    def signature_checked(self, ok: bool, error: str = "", now: float | None = None) -> list[Action]:
        """The VERIFY result: the signature over the bundle, by the signing certificate's key."""
        self._time(now)
        req = self.request
        if req is None or req.status != Status.DOWNLOADED:
            return []
        if not ok:
            self._set(Status.INVALID_SIGNATURE, error)
            return [Action.PERSIST]
        self._set(Status.SIGNATURE_VERIFIED)
        return self._ready_to_install()

    def _ready_to_install(self) -> list[Action]:
        req = self.request
        if self.sessions_active or req.install_at > self.now:
            if req.status == Status.INSTALL_SCHEDULED:
                return []
            self._set(Status.INSTALL_SCHEDULED)
            return [Action.PERSIST]
        self._set(Status.INSTALLING)
        return [Action.PERSIST, Action.INSTALL]

    def sessions_changed(self, active: bool, now: float | None = None) -> list[Action]:
        """Whether any connector has a charging session (no install during a transaction)."""
        self._time(now)
        self.sessions_active = active
        if self.request is not None and self.request.status == Status.INSTALL_SCHEDULED:
            return self._ready_to_install()
        return []

    def tick(self, now: float) -> list[Action]:
        """Time passed: a scheduled download or retry, or a scheduled install, may be due."""
        self._time(now)
        req = self.request
        if req is None:
            return []
        if req.status == Status.DOWNLOAD_SCHEDULED and req.retrieve_at <= self.now:
            self._set(Status.DOWNLOADING)
            return [Action.PERSIST, Action.DOWNLOAD]
        if req.status == Status.DOWNLOADING and req.next_attempt_at and req.next_attempt_at <= self.now:
            req.next_attempt_at = 0.0
            return [Action.PERSIST, Action.DOWNLOAD]
        if req.status == Status.INSTALL_SCHEDULED:
            return self._ready_to_install()
        return []

    def next_deadline(self) -> float | None:
        """The wall-clock instant the adapter should tick at next (None: nothing timed)."""
        req = self.request
        if req is None:
            return None
        if req.status == Status.DOWNLOAD_SCHEDULED:
            return req.retrieve_at
        if req.status == Status.DOWNLOADING and req.next_attempt_at:
            return req.next_attempt_at
        if req.status == Status.INSTALL_SCHEDULED and req.install_at > self.now:
            return req.install_at
        return None

    def install_completed(self, result: int, last_error: str) -> list[Action]:
        """RAUC's Completed signal: 0 = the other slot was written and made primary."""
        if self.request is None or self.request.status != Status.INSTALLING:
            return []
        if result == 0:
            self._set(Status.INSTALL_REBOOTING)
            return [Action.PERSIST, Action.REBOOT]
        self._set(classify_rauc_error(last_error), last_error)
        return [Action.PERSIST]

    def booted(self, booted_slot: str, marked_good: bool) -> list[Action]:
        """After start-up (ordered after mark-good): decide a request that was rebooting.
        A request interrupted while installing (power cut) failed: RAUC leaves the old slot
        primary until the write completes, so the booted slot is the old one."""
        req = self.request
        if req is None or req.status in FINAL:
            return []
        if req.status == Status.INSTALL_REBOOTING:
            if booted_slot == req.target_slot and marked_good:
                self._set(Status.INSTALLED)
                return [Action.PERSIST]
            self._set(Status.INSTALLATION_FAILED,
                      f"booted slot {booted_slot}, not the installed slot {req.target_slot}: fell back")
            return [Action.PERSIST, Action.MAKE_BOOTED_PRIMARY]
        if req.status in (Status.INSTALL_SCHEDULED, Status.DOWNLOAD_SCHEDULED):
            return []  # the adapter reports the sessions and the time next (sessions_changed, tick)
        if req.status == Status.DOWNLOADING:
            # Nothing was written to a slot: download again (a retry already waiting keeps its time).
            return [] if req.next_attempt_at else [Action.DOWNLOAD]
        if req.status == Status.DOWNLOADED:
            return self._downloaded()[1:] if req.signature else self._ready_to_install()
        if req.status == Status.SIGNATURE_VERIFIED:
            return self._ready_to_install()
        if req.status == Status.INSTALLING and booted_slot == req.target_slot and marked_good:
            # Cut after RAUC finished (new slot primary) but before we saw Completed.
            self._set(Status.INSTALLED)
            return [Action.PERSIST]
        # Installing when the charger went down: interrupted.
        self._set(Status.INSTALLATION_FAILED, f"interrupted while {req.status.value}")
        return [Action.PERSIST, Action.MAKE_BOOTED_PRIMARY]
