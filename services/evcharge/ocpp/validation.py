"""Schema validation of OCPP payloads without jsonschema on the normal path.

The `ocpp` library validates every CALL and CALLRESULT, in both directions, with jsonschema's
Draft4Validator. Two costs of that matter on a charger: memory (jsonschema 4.x imports
referencing, rpds, attrs and jsonschema_specifications: ~2.6 MiB private memory, ~3.4 MiB PSS, in the ocpp
service, benchmarks/ocpp/validation_memory.py, issue 7) and CPU (~0.45 ms for a TransactionEvent
with two sampled values, the largest cost per message, benchmarks/ocpp).

Every verdict that rejects a payload still comes from the library and jsonschema, so every
CALLERROR code and error text is the library's own. In front of it, one check that may only
accept what jsonschema accepts (a payload it rejects goes to jsonschema, which decides):
`Draft4Check`, a small draft-04 interpreter for exactly the keywords the OCPP 1.6 and 2.0.1
schemas use (type, properties, required, additionalProperties, enum of strings, min/maxLength,
items, min/maxItems, minimum/maximum, multipleOf, $ref into the root's definitions; format,
descriptions and the like ignored, as Draft4Validator without a format checker does). A schema
with any other keyword is checked by jsonschema alone (logged once). It handles the Decimal
payloads of the three 1.6 schedules the library parses with Decimal, with jsonschema's exact
multipleOf arithmetic.

There is no compiled (fastjsonschema) path any more: the interpreter is as fast or faster on
the hot message types (TransactionEvent ~22 us against ~38 us compiled, benchmarks/ocpp/bench.py)
and the compiled code cost ~3.6 MiB of private memory in the ocpp service (issue 7).

How jsonschema stays unloaded: the library's `ocpp/messages.py` does `from jsonschema import
Draft4Validator` and `from jsonschema.exceptions import ValidationError as
SchemaValidationError` at the top. This module (imported first by the `evcharge.ocpp` package)
imports `ocpp.messages` with placeholder `jsonschema` modules in sys.modules that give it
`LazyDraft4Validator` and a placeholder exception class, then removes them, so that a later
`import jsonschema` loads the real package. The first payload a check rejects imports it and
rebinds `ocpp.messages.SchemaValidationError` to the real ValidationError before jsonschema
raises it (the library's `except SchemaValidationError` reads the module global when the
exception is matched). Where jsonschema or `ocpp.messages` was imported before (a test, the
CSMS simulator in the same process), the library keeps its imports; `install()` still puts the
check in front of its validators. A process that never imports this module (the CSMS
simulator alone) runs the library unchanged.
"""

from __future__ import annotations

import logging
import numbers
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

log = logging.getLogger("evcharge.ocpp.validation")

DRAFT4 = "http://json-schema.org/draft-04/schema#"

Check = Callable[[Any], bool]


class Unsupported(Exception):
    """A schema uses a keyword (or a form of one) that Draft4Check does not interpret."""


# Keywords without effect on a verdict of Draft4Validator without format checker.
_IGNORED = frozenset({"description", "javaType", "comment", "title", "$schema", "default", "format",
                      "definitions", "additionalItems"})
_ROOT_ONLY = frozenset({"$id", "id"})   # a base URI elsewhere would change what a $ref means
_REF_PREFIX = "#/definitions/"


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),   # draft 4: 1.0 is not an integer
    "number": _is_number,
}


class Draft4Check:
    """`check(payload)` -> True only if Draft4Validator(schema) accepts the payload.

    False means "not sure": the caller asks jsonschema. Raises Unsupported on construction for a
    schema with a keyword it does not know. Compiled once into closures over the schema."""

    __slots__ = ("_root", "_defs", "_check")

    def __init__(self, schema: dict[str, Any]) -> None:
        self._root = schema
        self._defs: dict[str, Check] = {}
        self._check = self._compile(schema, root=True)

    def __call__(self, payload: Any) -> bool:
        try:
            return self._check(payload)
        except Exception:  # noqa: BLE001 - an odd value (a comparison that raises): jsonschema decides
            return False

    def _ref(self, ref: Any) -> Check:
        if not isinstance(ref, str) or not ref.startswith(_REF_PREFIX):
            raise Unsupported(f"$ref {ref!r}")
        name = ref[len(_REF_PREFIX):]
        defs = self._root.get("definitions")
        if "/" in name or "~" in name or "%" in name or not isinstance(defs, dict) or name not in defs:
            raise Unsupported(f"$ref {ref!r}")
        if name not in self._defs:
            self._defs[name] = _unresolved   # recursion: resolved at call time through the dict
            self._defs[name] = self._compile(defs[name])
        d = self._defs
        return lambda v: d[name](v)

    def _compile(self, schema: Any, root: bool = False) -> Check:
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        if "$ref" in schema:   # draft 4: the siblings of $ref are ignored
            return self._ref(schema["$ref"])
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in _IGNORED or (root and key in _ROOT_ONLY):
                continue
            make = getattr(self, "_kw_" + key, None) if key.isidentifier() else None
            if make is None:
                raise Unsupported(f"keyword {key!r}")
            checks.append(make(arg, schema))
        if not checks:
            return _true
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    # One method per keyword: a check of the value, applying only to its JSON type (as jsonschema).

    def _kw_type(self, arg: Any, schema: dict) -> Check:
        names = arg if isinstance(arg, list) else [arg]
        if not names or not all(isinstance(n, str) and n in _TYPES for n in names):
            raise Unsupported(f"type {arg!r}")
        if len(names) == 1:
            return _TYPES[names[0]]
        tests = [_TYPES[n] for n in names]
        return lambda v: any(t(v) for t in tests)

    def _kw_properties(self, arg: Any, schema: dict) -> Check:
        if not isinstance(arg, dict):
            raise Unsupported("properties")
        props = [(name, self._compile(sub)) for name, sub in arg.items()]

        def check(v: Any) -> bool:
            if isinstance(v, dict):
                for name, c in props:
                    if name in v and not c(v[name]):
                        return False
            return True
        return check

    def _kw_required(self, arg: Any, schema: dict) -> Check:
        if not isinstance(arg, list) or not all(isinstance(n, str) for n in arg):
            raise Unsupported("required")
        names = tuple(arg)
        return lambda v: not isinstance(v, dict) or all(n in v for n in names)

    def _kw_additionalProperties(self, arg: Any, schema: dict) -> Check:
        if "patternProperties" in schema:
            raise Unsupported("patternProperties")
        known = frozenset(schema.get("properties") or ())
        if arg is True:
            return _true
        if arg is False:
            return lambda v: not isinstance(v, dict) or known.issuperset(v)
        extra = self._compile(arg)
        return lambda v: not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known)

    def _kw_enum(self, arg: Any, schema: dict) -> Check:
        # Strings only: jsonschema compares a string with == (no 1 == True pitfalls to mirror).
        if not isinstance(arg, list) or not arg or not all(isinstance(e, str) for e in arg):
            raise Unsupported("enum")
        values = frozenset(arg)
        return lambda v: isinstance(v, str) and v in values

    def _kw_maxLength(self, arg: Any, schema: dict) -> Check:
        n = _count(arg)
        return lambda v: not isinstance(v, str) or len(v) <= n

    def _kw_minLength(self, arg: Any, schema: dict) -> Check:
        n = _count(arg)
        return lambda v: not isinstance(v, str) or len(v) >= n

    def _kw_items(self, arg: Any, schema: dict) -> Check:
        if not isinstance(arg, dict):
            raise Unsupported("items as an array")   # and with it additionalItems
        item = self._compile(arg)
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)

    def _kw_maxItems(self, arg: Any, schema: dict) -> Check:
        n = _count(arg)
        return lambda v: not isinstance(v, list) or len(v) <= n

    def _kw_minItems(self, arg: Any, schema: dict) -> Check:
        n = _count(arg)
        return lambda v: not isinstance(v, list) or len(v) >= n

    def _kw_minimum(self, arg: Any, schema: dict) -> Check:
        if not _is_number(arg) or "exclusiveMinimum" in schema:
            raise Unsupported("minimum")
        return lambda v: not _is_number(v) or not v < arg

    def _kw_maximum(self, arg: Any, schema: dict) -> Check:
        if not _is_number(arg) or "exclusiveMaximum" in schema:
            raise Unsupported("maximum")
        return lambda v: not _is_number(v) or not v > arg

    def _kw_multipleOf(self, arg: Any, schema: dict) -> Check:
        if not _is_number(arg):
            raise Unsupported("multipleOf")
        if isinstance(arg, float):   # jsonschema's float test (its overflow fallback: here "not sure")
            return lambda v: not _is_number(v) or int(v / arg) == v / arg
        return lambda v: not _is_number(v) or not v % arg   # exact for int and Decimal


def _true(v: Any) -> bool:
    return True


def _unresolved(v: Any) -> bool:  # pragma: no cover - replaced before any call
    return False


def _count(arg: Any) -> int:
    if not isinstance(arg, int) or isinstance(arg, bool) or arg < 0:
        raise Unsupported(f"count {arg!r}")
    return arg


# --- jsonschema, loaded on the first payload a check rejects ---------------------------------

_real_lock = threading.Lock()
_RealDraft4: Any = None


def real_draft4() -> Any:
    """jsonschema's Draft4Validator, importing jsonschema if needed; from then on the library's
    `except SchemaValidationError` catches jsonschema's real ValidationError."""
    global _RealDraft4
    if _RealDraft4 is None:
        with _real_lock:
            if _RealDraft4 is None:
                import jsonschema
                from jsonschema.exceptions import ValidationError

                messages.SchemaValidationError = ValidationError
                log.info("jsonschema loaded (a payload failed the schema check)")
                _RealDraft4 = jsonschema.Draft4Validator
    return _RealDraft4


class LazyDraft4Validator:
    """What the library gets as `Draft4Validator`: the interpreter first, jsonschema when it rejects.

    The library calls `Draft4Validator(schema)` in `get_validator` and then only `.validate()`."""

    __slots__ = ("schema", "_check", "_real")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._check: Draft4Check | None | bool = None   # None: not built yet; False: unsupported
        self._real: Any = None

    @property
    def check(self) -> Draft4Check | None:
        if self._check is None:
            try:
                self._check = Draft4Check(self.schema)
            except Unsupported as e:
                log.warning("schema %s checked by jsonschema alone: %s", _name(self.schema), e)
                self._check = False
        return self._check or None

    @property
    def real(self) -> Any:
        if self._real is None:
            self._real = real_draft4()(self.schema)
        return self._real

    def validate(self, payload: Any) -> None:
        check = self.check
        if check is not None and check(payload):
            return
        self.real.validate(payload)   # raises the library's expected error (or accepts: the check was stricter)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("$id") or schema.get("id") or schema.get("title") or "a schema")
    return "a schema"


class _Placeholder(types.ModuleType):
    """`jsonschema` / `jsonschema.exceptions` while `ocpp.messages` is imported."""


class _NotLoaded(Exception):
    """`ocpp.messages.SchemaValidationError` until jsonschema is loaded: nothing raises it."""


def _import_library() -> types.ModuleType:
    if "ocpp.messages" in sys.modules or "jsonschema" in sys.modules:
        from ocpp import messages as lib
        return lib
    pkg = _Placeholder("jsonschema")
    pkg.__path__ = []
    pkg.Draft4Validator = LazyDraft4Validator
    exc = _Placeholder("jsonschema.exceptions")
    exc.ValidationError = _NotLoaded
    pkg.exceptions = exc
    sys.modules["jsonschema"] = pkg
    sys.modules["jsonschema.exceptions"] = exc
    try:
        from ocpp import messages as lib
    finally:
        for name, mod in (("jsonschema.exceptions", exc), ("jsonschema", pkg)):
            if sys.modules.get(name) is mod:
                del sys.modules[name]
    return lib


messages = _import_library()


def lazy(validator: Any) -> Any:
    """A validator of the library's cache as a LazyDraft4Validator (one made by jsonschema's own
    class, before install(), keeps that instance for the payloads the check rejects)."""
    if isinstance(validator, LazyDraft4Validator):
        return validator
    schema = getattr(validator, "schema", None)
    if not isinstance(schema, dict):
        return validator
    wrapped = LazyDraft4Validator(schema)
    wrapped._real = validator
    return wrapped


class _WrappingCache(dict):
    """`ocpp.messages._validators`: puts the check in front of each validator the library stores."""

    def __setitem__(self, key: str, validator: Any) -> None:
        super().__setitem__(key, lazy(validator))


def install(checked: bool = True) -> None:
    """The check in front of jsonschema (checked=True, what the service runs), or the library's
    jsonschema validators alone (checked=False: importing jsonschema; for benchmarks and tests)."""
    current = messages._validators  # noqa: SLF001 - the library's validator cache, see the module doc
    if checked:
        messages.Draft4Validator = LazyDraft4Validator
        if not isinstance(current, _WrappingCache):
            cache = _WrappingCache()
            for key, validator in current.items():
                cache[key] = validator
            messages._validators = cache  # noqa: SLF001
        return
    messages.Draft4Validator = real_draft4()
    if isinstance(current, _WrappingCache):
        messages._validators = {}  # noqa: SLF001 - the library builds its own again
