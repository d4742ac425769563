"""What leaves the process: an event with its secrets scrubbed.

Every output that writes an event outside the process (the JSON of the HTTP,
JSONL and devtools transports and of the spill, the OTLP log records and
metrics, the store's rows) encodes ``outbound(event)`` rather than the
event. In-process readers (handlers, ``to_dict``, the in-memory transport)
get the event as it was built.

:func:`outbound` applies :mod:`aievents._redact` field by field: text fields
through ``scrub_text`` (identifiers, ``*_id``, keep their 32 hexadecimal
digits), free-form mappings (options, model options, a devtools payload)
through ``scrub`` (secret-named keys replaced, text scrubbed; values JSON
cannot write are left for the encoder to refuse), nested objects (the
cost, the outputs) the same way. An event with nothing to scrub is returned
as it is, after one call of the compiled screen over its text fields
(``aievents._redact.suspect``), generated once per class.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs

from aievents._redact import SCREEN_CLASS as _SCREEN
from aievents._redact import is_identifier_key, scrub, scrub_text, suspect

__all__ = ["outbound"]

T = TypeVar("T")

_CHECKS: dict[type, Callable[[Any], bool]] = {}
#: Types that hold no text.
_NUMBERS: Final = (int, float, bool, Decimal)


def outbound(obj: T) -> T:
    """``obj`` (an event, or any attrs object) with its secrets scrubbed.

    The same object when it holds nothing to scrub; otherwise a copy (not
    validated again, not stamped again) with the scrubbed values.
    """
    check = _CHECKS.get(type(obj))
    if check is None:
        check = _CHECKS[type(obj)] = _compile(type(obj))
    if not check(obj):
        return obj
    return _scrubbed(obj)


def _scrubbed(obj: T) -> T:
    changes: dict[str, Any] = {}
    for field in attrs.fields(type(obj)):  # type: ignore[arg-type]
        if not field.init:
            continue
        value = getattr(obj, field.name)
        if value is None:
            continue
        cleaned = _clean(field.name, value)
        if cleaned is not value:
            changes[field.name] = cleaned
    if not changes:
        return obj
    twin = copy.copy(obj)
    for name, value in changes.items():
        object.__setattr__(twin, name, value)
    return twin


def _clean(name: str, value: Any) -> Any:
    """``value`` of the field ``name``, scrubbed (the same object when nothing changed)."""
    if isinstance(value, str):
        text = scrub_text(value, identifier=is_identifier_key(name))
        return value if text == value else text
    if isinstance(value, _NUMBERS):
        return value
    if attrs.has(type(value)):
        return outbound(value)
    if isinstance(value, tuple):
        items = tuple(_clean(name, item) for item in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    cleaned = scrub(value, identifier=is_identifier_key(name), opaque=False)
    try:
        same = bool(cleaned == value)
    except Exception:  # noqa: BLE001 - an object that cannot compare: keep the copy
        same = False
    return value if same else cleaned


def _kind(annotation: Any) -> Any:
    """The non-None type of an annotation such as ``str | None`` (others as they are)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def _text_free(kind: Any) -> bool:
    """Whether a value of this type can hold no text at all (numbers, and objects of them)."""
    if not isinstance(kind, type):
        return False
    if issubclass(kind, _NUMBERS):
        return True
    if not attrs.has(kind):
        return False
    try:
        found = typing.get_type_hints(kind)
    except Exception:  # noqa: BLE001 - unresolvable annotations: it may hold text
        return False
    return all(_text_free(_kind(found.get(f.name, Any))) for f in attrs.fields(kind) if f.init)


def _compile(cls: type) -> Callable[[Any], bool]:
    """``check(obj)``: whether ``obj`` may hold a secret (never False when it does)."""
    if not attrs.has(cls):
        return lambda obj: True  # not ours to know: the slow path scrubs it
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: check every field
        hints = {}
    texts: list[str] = []
    ids: list[str] = []
    nested: list[str] = []
    namespace: dict[str, Any] = {"_suspect": suspect}
    for field in attrs.fields(cls):
        if not field.init:
            continue
        kind = _kind(hints.get(field.name, Any))
        if _text_free(kind):
            continue
        if isinstance(kind, type) and attrs.has(kind):
            name = f"_check_{len(nested)}"
            namespace[name] = _nested_check
            nested.append(f"((_v := obj.{field.name}) is not None and {name}(_v))")
        elif is_identifier_key(field.name):
            ids.append(field.name)
        else:
            texts.append(field.name)  # text, lists of text, or anything else
    terms = []
    screen = _screen(cls, texts, ids)
    if screen is not None:  # the same check, compiled: read from the slots
        namespace["_screen"] = screen
        terms.append("_screen(obj)")
    else:
        if texts:
            terms.append(f"_suspect(False, {', '.join(f'obj.{name}' for name in texts)})")
        if ids:
            terms.append(f"_suspect(True, {', '.join(f'obj.{name}' for name in ids)})")
    terms.extend(nested)
    source = f"def check(obj):\n    return {' or '.join(terms) or 'False'}\n"
    exec(compile(source, f"<aievents check {cls.__name__}>", "exec"), namespace)
    check: Callable[[Any], bool] = namespace["check"]
    return check


def _screen(cls: type, texts: list[str], ids: list[str]) -> Callable[[Any], bool] | None:
    """The compiled check of these fields of ``cls`` (``aievents._speedups.Screen``), if any.

    None when the compiled module is not there (or not wanted), or when a
    field is not a slot of ``cls``.
    """
    if _SCREEN is None:
        return None
    try:
        check: Callable[[Any], bool] = _SCREEN(cls, tuple(texts), tuple(ids)).check
    except (TypeError, AttributeError):
        return None
    return check


def _nested_check(obj: Any) -> bool:
    check = _CHECKS.get(type(obj))
    if check is None:
        check = _CHECKS[type(obj)] = _compile(type(obj))
    return check(obj)
