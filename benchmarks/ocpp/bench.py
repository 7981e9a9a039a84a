#!/usr/bin/env python3
"""OCPP figures: CALL round trip on loopback, CPU per message, schema validation, queue commit.

    python benchmarks/ocpp/bench.py [--n 2000]

- round trip: the station side (the `ocpp` library's ChargePoint, as `evcharge.ocpp.adapter`
  uses it, ASYNC_VALIDATION off) sends Heartbeat / TransactionEvent CALLs to the test CSMS
  (`evcharge.sim.csms`) over a loopback WebSocket; both ends validate every message against
  the JSON schemas, as in the product. Both ends run in this one process, so "CPU per message"
  is station + CSMS together (an upper bound for the station alone).
- validation: jsonschema cost per message type alone (the field notes' dominant cost).
- queue: one durable enqueue (SQLite WAL, synchronous=FULL: an fsync) + remove, on the temp dir's
  file system: the extra cost of offline safety per transaction message.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import percentiles, report  # noqa: E402
from evcharge.ocpp import adapter  # noqa: E402  (sets ASYNC_VALIDATION = False)
from evcharge.ocpp.queue import MessageQueue  # noqa: E402
from evcharge.sim.csms import Csms  # noqa: E402
from ocpp import messages  # noqa: E402
from ocpp.v201 import ChargePoint  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

TX = {"eventType": "Updated", "timestamp": "2026-01-01T00:00:00.000Z", "triggerReason": "MeterValuePeriodic",
      "seqNo": 3, "transactionInfo": {"transactionId": "0123456789abcdef0123456789abcdef", "chargingState": "Charging"},
      "meterValue": [{"timestamp": "2026-01-01T00:00:00.000Z", "sampledValue": [
          {"value": 1234.5, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
           "unitOfMeasure": {"unit": "Wh"}},
          {"value": 7360.0, "context": "Sample.Periodic", "measurand": "Power.Active.Import",
           "unitOfMeasure": {"unit": "W"}}]}]}


async def round_trips(n: int) -> None:
    csms = Csms()
    await csms.start()
    async with connect(csms.url + "/bench-1", subprotocols=["ocpp2.0.1"], ping_interval=None) as ws:
        cp = ChargePoint("bench-1", ws, response_timeout=10)
        reader = asyncio.create_task(cp.start())
        await csms.wait_connected()
        for action, payload in (("Heartbeat", {}), ("TransactionEvent", TX)):
            for _ in range(50):  # warm-up: schema loading, caches
                await cp.call(adapter.make_call(action, payload), suppress=False)
            samples = []
            cpu0 = time.process_time()
            for _ in range(n):
                t0 = time.perf_counter()
                await cp.call(adapter.make_call(action, payload), suppress=False)
                samples.append(time.perf_counter() - t0)
            cpu = (time.process_time() - cpu0) / n
            report(f"CALL round trip {action}", percentiles(samples))
            print(f"{'':<44} CPU per CALL+CALLRESULT (both ends): {cpu * 1e6:.0f} us")
            csms.frames.clear()
        reader.cancel()
    await csms.stop()


def validation(n: int) -> None:
    for action, payload in (("Heartbeat", {}), ("TransactionEvent", TX),
                            ("BootNotification", {"chargingStation": {"model": "m", "vendorName": "v"},
                                                  "reason": "PowerUp"})):
        call = messages.Call("1", action, payload)
        messages._validate_payload(call, "2.0.1")  # noqa: SLF001 - warm the validator cache
        t0 = time.perf_counter()
        for _ in range(n):
            messages._validate_payload(call, "2.0.1")  # noqa: SLF001
        print(f"{'schema validation ' + action:<44} {(time.perf_counter() - t0) / n * 1e6:.1f} us per message")


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
    args = ap.parse_args()
    print(f"ocpp library, ASYNC_VALIDATION={messages.ASYNC_VALIDATION}")
    asyncio.run(round_trips(args.n))
    validation(args.n)
    queue(min(args.n, 500))


if __name__ == "__main__":
    main()
