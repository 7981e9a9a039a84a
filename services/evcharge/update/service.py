"""Update service adapter: org.evcharge.Update1 on D-Bus, RAUC (de.pengutronix.rauc) as the
installer, the EVSE connectors' sessions as the gate. Decisions are in core.UpdateCore.

The service runs unprivileged (user evcharge-update); RAUC does the privileged work, and the
reboot is requested by creating /run/evcharge-update/reboot-request, which
evcharge-update-reboot.path watches (its service makes systemd reboot: SuccessAction=reboot).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from ..common import bus as busmod
from ..common import ftpurl, names
from ..common.errors import InvalidArgument, InvalidState
from ..common.persist import read_json, write_json_atomic
from ..common.service import ServiceContext
from .core import Action, Busy, NotCancellable, Options, Request, Status, UpdateCore, is_remote
from .interfaces import RAUC, RAUC_IFACE, RAUC_PATH, UPDATE_PATH, UpdateInterface

log = logging.getLogger("evcharge.update")

SESSION_POLL_S = 2.0
DOWNLOAD_TIMEOUT_S = 60.0   # per socket operation (connect, each read), not the whole download

# InstallWithOptions keys (a{sv}) and their D-Bus types.
OPTION_TYPES = {"retrieve_datetime": "s", "install_datetime": "s", "retries": "i", "retry_interval_s": "i",
                "signature": "s", "signing_certificate": "s", "origin": "s"}


def parse_rfc3339(value: str, key: str) -> float:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{key}: not an RFC 3339 date-time: {value!r}") from None
    if t.tzinfo is None:
        raise InvalidArgument(f"{key}: a UTC offset is required (e.g. 2026-01-01T00:00:00Z): {value!r}")
    return t.timestamp()


def parse_options(raw: dict[str, Any]) -> Options:
    """InstallWithOptions' a{sv} (values unwrapped) as core Options; a clear error for bad input."""
    o = Options()
    for key, value in raw.items():
        want = OPTION_TYPES.get(key)
        if want is None:
            raise InvalidArgument(f"unknown option {key!r} (known: {', '.join(sorted(OPTION_TYPES))})")
        if (want == "s") != isinstance(value, str) or (want == "i" and not isinstance(value, int)):
            raise InvalidArgument(f"option {key!r} must be of D-Bus type {want}")
    if raw.get("retrieve_datetime"):
        o.retrieve_at = parse_rfc3339(raw["retrieve_datetime"], "retrieve_datetime")
    if raw.get("install_datetime"):
        o.install_at = parse_rfc3339(raw["install_datetime"], "install_datetime")
    o.retries = int(raw.get("retries", 0))
    o.retry_interval_s = float(raw.get("retry_interval_s", 0))
    if o.retries < 0 or o.retry_interval_s < 0:
        raise InvalidArgument("retries and retry_interval_s must not be negative")
    o.signature = str(raw.get("signature", ""))
    o.signing_certificate = str(raw.get("signing_certificate", ""))
    o.origin = str(raw.get("origin", ""))
    if bool(o.signature) != bool(o.signing_certificate):
        raise InvalidArgument("signature and signing_certificate go together")
    if o.signature:
        from .signature import SignatureError, check_inputs
        try:
            check_inputs(o.signature, o.signing_certificate)
        except SignatureError as e:
            raise InvalidArgument(str(e)) from None
    return o


def fetch_http(url: str, out: BinaryIO, stop: threading.Event) -> None:
    """Blocking http(s) download into `out`; InterruptedError once `stop` is set."""
    import urllib.request  # only when downloading: http.client, ssl and email cost ~4 MB PSS
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as r:  # noqa: S310 - http(s) only, checked
        while chunk := r.read(1 << 20):
            if stop.is_set():
                raise InterruptedError("download cancelled")
            out.write(chunk)


def fetch_ftp(url: str, out: BinaryIO, stop: threading.Event) -> None:
    """Blocking ftp(s) download into `out` (passive; ftps: explicit FTPS, the server certificate
    checked against the default CA store as for https); InterruptedError once `stop` is set."""
    import ssl

    from ..common import ftp
    loc = ftpurl.parse(url)
    try:
        ftp.download(loc, out, timeout_s=DOWNLOAD_TIMEOUT_S, context=ssl.create_default_context(), stop=stop)
    except ftp.FtpFailure as e:
        raise OSError(f"{loc.redacted()}: {e}") from None


class UpdateService:
    def __init__(self, bus: MessageBus, state_dir: Path, runtime_dir: Path) -> None:
        self.bus = bus
        self.state_dir = state_dir
        self.state_file = state_dir / "request.json"
        self.reboot_file = runtime_dir / "reboot-request"
        raw = read_json(self.state_file)
        self.core = UpdateCore(Request.from_json(raw) if raw else None)
        self.iface = UpdateInterface(self)
        self.progress = 0
        self.boot_slot = ""
        self._tasks: set[asyncio.Task] = set()
        # Set when the service cannot go on consistently: common.service exits with EXIT_RESTART.
        self.restart_requested = asyncio.Event()
        self._poller: asyncio.Task | None = None
        self._last_status = self.core.status
        self._tick = asyncio.Event()   # a deadline may have moved: re-plan the wait
        self._download_stop: threading.Event | None = None  # the running download's stop flag
        self._replace_lock = threading.Lock()   # a stopped download never replaces a newer bundle

    # ---- RAUC ---------------------------------------------------------------------------------------
    async def _rauc(self, member: str, signature: str = "", body=(), timeout: float = 30.0):
        return await busmod.call(self.bus, RAUC, RAUC_PATH, RAUC_IFACE, member, signature, body, timeout=timeout)

    async def _rauc_prop(self, name: str):
        return await busmod.get_property(self.bus, RAUC, RAUC_PATH, RAUC_IFACE, name)

    def _on_message(self, msg: Message) -> None:
        if msg.message_type != MessageType.SIGNAL or msg.path != RAUC_PATH:
            return
        if msg.interface == RAUC_IFACE and msg.member == "Completed":
            self._spawn(self._completed(int(msg.body[0])))
        elif msg.interface == names.PROPERTIES_IFACE and msg.member == "PropertiesChanged" \
                and msg.body and msg.body[0] == RAUC_IFACE:
            prog = msg.body[1].get("Progress")
            if prog is not None:
                pct = busmod.unwrap(prog)
                if isinstance(pct, list) and pct:
                    self.progress = int(pct[0])
                    self.iface.emit_properties_changed({"Progress": self.progress})

    async def _completed(self, result: int) -> None:
        err = ""
        if result != 0:
            try:
                err = str(await self._rauc_prop("LastError"))
            except Exception as e:  # noqa: BLE001 - report what we have
                err = f"RAUC failed ({result}); LastError unavailable: {e}"
        log.info("RAUC completed: %d %s", result, err)
        await self._apply(self.core.install_completed(result, err))

    # ---- actions -----------------------------------------------------------------------------------
    def _spawn(self, coro) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _apply(self, actions: list[Action]) -> None:
        for a in actions:
            if a == Action.PERSIST:
                write_json_atomic(self.state_file, self.core.request.to_json())
            elif a == Action.DOWNLOAD:
                self._spawn(self._download())
            elif a == Action.STOP_DOWNLOAD:
                with self._replace_lock:
                    if self._download_stop is not None:
                        self._download_stop.set()
            elif a == Action.VERIFY:
                self._spawn(self._verify())
            elif a == Action.INSTALL:
                await self._install()
            elif a == Action.REBOOT:
                log.info("update %s written to slot %s: rebooting", self.core.request.id, self.core.request.target_slot)
                self.reboot_file.parent.mkdir(parents=True, exist_ok=True)
                write_json_atomic(self.reboot_file, {"request": self.core.request.id})
            elif a == Action.MAKE_BOOTED_PRIMARY:
                try:
                    await self._rauc("Mark", "ss", ["active", "booted"])
                    log.info("made the booted slot %s primary again", self.boot_slot)
                except Exception as e:  # noqa: BLE001 - logged; the booted slot still runs
                    log.error("could not make the booted slot primary: %s", e)
        self._publish()

    def _publish(self) -> None:
        st = self.core.status
        if st != self._last_status:
            self._last_status = st
            req = self.core.request
            log.info("update %s: %s %s", req.id if req else "-", st.value, req.error if req else "")
            self.iface.StatusChanged(req.id if req else "", st.value)
        self.iface.emit_properties_changed({"Status": st.value, "LastError": self.core.request.error
                                            if self.core.request else "",
                                            "History": list(self.core.request.history) if self.core.request else []})
        self._tick.set()

    async def _install(self) -> None:
        req = self.core.request
        self.progress = 0
        try:
            await self._rauc("InstallBundle", "sa{sv}", [req.bundle, {}])
        except Exception as e:  # noqa: BLE001 - RAUC refused to start: a failed install
            msg = getattr(e, "text", None) or str(e)
            await self._apply(self.core.install_completed(1, msg))

    async def _download(self) -> None:
        req = self.core.request
        dest = Path(req.bundle)
        stop = threading.Event()
        with self._replace_lock:
            if self._download_stop is not None:
                self._download_stop.set()   # at most one download writes at a time
            self._download_stop = stop

        def fetch() -> None:
            tmp = dest.with_name(f"{dest.name}.{req.id}.part")
            try:
                with open(tmp, "wb") as f:
                    if ftpurl.is_ftp(req.location):
                        fetch_ftp(req.location, f, stop)
                    else:
                        fetch_http(req.location, f, stop)
                    f.flush()
                    os.fsync(f.fileno())
                with self._replace_lock:
                    if stop.is_set():
                        raise InterruptedError("download cancelled")
                    os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        try:
            await asyncio.get_running_loop().run_in_executor(None, fetch)
        except Exception as e:  # noqa: BLE001 - any download error is DownloadFailed (or a retry)
            if self.core.request is req and not stop.is_set():
                log.info("update %s: download failed: %s", req.id, e)
                await self._apply(self.core.download_done(False, str(e), now=time.time()))
            return
        if self.core.request is not req or stop.is_set():
            return
        # Install now or schedule: decided on the sessions as they are now, not as the last
        # poll saw them (a transaction started since would have been installed over).
        self.core.sessions_active = await self._sessions_active()
        await self._apply(self.core.download_done(True, now=time.time()))

    async def _verify(self) -> None:
        req = self.core.request
        from .signature import SignatureError, verify_file

        def check() -> str:
            try:
                verify_file(req.bundle, req.signature, req.signing_certificate)
            except (SignatureError, OSError) as e:
                return str(e) or type(e).__name__
            return ""
        error = await asyncio.get_running_loop().run_in_executor(None, check)
        if self.core.request is not req:
            return
        if not error:
            self.core.sessions_active = await self._sessions_active()
        await self._apply(self.core.signature_checked(not error, error, now=time.time()))

    async def install(self, location: str, raw_options: dict[str, Any] | None = None) -> str:
        if not (is_remote(location) or location.startswith("/")):
            raise InvalidArgument("location must be an absolute path or an http, https, ftp or ftps URL, "
                                  f"got {ftpurl.redact(location)!r}")
        if ftpurl.is_ftp(location):
            try:
                loc = ftpurl.parse(location)
            except ValueError as e:
                raise InvalidArgument(f"location: {e}") from None
            if loc.is_directory:
                raise InvalidArgument("location: the FTP URL names a directory, not a bundle file")
        if location.startswith("/") and not os.path.isfile(location):
            raise InvalidArgument(f"no such bundle: {location}")
        options = parse_options(raw_options or {})
        req_id = os.urandom(6).hex()
        if not self.core.busy():
            self.core.sessions_active = await self._sessions_active()  # a local bundle installs at once
        try:
            actions = self.core.request_install(req_id, location, str(self.state_dir / "download.raucb"),
                                                self.boot_slot, options, now=time.time())
        except Busy as e:
            raise InvalidState(str(e)) from None
        self._spawn(self._apply(actions))
        return req_id

    async def cancel(self, req_id: str) -> None:
        try:
            actions = self.core.cancel(req_id)
        except NotCancellable as e:
            raise InvalidState(str(e)) from None
        await self._apply(actions)

    # ---- sessions ----------------------------------------------------------------------------------
    async def _sessions_active(self) -> bool:
        try:
            ids = await busmod.get_property(self.bus, names.EVSE, names.EVSE_PATH, names.EVSE, "ConnectorIds")
            for cid in ids:
                sid = await busmod.get_property(self.bus, names.EVSE, names.evse_connector_path(cid),
                                                names.EVSE_CONNECTOR_IFACE, "SessionId")
                if sid:
                    return True
        except Exception as e:  # noqa: BLE001 - no evse: treat as a session (do not install blind)
            log.debug("evse not readable: %s", e)
            return True
        return False

    async def _poll_sessions(self) -> None:
        """Sessions every SESSION_POLL_S, and the core's time: woken earlier for a deadline."""
        while True:
            try:
                active = await self._sessions_active()
                if active != self.core.sessions_active or self.core.status == Status.INSTALL_SCHEDULED:
                    await self._apply(self.core.sessions_changed(active, now=time.time()))
                actions = self.core.tick(time.time())
                if actions:
                    await self._apply(actions)
            except Exception:  # noqa: BLE001 - e.g. the state file not writable
                # The core may have moved on without its state on disk: start again from the
                # persisted request (systemd restarts us) rather than go on with a half-applied step.
                log.exception("update scheduling step failed: restarting the service")
                self.restart_requested.set()
                return
            self._tick.clear()
            wait = SESSION_POLL_S
            deadline = self.core.next_deadline()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.time()))
            try:
                await asyncio.wait_for(self._tick.wait(), timeout=wait)
            except TimeoutError:
                pass

    # ---- life cycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self.bus.add_message_handler(self._on_message)
        for rule in (f"type='signal',sender='{RAUC}',path='/',interface='{RAUC_IFACE}',member='Completed'",
                     f"type='signal',sender='{RAUC}',path='/',interface='{names.PROPERTIES_IFACE}'"):
            await busmod.call(self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "AddMatch", "s", [rule])
        t0 = time.monotonic()
        while True:
            try:
                self.boot_slot = str(await self._rauc_prop("BootSlot"))
                break
            except Exception as e:  # noqa: BLE001 - rauc is D-Bus activated; retry briefly
                if time.monotonic() - t0 > 30:
                    log.error("RAUC not reachable: %s", e)
                    break
                await asyncio.sleep(1)
        marked_good = await self._booted_slot_good()
        # Sessions first: booted() may go on to install a request that was downloaded.
        self.core.sessions_active = await self._sessions_active()
        self.core.now = time.time()
        await self._apply(self.core.booted(self.boot_slot, marked_good))
        self._poller = asyncio.get_running_loop().create_task(self._poll_sessions())
        log.info("booted slot %s (good: %s); last update: %s", self.boot_slot, marked_good, self.core.status.value)

    async def _booted_slot_good(self) -> bool:
        try:
            (slots,) = await self._rauc("GetSlotStatus")
        except Exception as e:  # noqa: BLE001
            log.error("GetSlotStatus failed: %s", e)
            return False
        for _name, props in slots:
            p = busmod.unwrap(props)
            if p.get("state") == "booted":
                return p.get("boot-status") == "good"
        return False

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
        for t in list(self._tasks):
            t.cancel()


async def build(ctx: ServiceContext) -> UpdateService:
    runtime = Path(os.environ.get("RUNTIME_DIRECTORY") or ctx.state_dir / "run")
    svc = UpdateService(ctx.bus, ctx.state_dir, runtime)
    ctx.bus.export(UPDATE_PATH, svc.iface)
    return svc
