"""Compiled JSON encoders for the snake_case dict shape, for forwarding at speed.

``to_json(event)`` (see :mod:`aievents.wire`) builds a dict with cattrs and
then encodes it; forwarding hundreds of thousands of events a second cannot
afford both steps. :func:`encoder` generates, once per class, a function that
writes the same JSON straight from the attributes: same keys, same values,
same fields left out (a field equal to its default), so that
``json.loads(encode(event)) == to_dict(event)`` (a test checks it on every
field of every class). Only generated identifiers go into the source.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Final

import attrs

from aievents._sentinel import REQUIRED

__all__ = ["encoder"]

_DUMPS: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, allow_nan=False
).encode
_CACHE: dict[tuple[type, str | None], Callable[[Any], str]] = {}


def _decimal(value: Decimal) -> str:
    return '"' + str(value) + '"'


def _strings(values: tuple[str, ...]) -> str:
    return "[" + ",".join(map(encode_basestring, values)) + "]"


def _record(value: Mapping[str, Any]) -> str:
    return _DUMPS(dict(value))


def _kind(annotation: Any) -> Any:
    """The non-None type of an annotation such as ``str | None`` (others as they are)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def _writer(annotation: Any, namespace: dict[str, Any]) -> str:
    """The name of the function that writes a value of this type."""
    kind = _kind(annotation)
    origin = typing.get_origin(kind)
    if kind is str:
        return "_text"
    if kind is bool:
        return "_bool"
    if kind is int:
        return "str"
    if kind is float:
        return "_number"
    if kind is Decimal:
        return "_decimal"
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if item is str:
            return "_strings"
        name = f"_items_{item.__name__}"
        namespace[name] = _items(encoder(item))
        return name
    if origin is not None and issubclass(origin, Mapping):
        return "_record"
    if attrs.has(kind):
        name = f"_obj_{kind.__name__}"
        namespace[name] = encoder(kind)
        return name
    raise TypeError(f"no JSON writer for {annotation!r}")


def _items(write: Callable[[Any], str]) -> Callable[[tuple[Any, ...]], str]:
    def items(values: tuple[Any, ...]) -> str:
        return "[" + ",".join(map(write, values)) + "]"

    return items


def _bool(value: bool) -> str:
    return "true" if value else "false"


def encoder(cls: type, *, type_name: str | None = None) -> Callable[[Any], str]:
    """The compiled encoder of an attrs class (cached); ``type_name`` adds ``"type"``.

    A class with a field of a type no writer knows gets an encoder that
    raises ``TypeError``, cached too, so the class is looked at only once.
    """
    key = (cls, type_name)
    cached = _CACHE.get(key)
    if cached is None:
        try:
            cached = _compile(cls, type_name)
        except TypeError as exc:
            cached = _refuse(str(exc))
        _CACHE[key] = cached
    return cached


def _refuse(reason: str) -> Callable[[Any], str]:
    def encode(obj: Any) -> str:
        raise TypeError(reason)

    return encode


def _compile(cls: type, type_name: str | None) -> Callable[[Any], str]:
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {
        "_text": encode_basestring,
        "_number": _DUMPS,
        "_decimal": _decimal,
        "_strings": _strings,
        "_record": _record,
        "_bool": _bool,
    }
    head = "{" if type_name is None else '{"type":' + _DUMPS(type_name) + ","
    lines = ["def encode(obj):", f"    out = {head!r}"]
    for index, field in enumerate(f for f in attrs.fields(cls) if f.init):
        write = _writer(hints[field.name], namespace)
        label = _DUMPS(field.name) + ":"
        lines.append(f"    v = obj.{field.name}")
        default = field.default
        if isinstance(default, attrs.Factory) or default is REQUIRED:  # type: ignore[arg-type]
            lines.append(f"    out += {label!r} + {write}(v) + ','")
        else:
            namespace[f"_d{index}"] = default
            lines.append(f"    if v != _d{index}:")
            lines.append(f"        out += {label!r} + {write}(v) + ','")
    lines.append("    return (out[:-1] if out[-1] == ',' else out) + '}'")
    exec(compile("\n".join(lines), f"<aievents json {cls.__name__}>", "exec"), namespace)
    encode: Callable[[Any], str] = namespace["encode"]
    return encode
