"""Map XSD simple types to EXI datatype representations (EXI 1.0 section 7.1)."""
from __future__ import annotations

from dataclasses import dataclass

from .xsd import XS, QName, SchemaSet, SimpleType, XsdError

# Kinds understood by the C engine (values must match exi_engine.h).
BOOL, NBIT, UINT, INT, ENUM, STRING, HEX, B64 = range(8)
KIND_NAMES = ["BOOL", "NBIT", "UINT", "INT", "ENUM", "STRING", "HEX", "B64"]

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

_INTEGER_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None),
    "long": (INT64_MIN, INT64_MAX),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "unsignedLong": (0, UINT64_MAX),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}
_STRINGS = {"string", "anyURI", "ID", "IDREF", "NCName", "token", "normalizedString", "Name", "language", "anySimpleType"}


@dataclass(frozen=True)
class Datatype:
    kind: int
    lo: int = 0  # integer lower bound (NBIT offset) / min length
    hi: int = 0  # integer upper bound / max length (-1: none)
    bits: int = 0  # NBIT / ENUM width
    has_lo: bool = False
    has_hi: bool = False
    enum: tuple[str, ...] = ()
    enum_int: bool = False  # enumeration over an integer base type

    @property
    def label(self) -> str:
        return KIND_NAMES[self.kind]


def _chain(schemas: SchemaSet, t: QName | SimpleType) -> tuple[str, dict[str, object]]:
    """Follow restrictions up to the built-in; the most derived facet wins."""
    facets: dict[str, object] = {}
    seen = 0
    while True:
        seen += 1
        if seen > 64:
            raise XsdError("simple type derivation loop")
        if isinstance(t, SimpleType):
            st = t
        elif t[0] == XS:
            return t[1], facets
        else:
            if t not in schemas.simple_types:
                raise XsdError(f"unknown simple type {t}")
            st = schemas.simple_types[t]
        for k, v in st.facets.items():
            facets.setdefault(k, v)
        if st.base is None:
            raise XsdError(f"simple type {st.name} without base")
        t = st.base


def _bits_for(count: int) -> int:
    """Width of an n-bit unsigned integer able to hold values 0..count-1."""
    return (count - 1).bit_length() if count > 1 else 0


def resolve(schemas: SchemaSet, t: QName | SimpleType) -> Datatype:
    builtin, facets = _chain(schemas, t)
    enum = facets.get("enumeration")
    if enum is not None:
        values = tuple(str(v) for v in enum)  # type: ignore[union-attr]
        return Datatype(ENUM, bits=_bits_for(len(values)), enum=values, enum_int=builtin in _INTEGER_BOUNDS,
                        hi=len(values))
    if builtin == "boolean":
        return Datatype(BOOL)
    if builtin in _INTEGER_BOUNDS:
        lo, hi = _INTEGER_BOUNDS[builtin]
        if "minInclusive" in facets:
            v = int(str(facets["minInclusive"]))
            lo = v if lo is None else max(lo, v)
        if "minExclusive" in facets:
            v = int(str(facets["minExclusive"])) + 1
            lo = v if lo is None else max(lo, v)
        if "maxInclusive" in facets:
            v = int(str(facets["maxInclusive"]))
            hi = v if hi is None else min(hi, v)
        if "maxExclusive" in facets:
            v = int(str(facets["maxExclusive"])) - 1
            hi = v if hi is None else min(hi, v)
        # EXI 7.1.5: a bounded range of at most 4096 values is an n-bit unsigned offset from lo;
        # otherwise non-negative ranges use the unsigned varint, everything else sign + magnitude.
        if lo is not None and hi is not None and hi - lo < 4096:
            return Datatype(NBIT, lo=lo, hi=hi, bits=_bits_for(hi - lo + 1), has_lo=True, has_hi=True)
        # The engine carries integers as 64-bit; clamp unbounded XSD integers to that range.
        if lo is not None and lo >= 0:
            return Datatype(UINT, lo=lo, hi=UINT64_MAX if hi is None else hi, has_lo=True, has_hi=True)
        return Datatype(INT, lo=INT64_MIN if lo is None else lo, hi=INT64_MAX if hi is None else hi,
                        has_lo=True, has_hi=True)
    if builtin in _STRINGS or builtin in ("hexBinary", "base64Binary"):
        lo = int(str(facets.get("minLength", facets.get("length", 0))))
        hi = int(str(facets.get("maxLength", facets.get("length", -1))))
        kind = STRING if builtin in _STRINGS else (HEX if builtin == "hexBinary" else B64)
        return Datatype(kind, lo=lo, hi=hi)
    raise XsdError(f"built-in type xs:{builtin} is not supported by the engine")
