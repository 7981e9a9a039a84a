"""Faster schema validation of OCPP payloads: fastjsonschema in front of the library's validators.

The `ocpp` library validates every CALL and CALLRESULT, in both directions, with jsonschema's
Draft4Validator: ~0.45 ms for a TransactionEvent with two sampled values on the development
machine, the largest CPU cost per message (benchmarks/ocpp). The library keeps one validator
per schema in a module dict (`ocpp.messages._validators`) and only ever calls
`.validate(payload)` on them, so `install()` swaps that dict for one that wraps each validator
when the library creates it: a compiled fastjsonschema function checks the payload first, and
only if it rejects the payload does the library's jsonschema validator run. Every error the
station reports (and so every CALLERROR code) therefore comes from the library itself; the
fast path only has to accept exactly what jsonschema accepts. To that end the schemas are
compiled as draft-04 (the library validates the draft-06 files with Draft4Validator), without
format checks (Draft4Validator has no format checker) and without defaults (fastjsonschema
would write them into the payload). Schemas the library parses with Decimal (three OCPP 1.6
schedules) keep the library's validator alone.

A schema's fast path is compiled only once the schema is in regular use (HOT_AFTER validations):
compiling costs ~0.15-0.5 MiB of the service's memory per schema for good (generated code), and
several MiB of heap during the compilation; a charger sends a few message types often
(TransactionEvent, MeterValues, StatusNotification, Heartbeat) and the others rarely, where
the library's ~0.5 ms per message does not matter (benchmarks/memory.py, issue 7).

Optional: without the fastjsonschema package the library's validators run unchanged.
"""

from __future__ import annotations

import decimal
import logging
from typing import Any

from ocpp import messages

from ..common import deferred
from ..common.heap import release_free_memory

try:
    # Imported when the first schema gets hot (HOT_AFTER), not at start: ~0.5 MiB (issue 7).
    deferred.defer("fastjsonschema")
    import fastjsonschema
except ImportError:  # pragma: no cover - exercised where the package is absent
    fastjsonschema = None

log = logging.getLogger("evcharge.ocpp.validation")

DRAFT4 = "http://json-schema.org/draft-04/schema#"


# Validations of one schema by the library's validator before its fast path is compiled.
HOT_AFTER = 16


class FastFirst:
    """A library validator with a compiled fast path for payloads that are valid."""

    __slots__ = ("slow", "_fast", "uses")

    def __init__(self, slow: Any) -> None:
        self.slow = slow
        self._fast: Any = None     # None: not compiled yet; False: cannot be compiled
        self.uses = 0

    @property
    def fast(self) -> Any:
        """The compiled check (compiled on first use), or None where the library's validator stays alone."""
        if self._fast is None:
            self._fast = _compile(self.slow.schema) or False
        return self._fast or None

    def validate(self, payload: Any) -> None:
        if self._fast is None and self.uses < HOT_AFTER:
            self.uses += 1
            self.slow.validate(payload)
            return
        fast = self.fast
        if fast is None:
            self.slow.validate(payload)
            return
        try:
            fast(payload)
        except fastjsonschema.JsonSchemaException:
            self.slow.validate(payload)  # the library's own error (or it accepts: the fast path was stricter)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.slow, name)


def _has_decimal(node: Any) -> bool:
    if isinstance(node, decimal.Decimal):
        return True
    if isinstance(node, dict):
        return any(_has_decimal(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_decimal(v) for v in node)
    return False


def _compile(schema: dict[str, Any]) -> Any:
    try:
        return fastjsonschema.compile({**schema, "$schema": DRAFT4}, use_default=False, use_formats=False)
    except Exception as e:  # noqa: BLE001 - a schema it cannot compile keeps the library's validator
        log.warning("fastjsonschema cannot compile %s: %s", schema.get("$id", "a schema"), e)
        return None
    finally:
        release_free_memory()  # the compilation's MiB of temporaries back to the kernel now


def wrap(validator: Any) -> Any:
    if fastjsonschema is None or isinstance(validator, FastFirst):
        return validator
    schema = getattr(validator, "schema", None)
    if not isinstance(schema, dict) or _has_decimal(schema):
        return validator
    return FastFirst(validator)


class _WrappingCache(dict):
    """`ocpp.messages._validators`: wraps each validator the library stores."""

    def __setitem__(self, key: str, validator: Any) -> None:
        super().__setitem__(key, wrap(validator))


def install(fast: bool = True) -> bool:
    """Use the fast path (if fastjsonschema is installed) or the library's validators alone.
    True if the fast path is in use."""
    current = messages._validators  # noqa: SLF001 - the library's validator cache, see the module doc
    if fast and fastjsonschema is not None:
        if not isinstance(current, _WrappingCache):
            cache = _WrappingCache()
            for key, validator in current.items():
                cache[key] = validator
            messages._validators = cache  # noqa: SLF001
        return True
    if isinstance(current, _WrappingCache):
        messages._validators = {k: v.slow if isinstance(v, FastFirst) else v  # noqa: SLF001
                                for k, v in current.items()}
    return False
