"""Typed YAML configuration with errors that name the file, the key and the expected type.

Each service describes its configuration as dataclasses; `load_config` reads
`/etc/evcharge/<service>.yaml` (or a path given on the command line), checks every key against
the dataclass fields and returns an instance. Missing keys take the dataclass defaults, so the
shipped files only document them. Unknown keys are errors: a typo must not silently fall back to
a default on a charger.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar


def _import_yaml() -> types.ModuleType:
    """PyYAML without its libyaml binding, where this module imports it first.

    `import yaml` also imports `yaml._yaml` (a Cython extension with libyaml linked in) for the
    C loaders and dumpers (CSafeLoader, CDumper, ...). Configurations are read with the
    pure-Python SafeLoader (`_Yaml12Loader` below), so in a service the binding is only memory:
    ~0.1 MiB private and ~0.25 MiB of mapped library per process, in each of the seven
    services (issue 7). With the binding masked during the import PyYAML sets
    `__with_libyaml__` False and defines no C classes; nothing else changes. The mask is removed
    right after, so an explicit `import yaml._yaml` later still works. Where yaml was imported
    before (tests, tools), it is left as it is."""
    mask = "yaml" not in sys.modules and "yaml._yaml" not in sys.modules
    if mask:
        sys.modules["yaml._yaml"] = None  # type: ignore[assignment] - None: "cannot be imported"
    try:
        import yaml
    finally:
        if mask and "yaml._yaml" in sys.modules and sys.modules["yaml._yaml"] is None:
            del sys.modules["yaml._yaml"]
    return yaml


yaml = _import_yaml()

CONFIG_DIR = Path(os.environ.get("EVCHARGE_CONFIG_DIR", "/etc/evcharge"))

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration file that cannot be used, with where and why."""

    def __init__(self, file: str | os.PathLike[str], key: str, message: str) -> None:
        self.file = str(file)
        self.key = key
        self.message = message
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(where + message)


@dataclasses.dataclass(frozen=True)
class Range:
    """Field metadata: numeric bounds (inclusive)."""

    low: float
    high: float


def bounded(default: Any, low: float, high: float, **kw: Any) -> Any:
    """A dataclass field with inclusive numeric bounds checked on load."""
    return dataclasses.field(default=default, metadata={"range": Range(low, high)}, **kw)


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no (and a key named
    `on`) as booleans, which silently turns a typo'd string into a switch on a charger."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def config_path(service: str) -> Path:
    return CONFIG_DIR / f"{service}.yaml"


def load_yaml(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except OSError as e:
        # Unreadable (permissions, a directory...): as fatal as a malformed file, and restarting
        # will not fix it, so it must end as a configuration error, not a crash loop.
        raise ConfigError(path, "", f"cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(path, "", f"not valid YAML: {where}{problem}") from None


def load_config(cls: type[T], path: str | os.PathLike[str] | None, *, required: bool = False) -> T:
    """Read `path` into the dataclass `cls`; a missing optional file gives the defaults."""
    if path is None or (not required and not Path(path).exists()):
        return cls()
    data = load_yaml(path)
    if data is None:
        data = {}
    return from_dict(cls, data, file=str(path))


def from_dict(cls: type[T], data: Any, *, file: str, prefix: str = "") -> T:
    if not isinstance(data, dict):
        raise ConfigError(file, prefix or "(top level)", f"expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(file, key, f"unknown key (known keys: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            continue
        key = f"{prefix}{name}"
        value = _convert(hints[name], data[name], file=file, key=key)
        rng = field.metadata.get("range")
        if rng is not None and isinstance(value, (int, float)) and not (rng.low <= value <= rng.high):
            raise ConfigError(file, key, f"expected a number between {rng.low:g} and {rng.high:g}, got {value!r}")
        values[name] = value
    try:
        obj = cls(**values)
    except (TypeError, ValueError) as e:
        raise ConfigError(file, prefix.rstrip(".") or "(top level)", str(e)) from None
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as e:
            raise ConfigError(file, prefix.rstrip(".") or "(top level)", str(e)) from None
    return obj


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__) + f" ({value!r})"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "a boolean (true/false)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _convert(tp: Any, value: Any, *, file: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, file=file, key=key)
        raise TypeError(f"unsupported config type {tp}")

    def bad() -> ConfigError:
        return ConfigError(file, key, f"expected {_type_name(tp)}, got {_kind(value)}")

    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise bad() from None
    if origin is list:
        if not isinstance(value, list):
            raise bad()
        (item,) = typing.get_args(tp)
        return [_convert(item, v, file=file, key=f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        kt, vt = typing.get_args(tp)
        return {_convert(kt, k, file=file, key=f"{key}.{k}"): _convert(vt, v, file=file, key=f"{key}.{k}")
                for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return from_dict(tp, value, file=file, prefix=f"{key}.")
    raise TypeError(f"unsupported config type {tp}")
