"""The draft-04 interpreter in front of jsonschema (evcharge.ocpp.validation.Draft4Check) and the
ocpp service running without jsonschema until a payload is rejected.

The check's contract: it may reject what jsonschema accepts (jsonschema then decides) but never
accepts what jsonschema's Draft4Validator rejects. Tested on every schema the `ocpp` library
ships for 1.6 and 2.0.1, requests and responses, with a typical valid payload per schema and
mutations of it at every position."""

from __future__ import annotations

import copy
import decimal
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
from evcharge.ocpp import validation
from ocpp import messages

LIB = Path(messages.__file__).parent
# The schemas the library loads with Decimal (ocpp.messages._validate_payload)
DECIMAL = {"v16/schemas/SetChargingProfile.json", "v16/schemas/RemoteStartTransaction.json",
           "v16/schemas/GetCompositeScheduleResponse.json"}
SCHEMAS = sorted(str(p.relative_to(LIB)) for v in ("v16", "v201") for p in (LIB / v / "schemas").glob("*.json"))
REPO = Path(__file__).resolve().parents[3]


def load(rel: str) -> dict:
    text = (LIB / rel).read_text(encoding="utf-8-sig")
    return json.loads(text, parse_float=decimal.Decimal if rel in DECIMAL else float)


def as_library_sees(rel: str, payload):
    """The payload as the library validates it (Decimal floats for the three 1.6 schedules)."""
    if rel in DECIMAL:
        return json.loads(json.dumps(payload, cls=messages._DecimalEncoder), parse_float=decimal.Decimal)
    return payload


def resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def typical(node: dict, root: dict, full: bool, decimal_floats: bool):
    """A valid payload: every property (full) or the required ones only."""
    node = resolve(node, root)
    if "enum" in node:
        return node["enum"][-1]
    kind = node.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = node.get("properties", {})
        required = set(node.get("required", ()))
        return {k: typical(v, root, full, decimal_floats) for k, v in props.items() if full or k in required}
    if kind == "array":
        return [typical(node["items"], root, full, decimal_floats) for _ in range(max(1, node.get("minItems", 0)))]
    if kind == "string":
        return "s" * max(node.get("minLength", 0), min(8, node.get("maxLength", 8)))
    if kind == "integer":
        return int(max(node.get("minimum", 0), min(3, node.get("maximum", 3))))
    if kind == "number":
        value = decimal.Decimal("2.5") if decimal_floats else 2.5
        return max(node.get("minimum", value), min(value, node.get("maximum", value)))
    if kind == "boolean":
        return True
    return None


def limits(schema) -> set[int]:
    """Every length bound in a schema, each +1 and -1: strings and arrays just inside and outside."""
    out: set[int] = set()

    def walk(n):
        if isinstance(n, dict):
            for k, v in n.items():
                if k in ("maxLength", "minLength", "maxItems", "minItems") and isinstance(v, int):
                    out.update((v - 1, v, v + 1))
                walk(v)
        elif isinstance(n, list):
            for x in n:
                walk(x)
    walk(schema)
    return {n for n in out if n >= 0}


MAX_ARRAY = 12   # longer arrays: only as long as the test stays fast (the OCPP schemas' maxItems are mostly 1-4)
WRONG = [None, True, False, 0, 1, -1, 1.0, 2.5, -0.5, 10**20, 1e300, float("nan"), float("inf"),
         decimal.Decimal("0.15"), decimal.Decimal("21.4"), "", "x", "Accepted", "1", [], [1], [{}], {}, {"a": 1},
         (1,), "NotAnEnumValue", "accepted"]


def mutations(payload, lengths: set[int]):
    """(path, mutated payload) for every position of a payload."""
    def positions(node, path):
        yield path, node
        if isinstance(node, dict):
            for k, v in node.items():
                yield from positions(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from positions(v, (*path, i))

    def replaced(path, value):
        if not path:
            return value
        out = copy.deepcopy(payload)
        node = out
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return out

    for path, node in list(positions(payload, ())):
        for value in WRONG:
            yield path, replaced(path, value)
        if isinstance(node, dict):
            for key in node:
                yield (*path, "-" + key), replaced(path, {k: v for k, v in node.items() if k != key})
            yield (*path, "+extra"), replaced(path, {**node, "extra": 1})
        if isinstance(node, str):
            for n in lengths:
                yield path, replaced(path, "y" * n)
        if isinstance(node, list) and node:
            for n in (n for n in lengths if n <= MAX_ARRAY):
                yield path, replaced(path, [copy.deepcopy(node[0]) for _ in range(n)])


def test_every_ocpp_schema_is_interpreted():
    assert len(SCHEMAS) > 200
    for rel in SCHEMAS:
        validation.Draft4Check(load(rel))   # raises Unsupported for a keyword it does not know


@pytest.mark.parametrize("rel", SCHEMAS)
def test_never_accepts_what_jsonschema_rejects(rel):
    schema = load(rel)
    check = validation.Draft4Check(schema)
    real = jsonschema.Draft4Validator(schema)
    lengths = limits(schema)
    accepted = rejected = 0
    for full in (True, False):
        valid = as_library_sees(rel, typical(schema, schema, full, rel in DECIMAL))
        real.validate(valid)        # the generator's own sanity
        assert check(valid), f"{rel}: typical payload refused: {valid}"
        for path, payload in mutations(valid, lengths):
            if check(payload):
                accepted += 1
                assert real.is_valid(payload), f"{rel}: accepted at {path} what jsonschema refuses: {payload}"
            else:
                rejected += 1
    assert rejected > 0


@pytest.mark.parametrize("schema,good,bad", [
    ({"type": "integer"}, [0, -3, 10**30], [1.0, True, False, "1", None, decimal.Decimal(1)]),
    ({"type": "number", "minimum": 0}, [0, 1.5, decimal.Decimal("0.1"), 7], [-1, -0.1, True, "1"]),
    ({"type": ["string", "integer"]}, ["a", 3], [1.5, None, True]),
    ({"enum": ["A", "B"]}, ["A"], ["a", "C", 1, True, None]),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False,
      "required": ["a"]}, [{"a": 1}], [{}, {"a": 1, "b": 2}, {"a": True}, []]),
    ({"type": "array", "items": {"type": "string", "maxLength": 2}, "minItems": 1, "maxItems": 2},
     [["ab"], ["a", "b"]], [[], ["abc"], ["a", "b", "c"], ("a",), [1]]),
    ({"type": "number", "multipleOf": decimal.Decimal("0.1")}, [decimal.Decimal("21.4"), 3], [decimal.Decimal("4.11")]),
    ({"definitions": {"T": {"type": "string"}}, "properties": {"t": {"$ref": "#/definitions/T", "type": "integer"}}},
     [{"t": "x"}], [{"t": 1}]),   # draft 4: the siblings of $ref do not apply
])
def test_draft4_subtleties_as_jsonschema(schema, good, bad):
    check = validation.Draft4Check(schema)
    real = jsonschema.Draft4Validator(schema)
    for v in good:
        assert real.is_valid(v) and check(v), v
    for v in bad:
        assert not real.is_valid(v) and not check(v), v


@pytest.mark.parametrize("schema,bad", [
    ({"type": "string", "pattern": "^a"}, "b"), ({"anyOf": [{"type": "string"}]}, 5),
    ({"items": [{"type": "string"}]}, [5]), ({"$ref": "other.json#/definitions/X"}, None), ({"enum": [1, 2]}, 3),
    ({"type": "date"}, None), ({"properties": {"a": {"id": "x", "type": "string"}}}, {"a": 1}),
])
def test_unknown_keywords_leave_the_schema_to_jsonschema(schema, bad):
    with pytest.raises(validation.Unsupported):
        validation.Draft4Check(schema)
    lazy = validation.LazyDraft4Validator(schema)
    assert lazy.check is None
    if bad is not None:   # (the others jsonschema cannot resolve or does not know either)
        with pytest.raises(jsonschema.ValidationError):
            lazy.validate(bad)


SERVICE_RUN = textwrap.dedent("""
    import json, sys
    import evcharge.ocpp.service  # the service's imports
    from evcharge.ocpp import adapter, validation
    from ocpp import messages
    LIB = ("jsonschema", "jsonschema.exceptions", "referencing", "rpds", "attrs", "jsonschema_specifications",
           "fastjsonschema")
    def loaded():
        return sorted(m for m in LIB if m in sys.modules)
    out = {"after_import": loaded()}
    TS = "2026-01-01T00:00:00.000Z"
    for _ in range(40):   # a charger's usual traffic, well past any warm-up
        messages._validate_payload(messages.Call("1", "Heartbeat", {}), "2.0.1")
        messages._validate_payload(messages.CallResult("1", {"currentTime": TS}, "Heartbeat"), "2.0.1")
        messages._validate_payload(messages.Call("1", "StatusNotification", {
            "timestamp": TS, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}), "2.0.1")
    messages._validate_payload(messages.Call("1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {"chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]}}}), "1.6")
    out["after_valid"] = loaded()
    def error(action, payload):
        try:
            messages._validate_payload(messages.Call("1", action, payload), "2.0.1")
        except Exception as e:
            return [type(e).__name__, e.code, str(e.details.get("cause"))]
    BAD = [("Heartbeat", {"x": 1}), ("StatusNotification", {"timestamp": TS, "connectorStatus": "Nope",
           "evseId": 1, "connectorId": 1}), ("StatusNotification", {"timestamp": TS, "evseId": 1, "connectorId": 1}),
           ("StatusNotification", {"timestamp": TS, "connectorStatus": "Available", "evseId": "1", "connectorId": 1})]
    out["lazy"] = [error(*b) for b in BAD]
    out["after_invalid"] = loaded()
    validation.install(checked=False)   # the library's own validators
    out["library"] = [error(*b) for b in BAD]
    print(json.dumps(out))
""")


def test_service_runs_without_jsonschema_until_a_payload_is_rejected():
    env = {**os.environ, "PYTHONOPTIMIZE": "2", "PYTHONNODEBUGRANGES": "1"}
    proc = subprocess.run([sys.executable, "-c", SERVICE_RUN], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["after_import"] == []
    assert out["after_valid"] == []
    assert "jsonschema" in out["after_invalid"] and "referencing" in out["after_invalid"]
    assert "fastjsonschema" not in out["after_invalid"]   # no compiled path, not even for the hot schemas
    assert out["lazy"] == out["library"]
    assert [e[1] for e in out["lazy"]] == ["FormatViolation", "FormatViolation", "ProtocolError",
                                           "TypeConstraintViolation"]
