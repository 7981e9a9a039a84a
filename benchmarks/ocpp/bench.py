#!/usr/bin/env python3
"""OCPP figures: CALL round trip on loopback, CPU per message (station and CSMS), validation, queue.

    python benchmarks/ocpp/bench.py [--n 2000] [--modes as-configured,jsonschema,off]

- round trip: the real station (`OcppService` with its `adapter.Link`, sim hardware in place of
  D-Bus: `_station.py`) in this process, pinned to core 0; the test CSMS (`evcharge.sim.csms`)
  in its own process on core 1, over a loopback WebSocket. Heartbeat: the service's own
  `_heartbeat()`. TransactionEvent: a triggered meter sample (Energy + Power) that goes the
  whole way: built, stored in the SQLite queue (fsync), sent by the queue's sender, answered,
  removed from the queue. RTT is Link.call (validate, send, answer, validate the answer);
  "queued -> removed" adds the queue's commits. CPU per message is each process's CPU time
  over the messages (the station's includes its queue work and logging at INFO to a file).
- validation modes: "as-configured" is what the service runs (ASYNC_VALIDATION off, the
  draft-04 check in front of the library's validators), "jsonschema" the library's validators
  alone, "off" no validation (comparison only). The CSMS runs the same mode as the station.
- validation alone: per message type, the library's jsonschema validator vs. what the service
  runs (`validation.LazyDraft4Validator` through the library) vs. the bare interpreter
  (`validation.Draft4Check`).
- queue: one durable enqueue (fsync) + remove, on the temp dir's file system.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from _common import percentiles, report  # noqa: E402
from _station import MODES, RttProbe, SimCharger, cpu_s, make_station, set_validation, wait_online  # noqa: E402
from evcharge.ocpp import validation as checkval  # noqa: E402
from evcharge.ocpp.queue import MessageQueue  # noqa: E402
from fleet import pin, start_csms  # noqa: E402
from ocpp import messages  # noqa: E402

TX = {"eventType": "Updated", "timestamp": "2026-01-01T00:00:00.000Z", "triggerReason": "MeterValuePeriodic",
      "seqNo": 3, "transactionInfo": {"transactionId": "0123456789abcdef0123456789abcdef", "chargingState": "Charging"},
      "meterValue": [{"timestamp": "2026-01-01T00:00:00.000Z", "sampledValue": [
          {"value": 1234.5, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
           "unitOfMeasure": {"unit": "Wh"}},
          {"value": 7360.0, "context": "Sample.Periodic", "measurand": "Power.Active.Import",
           "unitOfMeasure": {"unit": "W"}}]}]}
BOOT = {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"}


async def round_trips(mode: str, n: int) -> None:
    set_validation(mode)
    csms, url = start_csms(mode, 3600, core=1)
    root = Path(tempfile.mkdtemp(prefix="evcharge-bench-"))
    probe = RttProbe()
    probe.install()
    try:
        svc = make_station(0, url, root, sample_interval_s=0, heartbeat_s=3600)
        removed = asyncio.Event()
        orig_remove = svc.queue.remove

        def remove(msg_id: int) -> None:
            orig_remove(msg_id)
            removed.set()

        svc.queue.remove = remove  # type: ignore[method-assign]
        await svc.start()
        await wait_online([svc], 30)
        SimCharger(svc).plug_in_and_charge()
        while len(svc.queue):
            await asyncio.sleep(0.05)
        for _ in range(50):  # warm-up: validators, caches
            await svc._heartbeat()  # noqa: SLF001

        probe.reset()
        c0, cc0 = time.process_time(), cpu_s(csms.pid)
        for _ in range(n):
            await svc._heartbeat()  # noqa: SLF001
        cpu, ccpu = (time.process_time() - c0) / n, (cpu_s(csms.pid) - cc0) / n
        report(f"[{mode}] Heartbeat RTT", percentiles(probe.samples))
        print(f"{'':<44} CPU per message: station {cpu * 1e6:.0f} us, CSMS {ccpu * 1e6:.0f} us")

        e2e = []
        probe.reset()
        c0, cc0 = time.process_time(), cpu_s(csms.pid)
        for _ in range(n):
            removed.clear()
            t0 = time.perf_counter()
            await svc.run_trigger("TransactionEvent", {"id": 1})  # a triggered meter sample, queued
            await removed.wait()
            e2e.append(time.perf_counter() - t0)
        cpu, ccpu = (time.process_time() - c0) / n, (cpu_s(csms.pid) - cc0) / n
        report(f"[{mode}] TransactionEvent RTT", percentiles(probe.samples))
        report(f"[{mode}] TransactionEvent queued -> removed", percentiles(e2e))
        print(f"{'':<44} CPU per message: station {cpu * 1e6:.0f} us, CSMS {ccpu * 1e6:.0f} us")
        await svc.stop()
    finally:
        csms.terminate()
        csms.wait()
        shutil.rmtree(root, ignore_errors=True)


def validation(n: int) -> None:
    set_validation("as-configured")
    for action, payload in (("Heartbeat", {}), ("TransactionEvent", TX), ("BootNotification", BOOT)):
        line = []
        for checked in (False, True):
            checkval.install(checked=checked)
            call = messages.Call("1", action, payload)
            messages._validate_payload(call, "2.0.1")  # noqa: SLF001 - warm the validator cache
            t0 = time.perf_counter()
            for _ in range(n):
                messages._validate_payload(call, "2.0.1")  # noqa: SLF001
            line.append((time.perf_counter() - t0) / n * 1e6)
        # The interpreter alone, without the library's call around it
        check = checkval.Draft4Check(messages.get_validator(messages.MessageType.Call, action, "2.0.1").schema)
        t0 = time.perf_counter()
        for _ in range(n):
            check(payload)
        line.append((time.perf_counter() - t0) / n * 1e6)
        print(f"{'schema validation ' + action:<44} jsonschema {line[0]:.1f} us, as configured {line[1]:.1f} us, "
              f"bare check {line[2]:.1f} us")
    checkval.install()


def queue(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        q = MessageQueue(Path(d) / "q.sqlite")
        samples = []
        for i in range(n):
            t0 = time.perf_counter()
            mid = q.enqueue("TransactionEvent", TX, transaction_id="t", state={"seq": i})
            q.remove(mid)
            samples.append(time.perf_counter() - t0)
        report(f"queue enqueue+remove (fsync, {d[:12]}...)", percentiles(samples))
        q.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, filename=os.path.join(tempfile.gettempdir(), "evcharge-bench-ocpp.log"),
                        filemode="w")
    pin(0)
    print(f"python {sys.version.split()[0]}, ocpp library, ASYNC_VALIDATION={messages.ASYNC_VALIDATION}, "
          f"draft-04 check in front of jsonschema; station core 0, CSMS core 1")
    for mode in args.modes.split(","):
        asyncio.run(round_trips(mode, args.n))
    validation(args.n)
    queue(min(args.n, 500))


if __name__ == "__main__":
    main()
