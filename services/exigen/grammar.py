"""Build EXI schema-informed grammars (EXI 1.0 section 8.5.4) from a `SchemaSet`.

Each type becomes a small state machine. Construction goes through an epsilon-NFA
whose states follow the spec's particle grammars; the epsilon closure of a state, in
construction order, is the spec's normalised production list (SE productions in schema
order, substitution-group members sorted by local name then URI). Event codes are then
assigned: AT (sorted by qname) < SE / wildcards (schema order) < EE < CH.

Repeated element particles (maxOccurs > 1) are not unrolled: they become one *loop*
state with a counter (min/max). Until `min` occurrences the engine offers only the loop
productions, after `max` only the others - the same productions, hence the same event codes,
as the unrolled spec grammar, with one table row instead of up to 2048 states.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import datatypes as dtmod
from .datatypes import Datatype
from .xsd import UNBOUNDED, XS, ComplexType, ElementDecl, Particle, QName, SchemaSet, SimpleType, XsdError

# Production kinds (values must match exi_engine.h).
AT, SE, EE, CH, SEW, CHU = range(6)
_ORDER = {AT: 0, SE: 1, SEW: 1, EE: 2, CH: 3, CHU: 3}
LOOP_INF = 0xFFFF  # "unbounded" in the 16-bit loop max
MAX_KEYS = 96  # EXI_MAX_KEYS in _exi.c: distinct attribute/child names per element


@dataclass(frozen=True)
class Terminal:
    kind: int
    name: QName | None = None
    dt: Datatype | None = None  # AT / CH
    child: object = None  # SE: key of the child's type grammar
    is_list: bool = False
    abstract: bool = False  # counted for event codes, but never a valid event


@dataclass
class _NState:
    prods: list[tuple[Terminal, int]] = field(default_factory=list)
    eps: list[int] = field(default_factory=list)
    loop: tuple[int, int, int] | None = None  # (nloop, min, max)


@dataclass
class State:
    prods: list[tuple[Terminal, int]]  # target is an index into the grammar's states, -1 = end
    loop: tuple[int, int, int] | None


@dataclass
class Grammar:
    key: object
    simple: bool  # element value is a scalar (simple type), not a dict
    states: list[State]


class _Builder:
    """Epsilon-NFA for one type."""

    def __init__(self, gen: GrammarSet):
        self.gen = gen
        self.states: list[_NState] = []

    def new(self, loop: tuple[int, int, int] | None = None) -> int:
        self.states.append(_NState(loop=loop))
        return len(self.states) - 1

    def prod(self, src: int, term: Terminal, dst: int) -> None:
        self.states[src].prods.append((term, dst))

    def eps(self, src: int, dst: int) -> None:
        self.states[src].eps.append(dst)

    def particle(self, p: Particle, entry: int, in_list: bool) -> int:
        repeated = in_list or p.max != 1
        if p.kind in ("element", "any"):
            terms = self.element_terms(p, repeated)
            if p.max == 1:
                out = self.new()
                for t in terms:
                    self.prod(entry, t, out)
            else:
                mx = LOOP_INF if p.max == UNBOUNDED else p.max
                if (p.max != UNBOUNDED and p.max >= LOOP_INF) or p.min >= LOOP_INF:
                    raise XsdError("maxOccurs too large for the engine")
                loop = self.new(loop=(len(terms), p.min, mx))
                for t in terms:
                    self.prod(entry, t, loop)
                for t in terms:
                    self.prod(loop, t, loop)
                out = self.new()
                self.eps(loop, out)
            if p.min == 0:
                self.eps(entry, out)
            return out
        if p.min > 64 or (p.max != UNBOUNDED and p.max > 64):
            raise XsdError("group occurrence bounds too large to unroll")
        cur = entry
        for _ in range(p.min):
            cur = self.group_body(p, cur, repeated)
        if p.max == UNBOUNDED:
            loop = self.new()
            self.eps(cur, loop)
            body_out = self.group_body(p, loop, repeated)
            self.eps(body_out, loop)
            out = self.new()
            self.eps(loop, out)
            return out
        exits = []
        for _ in range(p.max - p.min):
            exits.append(cur)
            cur = self.group_body(p, cur, repeated)
        if exits:
            out = self.new()
            for e in exits + [cur]:
                self.eps(e, out)
            return out
        return cur

    def group_body(self, p: Particle, entry: int, in_list: bool) -> int:
        if p.kind == "sequence":
            cur = entry
            for c in p.children:
                cur = self.particle(c, cur, in_list)
            return cur
        out = self.new()
        for c in p.children:
            self.eps(self.particle(c, entry, in_list), out)
        if not p.children:
            self.eps(entry, out)
        return out

    def element_terms(self, p: Particle, is_list: bool) -> list[Terminal]:
        if p.kind == "any":
            return [Terminal(SEW, ("", p.namespace))]
        schemas = self.gen.schemas
        if p.element is not None:
            decls = [p.element]
        else:
            assert p.ref is not None
            if p.ref not in schemas.elements:
                raise XsdError(f"unknown element {p.ref}")
            decls = [d for d in self.gen.substitutables(p.ref)]
            decls.sort(key=lambda d: (d.name[1], d.name[0]))
        return [Terminal(SE, d.name, child=self.gen.type_key(d), is_list=is_list, abstract=d.abstract)
                for d in decls]


class GrammarSet:
    """All grammars reachable from the global elements of one schema set."""

    def __init__(self, schemas: SchemaSet):
        self.schemas = schemas
        self.grammars: dict[object, Grammar] = {}
        self._pending: list[tuple[object, object]] = []
        self._anon: dict[int, object] = {}
        self.doc: list[Terminal] = []
        heads: dict[QName, list[ElementDecl]] = {}
        for d in schemas.elements.values():
            if d.subst_head:
                heads.setdefault(d.subst_head, []).append(d)
        self._members = heads
        # EXI 8.5.4.3: DocContent lists *all* global elements (abstract ones included), sorted.
        globals_ = sorted(schemas.elements.values(),
                          key=lambda d: (d.name[1], d.name[0]))
        self.doc = [Terminal(SE, d.name, child=self.type_key(d), abstract=d.abstract) for d in globals_]
        while self._pending:
            key, typ = self._pending.pop()
            if key not in self.grammars:
                self.grammars[key] = self.build(key, typ)

    def substitutables(self, head: QName) -> list[ElementDecl]:
        """The head plus all transitive substitution-group members.

        Abstract declarations are kept: the V2G reference encodings (EXIficient-generated) count
        them when assigning event codes, so dropping them shifts every code after them.
        """
        out, todo, seen = [], [head], set()
        while todo:
            q = todo.pop()
            if q in seen:
                continue
            seen.add(q)
            out.append(self.schemas.elements[q])
            todo.extend(m.name for m in self._members.get(q, []))
        return out

    def type_key(self, d: ElementDecl) -> object:
        t = d.type
        if isinstance(t, tuple):
            key: object = t
        else:
            key = self._anon.setdefault(id(t), ("anon",) + d.name)
        if key not in self.grammars and all(k != key for k, _ in self._pending):
            self._pending.append((key, t))
        return key

    # -- type resolution --------------------------------------------------------------
    def complex_of(self, t: object) -> ComplexType | None:
        if isinstance(t, ComplexType):
            return t
        if isinstance(t, tuple) and t in self.schemas.complex_types:
            return self.schemas.complex_types[t]
        if isinstance(t, tuple) and t == (XS, "anyType"):
            raise XsdError("xs:anyType content is not supported")
        return None

    def flatten(self, ct: ComplexType) -> tuple[list, Particle | None, object, bool]:
        """(attributes, particle, simple content type, mixed) with derivation applied."""
        attrs = list(ct.attributes)
        particle = ct.particle
        simple = ct.simple_base
        if simple is not None:
            base_ct = self.complex_of(simple)
            if base_ct is not None:
                battrs, _, bsimple, _ = self.flatten(base_ct)
                names = {a.name for a in attrs}
                attrs = [a for a in battrs if a.name not in names] + attrs
                simple = bsimple
        if ct.base is not None and ct.base != (XS, "anyType"):
            base_ct = self.complex_of(ct.base)
            if base_ct is None:
                raise XsdError(f"complex base {ct.base} unknown")
            battrs, bpart, bsimple, _ = self.flatten(base_ct)
            names = {a.name for a in attrs}
            attrs = [a for a in battrs if a.name not in names] + attrs
            if ct.derivation == "extension":
                if bsimple is not None:
                    simple = bsimple
                elif bpart is not None and particle is not None:
                    particle = Particle("sequence", 1, 1, children=[bpart, particle])
                elif bpart is not None:
                    particle = bpart
        return attrs, particle, simple, ct.mixed

    def build(self, key: object, typ: object) -> Grammar:
        ct = self.complex_of(typ)
        b = _Builder(self)
        start = b.new()
        if ct is None:
            # Simple-typed element: CH [typed value] then EE.
            assert isinstance(typ, (tuple, SimpleType))
            dt = dtmod.resolve(self.schemas, typ)
            s1 = b.new()
            end = b.new()
            b.prod(start, Terminal(CH, dt=dt), s1)
            b.prod(s1, Terminal(EE), end)
            return self.normalise(key, True, b, start)
        attrs, particle, simple, mixed = self.flatten(ct)
        cur = start
        for a in sorted(attrs, key=lambda a: (a.name[1], a.name[0])):
            nxt = b.new()
            b.prod(cur, Terminal(AT, a.name, dt=dtmod.resolve(self.schemas, a.type)), nxt)
            if not a.required:
                b.eps(cur, nxt)
            cur = nxt
        end = b.new()
        if simple is not None:
            s1 = b.new()
            b.prod(cur, Terminal(CH, dt=dtmod.resolve(self.schemas, simple)), s1)  # type: ignore[arg-type]
            b.prod(s1, Terminal(EE), end)
        else:
            first_content = len(b.states)
            content_entry = cur
            if particle is not None:
                cur = b.particle(particle, cur, False)
            b.prod(cur, Terminal(EE), end)
            if mixed:
                # EXI 8.5.4.1.3.2: mixed content adds CH [untyped] to every content state.
                for s in [content_entry] + list(range(first_content, len(b.states))):
                    if s != end:
                        b.prod(s, Terminal(CHU), s)
        return self.normalise(key, False, b, start)

    def normalise(self, key: object, simple: bool, b: _Builder, start: int) -> Grammar:
        def closure(s: int) -> list[tuple[Terminal, int]]:
            out: list[tuple[Terminal, int]] = []
            seen: set[int] = set()

            def visit(n: int) -> None:
                if n in seen:
                    return
                seen.add(n)
                out.extend(b.states[n].prods)
                for e in b.states[n].eps:
                    visit(e)

            visit(s)
            return out

        index: dict[int, int] = {}
        order: list[int] = []
        lists: dict[int, list[tuple[Terminal, int]]] = {}
        todo = [start]
        while todo:
            s = todo.pop(0)
            if s in index:
                continue
            index[s] = len(order)
            order.append(s)
            prods = []
            seen_terms: dict[Terminal, int] = {}
            for term, dst in closure(s):
                if term in seen_terms:
                    # Mixed-content CH [untyped] self-loops meet through epsilons; the first wins.
                    if seen_terms[term] != dst and term.kind != CHU:
                        raise XsdError(f"{key}: ambiguous content model (UPA) on {term.name}")
                    continue
                seen_terms[term] = dst
                prods.append((term, dst))
            prods.sort(key=lambda td: (_ORDER[td[0].kind],
                                       (td[0].name[1], td[0].name[0]) if td[0].kind == AT and td[0].name else ("", "")))
            lists[s] = prods
            for term, dst in prods:
                if term.kind != EE:
                    todo.append(dst)
        states = []
        for s in order:
            prods = [(t, -1 if t.kind == EE else index[d]) for t, d in lists[s]]
            loop = b.states[s].loop
            if loop is not None:
                # The loop productions must be the leading ones for the engine's counter logic.
                nloop = loop[0]
                if any(d != index[s] for _, d in prods[:nloop]):
                    raise XsdError(f"{key}: loop productions not leading")
            states.append(State(prods, loop))
        self.check_keys(key, states)
        return Grammar(key, simple, states)

    @staticmethod
    def check_keys(key: object, states: list[State]) -> None:
        """Dict keys are local names: two particles with the same name would collide."""
        kinds: dict[str, set] = {}
        for st in states:
            for t, _ in st.prods:
                if t.kind in (AT, SE) and t.name:
                    kinds.setdefault(t.name[1], set()).add((t.kind, t.name[0], t.is_list, t.child))
        if len(kinds) > MAX_KEYS:
            raise XsdError(f"{key}: {len(kinds)} distinct keys, the engine's encoder tracks at most {MAX_KEYS}")
        for name, variants in kinds.items():
            if len(variants) > 1:
                raise XsdError(f"{key}: key {name!r} is ambiguous: {variants}")
