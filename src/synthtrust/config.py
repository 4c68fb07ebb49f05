"""Typed views of params.yaml: each stage declares a frozen dataclass; this module reads and checks them."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from synthtrust.errors import ParamsError

T = TypeVar("T")
DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The whole params file as a dict."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return params


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Turn YAML values into the annotated type: nested dataclasses, tuples, optionals."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key) if len(inner) == 1 else value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and
                                               not (hint is int and isinstance(value, bool))):
        raise ParamsError(f"{key}: expected {hint.__name__}, got {value!r}")
    return value


def parse(cls: type[T], mapping: Any, key: str) -> T:
    """Build dataclass ``cls`` from ``mapping``; unknown or ill-typed keys raise ParamsError naming ``key``."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ParamsError(f"{key}: expected a mapping, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ParamsError(f"{key}: unknown keys {unknown} (known: {sorted(names)})")
    kwargs = {name: _coerce(value, hints[name], f"{key}.{name}") for name, value in mapping.items()}
    return cls(**kwargs)


def section(cls: type[T], name: str, path: str | Path = DEFAULT_PARAMS) -> T:
    """Read section ``name`` of the params file as ``cls``."""
    params = load_params(path)
    if name not in params:
        raise ParamsError(f"{path}: missing section '{name}'")
    return parse(cls, params[name], name)
