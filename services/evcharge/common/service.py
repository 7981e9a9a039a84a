"""The process skeleton every service shares.

A service module provides a `build(ctx)` coroutine that exports its D-Bus objects and returns
an object with `async start()` / `async stop()`. `run()` connects the bus, builds, takes the
well-known name (refusing to queue behind another owner), reports READY=1, pings the systemd
watchdog from the event loop, and shuts down cleanly on SIGTERM.
"""

from __future__ import annotations

from . import deferred  # noqa: F401 - first, before dbus-fast and websockets import what it defers

# isort: split
import asyncio
import logging
import os
import signal
import sys
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dbus_fast import RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.constants import NameFlag

from . import bus as busmod
from .config import ConfigError, config_path, load_config
from .heap import trim_periodically
from .log import setup_logging
from .notify import notify, watchdog_interval_s

if TYPE_CHECKING:
    import argparse

log = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_CONFIG = 78  # EX_CONFIG: systemd shows it as "CONFIG", and Restart=on-failure won't loop on it forever
EXIT_NAME_TAKEN = 75  # EX_TEMPFAIL
EXIT_RESTART = 76  # the service asked to be restarted (e.g. an OCPP Reset); Restart=on-failure restarts it


class Runnable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class ServiceContext:
    service: str
    bus: MessageBus
    args: argparse.Namespace | types.SimpleNamespace
    config_file: Path
    state_dir: Path
    config_explicit: bool = False  # --config given: the file must exist

    def load_config(self, cls: type[T]) -> T:
        """The service's configuration; the default file may be absent (code defaults apply),
        a file named with --config may not."""
        return load_config(cls, self.config_file, required=self.config_explicit)


def state_dir_for(service: str, override: str | None) -> Path:
    # StateDirectory= exports STATE_DIRECTORY; outside systemd the conventional path is used.
    path = Path(override or os.environ.get("STATE_DIRECTORY") or f"/var/lib/evcharge/{service}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    import argparse

    # argparse's default asks shutil for the terminal width, and importing shutil (with bz2, lzma)
    # costs every service ~0.3 MiB for a --help nobody reads at run time (issue 7).
    columns = os.environ.get("COLUMNS", "")
    try:
        width = int(columns) if columns.isdigit() else os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (OSError, AttributeError):
        width = 80
    return argparse.HelpFormatter(prog, width=max(width - 2, 20))


# The options every service takes: (flag, help; {service} is the service's name).
OPTIONS = (
    ("--config", "configuration file (default {config})"),
    ("--bus-address", "D-Bus address (default $EVCHARGE_BUS_ADDRESS, else the system bus)"),
    ("--state-dir", "state directory (default $STATE_DIRECTORY or /var/lib/evcharge/{service})"),
    ("--log-level", "DEBUG, INFO, WARNING, ERROR"),
)


def parser(service: str) -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(prog=f"evcharge-{service}", description=f"evcharge {service} service",
                                formatter_class=_help_formatter)
    for flag, help_text in OPTIONS:
        p.add_argument(flag, help=help_text.format(service=service, config=config_path(service)))
    return p


class _Recorder:
    """Takes a service's extra add_argument() calls to learn its options without argparse."""

    SIMPLE = frozenset({"help", "default", "metavar"})

    def __init__(self) -> None:
        self.options: dict[str, tuple[str, Any]] = {}   # flag -> (dest, default)
        self.simple = True

    def add_argument(self, *flags: str, **kwargs: Any) -> None:
        if len(flags) != 1 or not flags[0].startswith("--") or not set(kwargs) <= self.SIMPLE:
            self.simple = False   # a flag, positional, type or action: only argparse knows it
            return
        self.options[flags[0]] = (flags[0][2:].replace("-", "_"), kwargs.get("default"))


def parse_simple(argv: list[str], options: dict[str, tuple[str, Any]]) -> types.SimpleNamespace | None:
    """`--name value` / `--name=value` for known options only, as argparse parses them; None for
    anything else (help, an unknown or abbreviated option, a missing value), which argparse
    then handles with its usual message and exit status.

    Importing argparse (with gettext) costs each service ~0.3 MiB for good (issue 7), for a
    command line that systemd always gives in this one form."""
    values = {dest: default for dest, default in options.values()}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--") and "=" in token:
            flag, _, value = token.partition("=")
        else:
            flag = token
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None   # argparse decides (a value that looks like an option is an error there)
            i += 1
            value = argv[i]
        if flag not in options:
            return None
        values[options[flag][0]] = value
        i += 1
    return types.SimpleNamespace(**values)


def parse_args(service: str, argv: list[str] | None = None,
               extra_args: Callable[[Any], Any] | None = None) -> Any:
    """The service's command line: parsed without argparse when it only has known options."""
    argv = sys.argv[1:] if argv is None else list(argv)
    rec = _Recorder()
    for flag, _help in OPTIONS:
        rec.add_argument(flag)
    if extra_args:
        extra_args(rec)
    if rec.simple:
        args = parse_simple(argv, rec.options)
        if args is not None:
            return args
    p = parser(service)
    if extra_args:
        extra_args(p)
    return p.parse_args(argv)


def run(service: str, bus_name: str, build: Callable[[ServiceContext], Awaitable[Runnable]],
        argv: list[str] | None = None, extra_args: Callable[[argparse.ArgumentParser], Any] | None = None) -> int:
    args = parse_args(service, argv, extra_args)
    setup_logging(service, args.log_level)
    try:
        return asyncio.run(_main(service, bus_name, build, args))
    except ConfigError as e:
        log.error("configuration error: %s", e)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 0


async def _main(service: str, bus_name: str, build: Callable[[ServiceContext], Awaitable[Runnable]],
                args: argparse.Namespace) -> int:
    bus = await busmod.connect(args.bus_address)
    ctx = ServiceContext(service=service, bus=bus, args=args,
                         config_file=Path(args.config) if args.config else config_path(service),
                         config_explicit=bool(args.config),
                         state_dir=state_dir_for(service, args.state_dir))
    app = await build(ctx)
    reply = await bus.request_name(bus_name, NameFlag.DO_NOT_QUEUE)
    if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
        log.error("cannot own %s (%s): is another instance running?", bus_name, reply.name)
        bus.disconnect()
        return EXIT_NAME_TAKEN
    await app.start()
    notify("READY=1")
    log.info("%s ready as %s", service, bus_name)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog = asyncio.create_task(_watchdog())
    trimming = asyncio.create_task(trim_periodically())   # start-up's freed heap back to the kernel
    disconnected = asyncio.create_task(bus.wait_for_disconnect())
    stopped = asyncio.create_task(stop.wait())
    # A service may ask to end itself (attribute `restart_requested`, an asyncio.Event): it then
    # stops cleanly and exits with EXIT_RESTART so that systemd (Restart=on-failure) starts it again.
    restart_event = getattr(app, "restart_requested", None)
    restart = asyncio.create_task(restart_event.wait()) if isinstance(restart_event, asyncio.Event) else None
    done, _ = await asyncio.wait({disconnected, stopped} | ({restart} if restart else set()),
                                 return_when=asyncio.FIRST_COMPLETED)
    lost_bus = disconnected in done
    notify("STOPPING=1")
    watchdog.cancel()
    trimming.cancel()
    stopped.cancel()
    if restart is not None:
        restart.cancel()
    try:
        await asyncio.wait_for(app.stop(), 5)
    except Exception:
        log.exception("error while stopping")
    if lost_bus:
        log.error("lost the D-Bus connection")
        return 1
    bus.disconnect()
    await asyncio.gather(disconnected, return_exceptions=True)
    if restart is not None and restart in done:
        log.info("%s stopped to be restarted", service)
        return EXIT_RESTART
    log.info("%s stopped", service)
    return 0


async def _watchdog() -> None:
    interval = watchdog_interval_s()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def main_entry(service: str, bus_name: str, build: Callable[[ServiceContext], Awaitable[Runnable]],
               extra_args: Callable[[argparse.ArgumentParser], Any] | None = None) -> None:
    sys.exit(run(service, bus_name, build, extra_args=extra_args))
