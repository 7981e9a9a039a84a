"""Services speak sd_notify the way systemd expects: READY=1 when serving, WATCHDOG=1 from the
event loop (a wedged service is killed and restarted), STOPPING=1 and exit 0 on SIGTERM."""

import asyncio
import os
import signal

from evcharge.sil.supervisor import ServiceSpec


async def test_wedged_service_is_killed_by_the_watchdog_and_restarted(stack):
    await stack.start(("board",))
    cfg = stack.dir / "energy.yaml"
    cfg.write_text("site_limit_a: 32\n")
    await stack.sup.start(ServiceSpec("energy", ["--config", str(cfg)], watchdog_s=1.0))
    await asyncio.sleep(2.0)
    assert stack.sup.watchdog_kills("energy") == 0  # it pings on time while healthy
    starts = stack.sup.starts("energy")
    os.kill(stack.sup.pid("energy"), signal.SIGSTOP)  # its loop can no longer run
    await stack.sup.wait_restarted("energy", starts, timeout_s=10)
    assert stack.sup.watchdog_kills("energy") == 1
    # The new instance serves again.
    from evcharge.common import names
    from evcharge.common.bus import get_property

    assert await get_property(stack.bus, names.ENERGY, names.ENERGY_PATH, names.ENERGY, "SiteLimitA") == 32.0


async def test_sigterm_stops_cleanly(stack):
    await stack.start(("board", "energy", "evse"))
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.wait(lambda: stack.conn(1), lambda c: c["State"] == "Preparing")
    await stack.evse(1, "RemoteStart", "s", "R1")
    await stack.wait(lambda: stack.board(1), lambda b: b["ContactorClosed"])
    session = (await stack.conn(1))["SessionId"]
    assert await stack.sup.stop("evse") == 0
    assert "evse stopped" in stack.sup.log_path("evse").read_text()
    # What it persisted on the way out is what a new instance resumes from.
    saved = (stack.sup.state_dir("evse") / "connector-1.json").read_text()
    assert session in saved
