"""Memory of schema validation in one process: what importing the ocpp service and validating
typical messages costs (issue 7), and which validation packages that loaded.

Imports `evcharge.ocpp.service` (as the service's start does), then validates a charger's usual
messages in both directions through the library (`ocpp.messages._validate_payload`, as every
CALL and CALLRESULT is), `--n` times each, and prints PSS / private memory from
/proc/self/smaps_rollup after each step
(Private_Dirty and Anonymous do not depend on what other processes map, PSS does). Run it as the units run Python:

    PYTHONOPTIMIZE=2 PYTHONNODEBUGRANGES=1 python benchmarks/ocpp/validation_memory.py [--n 40]

`--invalid` ends with one rejected payload (the library's jsonschema error path).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("EVCHARGE_SERVICES", str(Path(__file__).resolve().parents[2] / "services")))

PACKAGES = ("jsonschema", "referencing", "rpds", "attrs", "jsonschema_specifications")
TS = "2026-01-01T00:00:00.000Z"
TX = {"eventType": "Updated", "timestamp": TS, "triggerReason": "MeterValuePeriodic", "seqNo": 3,
      "offline": False, "evse": {"id": 1, "connectorId": 1},
      "transactionInfo": {"transactionId": "0123456789abcdef", "chargingState": "Charging"},
      "meterValue": [{"timestamp": TS, "sampledValue": [
          {"value": 1234.5, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
           "unitOfMeasure": {"unit": "Wh", "multiplier": 0}},
          {"value": 7.2, "context": "Sample.Periodic", "measurand": "Power.Active.Import"}]}]}
# (action, request, response): a charger's usual traffic
MESSAGES = [
    ("BootNotification", {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
     {"currentTime": TS, "interval": 300, "status": "Accepted"}),
    ("Heartbeat", {}, {"currentTime": TS}),
    ("StatusNotification", {"timestamp": TS, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}, {}),
    ("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}},
     {"idTokenInfo": {"status": "Accepted"}}),
    ("TransactionEvent", TX, {"idTokenInfo": {"status": "Accepted"}}),
    ("MeterValues", {"evseId": 1, "meterValue": TX["meterValue"]}, {}),
]


def smaps() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        out[key.strip()] = int(rest.split()[0])
    return out


def show(step: str) -> None:
    from evcharge.common.deferred import Deferred
    from evcharge.common.heap import release_free_memory

    release_free_memory()
    m = smaps()
    loaded = ",".join(p for p in PACKAGES if p in sys.modules and not isinstance(sys.modules[p], Deferred)) or "-"
    print(f"{step:<30} PSS {m['Pss'] / 1024:6.2f}  Private_Dirty {m['Private_Dirty'] / 1024:6.2f}  "
          f"Anonymous {m['Anonymous'] / 1024:6.2f} MiB  modules {len(sys.modules):4d}  loaded: {loaded}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="validations per message and direction")
    ap.add_argument("--invalid", action="store_true", help="end with one rejected payload")
    args = ap.parse_args()
    show("interpreter")
    import evcharge.common.service  # noqa: F401 - first, as in the service (deferred modules)
    import evcharge.ocpp.service  # noqa: F401 - the service's imports
    from ocpp import messages

    show("import evcharge.ocpp.service")
    for action, request, response in MESSAGES:
        for _ in range(args.n):
            messages._validate_payload(messages.Call("1", action, dict(request)), "2.0.1")
            messages._validate_payload(messages.CallResult("1", dict(response), action), "2.0.1")
    show(f"{len(MESSAGES)} actions x {args.n} both ways")
    if args.invalid:
        try:
            messages._validate_payload(messages.Call("1", "Heartbeat", {"x": 1}), "2.0.1")
        except Exception as e:  # noqa: BLE001 - printed
            print(f"rejected: {type(e).__name__}")
        show("after one invalid payload")


if __name__ == "__main__":
    main()
