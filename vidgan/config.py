"""Typed configs: YAML presets loaded into dataclasses, with ``key=value`` overrides.

Every field is type-checked; an unknown key or a value of the wrong type is a
:class:`~vidgan.errors.ConfigError` that names the file, the key and the valid keys.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml

from vidgan.errors import ConfigError
from vidgan.io.atomic import atomic_path

T = TypeVar("T")


#: The folder of the presets that ship inside the package; the docs name them by this prefix.
BUNDLED = "configs"


def bundled_config(name: str) -> Traversable:
    """A preset (or folder of presets) shipped with vidgan: ``bundled_config("configs/models/vid2vid_demo.yaml")``."""
    return files("vidgan").joinpath(*PurePosixPath(name).parts)


def config_source(path: str | os.PathLike[str] | Traversable) -> Path | Traversable:
    """The file a config argument means: the path itself when it exists (a user's own YAML),
    else the bundled preset of that name (``configs/pipelines/demo.yaml`` works from any folder,
    installed or not)."""
    if not isinstance(path, (str, os.PathLike)):
        return path
    given = Path(path)
    if given.is_file() or given.is_absolute() or given.parts[:1] != (BUNDLED,):
        return given
    bundled = bundled_config(given.as_posix())
    return bundled if bundled.is_file() else given


def load_config(
    cls: type[T],
    path: str | os.PathLike[str] | Traversable | None = None,
    overrides: Sequence[str] = (),
    *,
    values: Mapping[str, Any] | None = None,
) -> T:
    """Build ``cls`` from its defaults, then the YAML file at ``path`` (see :func:`config_source`),
    then ``values`` (already typed, e.g. a command's flags: ``{"settings": {"task": "faces"}}``),
    then ``key=value`` overrides (dotted keys reach nested sections: ``train.lr=1e-4``)."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        data = _read_yaml(config_source(path))
    merged = _merge(_merge(data, values or {}), parse_overrides(overrides))
    origin = source + (" + flags" if values else "") + (" + overrides" if overrides else "")
    return from_dict(cls, merged, source=origin)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=3", "name=x"]`` -> ``{"a": {"b": 3}, "name": "x"}``; values are parsed as YAML."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({_yaml_problem(error)})") from None
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is both a value and a section")
        node[parts[-1]] = value
    return result


def from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "config", prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types recursively."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: section {prefix.rstrip('.') or cls.__name__!r} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {prefix + unknown[0]!r}; valid keys: {', '.join(prefix + k for k in fields)}"
        )
    values = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, source=source, key=prefix + name)
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{source}: {error}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain YAML-able data."""
    return _plain(dataclasses.asdict(config))


def save_config(config: Any, path: str | os.PathLike[str]) -> Path:
    """Write a config as YAML (atomically); :func:`load_config` reads it back equal."""
    with atomic_path(path) as temporary:
        temporary.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    return Path(path)


def _read_yaml(path: Path | Traversable) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML ({_yaml_problem(error)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where (PyYAML's own text spans several)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _coerce(hint: Any, value: Any, *, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    def fail() -> typing.NoReturn:
        raise ConfigError(f"{source}: key {key!r} expects {_type_name(hint)}, got {value!r} ({type(value).__name__})")

    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, source=source, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, source=source, key=key)
            except ConfigError:
                continue
        fail()
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{source}: key {key!r} must be one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            fail()
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                fail()
            return tuple(_coerce(a, v, source=source, key=key) for a, v in zip(args, value))
        item = args[0] if args else Any
        items = [_coerce(item, v, source=source, key=f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            fail()
        return {k: _coerce(args[1], v, source=source, key=f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        fail()
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        fail()
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        fail()
    if hint is str:
        if isinstance(value, str):
            return value
        fail()
    if hint is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        fail()
    raise ConfigError(f"{source}: key {key!r} has an unsupported type {_type_name(hint)}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
