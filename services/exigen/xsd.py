"""Minimal XML Schema reader: just the subset the V2G schemas use.

Produces a `SchemaSet` of global elements, named complex/simple types and their
particles. Anything outside the supported subset raises `XsdError` so that a new
schema revision cannot silently produce a wrong grammar.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

XS = "http://www.w3.org/2001/XMLSchema"
UNBOUNDED = -1

QName = tuple[str, str]  # (namespace uri, local name)


class XsdError(Exception):
    pass


@dataclass
class SimpleType:
    name: QName | None
    base: QName | None  # None only for built-ins
    facets: dict[str, object] = field(default_factory=dict)


@dataclass
class Particle:
    kind: str  # "element" | "sequence" | "choice" | "any"
    min: int
    max: int  # UNBOUNDED for unbounded
    children: list[Particle] = field(default_factory=list)
    element: ElementDecl | None = None  # local declaration
    ref: QName | None = None  # reference to a global element
    namespace: str = "##any"  # for wildcards


@dataclass
class Attribute:
    name: QName
    type: QName | SimpleType
    required: bool


@dataclass
class ComplexType:
    name: QName | None
    abstract: bool = False
    mixed: bool = False
    base: QName | None = None
    derivation: str | None = None  # "extension" | "restriction"
    simple_base: QName | SimpleType | None = None  # simpleContent value type
    particle: Particle | None = None
    attributes: list[Attribute] = field(default_factory=list)
    resolved: bool = False


@dataclass
class ElementDecl:
    name: QName
    type: QName | ComplexType | SimpleType | None
    abstract: bool = False
    subst_head: QName | None = None


@dataclass
class SchemaSet:
    elements: dict[QName, ElementDecl] = field(default_factory=dict)
    complex_types: dict[QName, ComplexType] = field(default_factory=dict)
    simple_types: dict[QName, SimpleType] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _occurs(node: ET.Element) -> tuple[int, int]:
    mn = int(node.get("minOccurs", "1"))
    mx_s = node.get("maxOccurs", "1")
    mx = UNBOUNDED if mx_s == "unbounded" else int(mx_s)
    return mn, mx


class _FileReader:
    """Reads one schema document; prefix map comes from the file's namespace declarations."""

    def __init__(self, path: Path, out: SchemaSet):
        self.path = path
        self.out = out
        self.prefixes: dict[str, str] = {}
        for _event, item in ET.iterparse(path, events=("start-ns",)):
            prefix, uri = item  # type: ignore[misc]
            self.prefixes.setdefault(prefix, uri)
        self.root = ET.parse(path).getroot()
        self.tns = self.root.get("targetNamespace", "")
        self.elem_qualified = self.root.get("elementFormDefault") == "qualified"
        self.attr_qualified = self.root.get("attributeFormDefault") == "qualified"

    def qname(self, text: str) -> QName:
        if ":" in text:
            prefix, local = text.split(":", 1)
        else:
            prefix, local = "", text
        if prefix not in self.prefixes:
            raise XsdError(f"{self.path.name}: unknown prefix in {text!r}")
        return self.prefixes[prefix], local

    def imports(self) -> list[Path]:
        found = []
        for node in self.root.findall(f"{{{XS}}}import") + self.root.findall(f"{{{XS}}}include"):
            loc = node.get("schemaLocation")
            if not loc:
                continue
            cand = (self.path.parent / loc).resolve()
            if not cand.exists():
                # ISO 15118-20 refers to xmldsig as a sibling file; the published set keeps it one
                # directory up, shared with ISO 15118-2.
                alt = (self.path.parent.parent / Path(loc).name).resolve()
                if not alt.exists():
                    raise XsdError(f"{self.path.name}: cannot find {loc}")
                cand = alt
            found.append(cand)
        return found

    def read(self) -> None:
        for node in self.root:
            tag = node.tag
            if not isinstance(tag, str):
                continue
            local = tag.split("}", 1)[1] if tag.startswith("{") else tag
            if local == "element":
                decl = self.element(node, top=True)
                self.out.elements[decl.name] = decl
            elif local == "complexType":
                ct = self.complex_type(node)
                assert ct.name
                self.out.complex_types[ct.name] = ct
            elif local == "simpleType":
                st = self.simple_type(node)
                assert st.name
                self.out.simple_types[st.name] = st
            elif local in ("import", "include", "annotation"):
                continue
            else:
                raise XsdError(f"{self.path.name}: unsupported top-level <{local}>")

    def _children(self, node: ET.Element) -> list[tuple[str, ET.Element]]:
        res = []
        for c in node:
            if not isinstance(c.tag, str) or not c.tag.startswith(f"{{{XS}}}"):
                continue
            local = c.tag.split("}", 1)[1]
            if local != "annotation":
                res.append((local, c))
        return res

    def element(self, node: ET.Element, top: bool) -> ElementDecl:
        qualified = top or node.get("form", "qualified" if self.elem_qualified else "unqualified") == "qualified"
        name = (self.tns if qualified else "", node.get("name", ""))
        typ: QName | ComplexType | SimpleType | None = None
        if node.get("type"):
            typ = self.qname(node.get("type", ""))
        for local, c in self._children(node):
            if local == "complexType":
                typ = self.complex_type(c)
            elif local == "simpleType":
                typ = self.simple_type(c)
        if typ is None:
            typ = (XS, "anyType")
        head = self.qname(node.get("substitutionGroup", "")) if node.get("substitutionGroup") else None
        return ElementDecl(name, typ, node.get("abstract") == "true", head)

    def particle(self, local: str, node: ET.Element) -> Particle:
        mn, mx = _occurs(node)
        if local == "element":
            if node.get("ref"):
                return Particle("element", mn, mx, ref=self.qname(node.get("ref", "")))
            return Particle("element", mn, mx, element=self.element(node, top=False))
        if local in ("sequence", "choice"):
            kids = [self.particle(name, child) for name, child in self._children(node)]
            return Particle(local, mn, mx, children=kids)
        if local == "any":
            return Particle("any", mn, mx, namespace=node.get("namespace", "##any"))
        raise XsdError(f"{self.path.name}: unsupported particle <{local}>")

    def attribute(self, node: ET.Element) -> Attribute:
        if node.get("ref"):
            raise XsdError(f"{self.path.name}: attribute refs unsupported")
        qualified = node.get("form", "qualified" if self.attr_qualified else "unqualified") == "qualified"
        name = (self.tns if qualified else "", node.get("name", ""))
        typ: QName | SimpleType = (XS, "anySimpleType")
        if node.get("type"):
            typ = self.qname(node.get("type", ""))
        for local, c in self._children(node):
            if local == "simpleType":
                typ = self.simple_type(c)
        return Attribute(name, typ, node.get("use") == "required")

    def complex_type(self, node: ET.Element) -> ComplexType:
        name = (self.tns, node.get("name", "")) if node.get("name") else None
        ct = ComplexType(name, node.get("abstract") == "true", node.get("mixed") == "true")
        self._complex_body(ct, node)
        return ct

    def _complex_body(self, ct: ComplexType, node: ET.Element) -> None:
        for local, c in self._children(node):
            if local in ("sequence", "choice", "element", "any"):
                ct.particle = self.particle(local, c)
            elif local == "attribute":
                ct.attributes.append(self.attribute(c))
            elif local == "anyAttribute":
                raise XsdError(f"{self.path.name}: anyAttribute unsupported")
            elif local in ("complexContent", "simpleContent"):
                if c.get("mixed") == "true":
                    ct.mixed = True
                for dlocal, d in self._children(c):
                    if dlocal not in ("extension", "restriction"):
                        raise XsdError(f"{self.path.name}: unsupported <{dlocal}>")
                    base = self.qname(d.get("base", ""))
                    if local == "simpleContent":
                        if dlocal != "extension":
                            raise XsdError(f"{self.path.name}: simpleContent restriction unsupported")
                        ct.simple_base = base
                    else:
                        ct.base, ct.derivation = base, dlocal
                    self._complex_body(ct, d)
            else:
                raise XsdError(f"{self.path.name}: unsupported <{local}> in complexType")

    def simple_type(self, node: ET.Element) -> SimpleType:
        name = (self.tns, node.get("name", "")) if node.get("name") else None
        for local, c in self._children(node):
            if local != "restriction":
                raise XsdError(f"{self.path.name}: simpleType <{local}> unsupported")
            facets: dict[str, object] = {}
            base: QName | None = self.qname(c.get("base", "")) if c.get("base") else None
            for flocal, f in self._children(c):
                if flocal == "simpleType":
                    raise XsdError(f"{self.path.name}: anonymous restriction base unsupported")
                value = f.get("value", "")
                if flocal == "enumeration":
                    facets.setdefault("enumeration", []).append(value)  # type: ignore[union-attr]
                elif flocal in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive",
                                "length", "minLength", "maxLength", "totalDigits", "fractionDigits"):
                    facets[flocal] = value
                else:
                    raise XsdError(f"{self.path.name}: facet <{flocal}> unsupported")
            return SimpleType(name, base, facets)
        raise XsdError(f"{self.path.name}: empty simpleType")


def load(roots: list[Path]) -> SchemaSet:
    """Load the schema documents `roots` and everything they import."""
    out = SchemaSet()
    todo = [p.resolve() for p in roots]
    seen: set[Path] = set()
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        reader = _FileReader(path, out)
        reader.read()
        out.files.append(path)
        todo.extend(reader.imports())
    return out
