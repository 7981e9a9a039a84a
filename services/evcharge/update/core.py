"""Firmware update decisions, free of I/O: fed requests, charging-session changes, RAUC results
and the slot booted after the reboot; returns the actions the adapter performs.

A request's life (OCPP firmware statuses, 1.6 security extension / 2.0.1):

    [Downloading -> Downloaded | DownloadFailed]            only for an http(s) location
    InstallScheduled                                         while a charging session is active
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


class Status(str, Enum):
    IDLE = "Idle"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"
    INVALID_SIGNATURE = "InvalidSignature"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"


FINAL = {Status.IDLE, Status.DOWNLOAD_FAILED, Status.INSTALLED, Status.INSTALLATION_FAILED,
         Status.INVALID_SIGNATURE, Status.INSTALL_VERIFICATION_FAILED}


class Action(str, Enum):
    DOWNLOAD = "download"        # fetch request.location to the local bundle file
    INSTALL = "install"          # RAUC InstallBundle(request.bundle)
    REBOOT = "reboot"            # the request is persisted; reboot into the new slot
    MAKE_BOOTED_PRIMARY = "make-booted-primary"  # RAUC Mark("active", "booted") after a fallback
    PERSIST = "persist"          # write the request (to_json) durably


class Busy(Exception):
    """An update is already in progress (not in a final status)."""


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
    def request_install(self, req_id: str, location: str, local_bundle: str, booted: str) -> list[Action]:
        """A new request. location is a local path or an http(s) URL (downloaded to local_bundle)."""
        if self.busy():
            raise Busy(f"update {self.request.id} is {self.request.status.value}")
        remote = location.startswith(("http://", "https://"))
        self.request = Request(id=req_id, location=location, bundle=local_bundle if remote else location,
                               booted_before=booted, target_slot=other_slot(booted))
        if remote:
            self._set(Status.DOWNLOADING)
            return [Action.PERSIST, Action.DOWNLOAD]
        return self._ready_to_install()

    def download_done(self, ok: bool, error: str = "") -> list[Action]:
        if self.request is None or self.request.status != Status.DOWNLOADING:
            return []
        if not ok:
            self._set(Status.DOWNLOAD_FAILED, error)
            return [Action.PERSIST]
        self._set(Status.DOWNLOADED)
        return self._ready_to_install()

    def _ready_to_install(self) -> list[Action]:
        if self.sessions_active:
            self._set(Status.INSTALL_SCHEDULED)
            return [Action.PERSIST]
        self._set(Status.INSTALLING)
        return [Action.PERSIST, Action.INSTALL]

    def sessions_changed(self, active: bool) -> list[Action]:
        """Whether any connector has a charging session (no install during a transaction)."""
        self.sessions_active = active
        if not active and self.request is not None and self.request.status == Status.INSTALL_SCHEDULED:
            self._set(Status.INSTALLING)
            return [Action.PERSIST, Action.INSTALL]
        return []

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
        if req.status == Status.INSTALL_SCHEDULED:
            return []  # the adapter reports the sessions next (sessions_changed)
        if req.status == Status.INSTALLING and booted_slot == req.target_slot and marked_good:
            # Cut after RAUC finished (new slot primary) but before we saw Completed.
            self._set(Status.INSTALLED)
            return [Action.PERSIST]
        # Downloading, Downloaded or Installing when the charger went down: interrupted.
        self._set(Status.INSTALLATION_FAILED, f"interrupted while {req.status.value}")
        return [Action.PERSIST, Action.MAKE_BOOTED_PRIMARY]
