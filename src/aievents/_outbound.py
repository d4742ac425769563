"""What leaves the process: an event with its secrets scrubbed.

Every output that writes an event outside the process (the JSON of the HTTP,
JSONL and devtools transports and of the spill, the OTLP log records and
metrics, the store's rows) encodes ``outbound(event)`` rather than the
event. In-process readers (handlers, ``to_dict``, the in-memory transport)
get the event as it was built.

:func:`outbound` applies :mod:`aievents._redact` field by field, by what
each value is, whatever the field's annotation says: text through
``scrub_text`` (identifiers, ``*_id``, keep their 32 hexadecimal digits),
numbers as they are, nested attrs objects (the usage, the cost, the
outputs) the same way, anything else (options, model options, a devtools
payload, an application's own field) through ``scrub`` (secret-named keys
replaced, text scrubbed, deeper than ``MAX_DEPTH`` replaced whole; values
JSON cannot write are left for the encoder to refuse). A field whose
metadata names a rule (``aievents._redact.SCRUB``: an image's data, an
output's URL) is scrubbed by that rule.

An event with nothing to scrub is returned as it is, after one call of the
check generated once per class: the compiled ``aievents._speedups.Screen``
when built, else Python code doing the same. It reads each field's value
and answers True (take the slow path) for text that may hold a secret, a
number field holding anything but a number, a nested object of another
class than declared, a field with a rule of its own that is set, and any
other value that is not None.
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
from aievents._redact import SCRUB, is_identifier_key, scrub, scrub_text, suspect

__all__ = ["outbound"]

T = TypeVar("T")

_CHECKS: dict[type, Callable[[Any], bool]] = {}
#: Classes whose check is being written (a class nested in itself is checked as "set").
_COMPILING: set[type] = set()
#: Types that hold no text.
_NUMBERS: Final = (int, float, bool, Decimal)
#: The exact types a number field may hold and pass the check (others: a closer look).
_KINDS: Final = (type(None), int, float, bool, Decimal)


def outbound(obj: T) -> T:
    """``obj`` (an event, or any attrs object) with its secrets scrubbed.

    The same object when it holds nothing to scrub; otherwise a copy (not
    validated again, not stamped again) with the scrubbed values.
    """
    if not _check_of(type(obj))(obj):
        return obj
    return _scrubbed(obj)


def _check_of(cls: type) -> Callable[[Any], bool]:
    """The check of ``cls``, generated on first use."""
    check = _CHECKS.get(cls)
    if check is None:
        check = _CHECKS[cls] = _compile(cls)
    return check


def _scrubbed(obj: T) -> T:
    changes: dict[str, Any] = {}
    for field in attrs.fields(type(obj)):  # type: ignore[arg-type]
        if not field.init:
            continue
        value = getattr(obj, field.name)
        if value is None:
            continue
        rule = field.metadata.get(SCRUB)
        cleaned = _clean(field.name, value) if rule is None else rule(value)
        if cleaned is not value and not _same(cleaned, value):
            changes[field.name] = cleaned
    if not changes:
        return obj
    twin = copy.copy(obj)
    for name, value in changes.items():
        object.__setattr__(twin, name, value)
    return twin


def _same(cleaned: Any, value: Any) -> bool:
    try:
        return bool(cleaned == value)
    except Exception:  # noqa: BLE001 - an object that cannot compare: keep the copy
        return False


def _clean(name: str, value: Any) -> Any:
    """``value`` of the field ``name``, scrubbed (equal to it when nothing changed)."""
    identifier = is_identifier_key(name)
    if isinstance(value, str):
        return scrub_text(value, identifier=identifier)
    if isinstance(value, _NUMBERS):
        return value
    if attrs.has(type(value)):
        return outbound(value)
    if isinstance(value, tuple) and any(attrs.has(type(item)) for item in value):
        return tuple(
            outbound(item)
            if attrs.has(type(item))
            else scrub(item, identifier=identifier, opaque=False, depth=1)
            for item in value
        )
    return scrub(value, identifier=identifier, opaque=False)


def _kind(annotation: Any) -> Any:
    """The non-None type of an annotation such as ``str | None`` (others as they are)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


class _Plan:
    """A class's fields, by how the check looks at their values."""

    def __init__(self, cls: type) -> None:
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # noqa: BLE001 - unresolvable annotations: every field is text
            hints = {}
        self.texts: list[str] = []
        self.ids: list[str] = []
        self.numbers: list[str] = []
        self.nested: list[tuple[str, type]] = []
        self.others: list[str] = []
        for field in attrs.fields(cls):
            if not field.init:
                continue
            kind = _kind(hints.get(field.name, Any))
            if SCRUB in field.metadata:
                self.others.append(field.name)  # its rule decides, on the slow path
            elif isinstance(kind, type) and issubclass(kind, _NUMBERS):
                self.numbers.append(field.name)
            elif isinstance(kind, type) and attrs.has(kind) and kind not in _COMPILING:
                self.nested.append((field.name, kind))
            elif isinstance(kind, type) and attrs.has(kind):
                self.others.append(field.name)  # a class nested in itself
            elif is_identifier_key(field.name):
                self.ids.append(field.name)
            else:
                self.texts.append(field.name)  # text, lists of text, or anything else


def _compile(cls: type) -> Callable[[Any], bool]:
    """``check(obj)``: whether ``obj`` may hold a secret (never False when it does)."""
    if not attrs.has(cls):
        return lambda obj: True  # not ours to know: the slow path scrubs it
    _COMPILING.add(cls)
    try:
        return _generate(cls, _Plan(cls))
    finally:
        _COMPILING.discard(cls)


def _generate(cls: type, plan: _Plan) -> Callable[[Any], bool]:
    """The check of ``cls``: compiled when it can be, else Python code."""
    screen = _screen(cls, plan)
    if screen is not None:
        return screen
    namespace: dict[str, Any] = {"_suspect": suspect, "_KINDS": _KINDS}
    terms = []
    if plan.texts:
        terms.append(f"_suspect(False, {', '.join(f'obj.{name}' for name in plan.texts)})")
    if plan.ids:
        terms.append(f"_suspect(True, {', '.join(f'obj.{name}' for name in plan.ids)})")
    terms.extend(f"type(obj.{name}) not in _KINDS" for name in plan.numbers)
    for index, (name, kind) in enumerate(plan.nested):
        namespace[f"_kind_{index}"] = kind
        namespace[f"_check_{index}"] = _check_of(kind)
        terms.append(
            f"((_v := obj.{name}) is not None"
            f" and (type(_v) is not _kind_{index} or _check_{index}(_v)))"
        )
    terms.extend(f"obj.{name} is not None" for name in plan.others)
    source = f"def check(obj):\n    return {' or '.join(terms) or 'False'}\n"
    exec(compile(source, f"<aievents check {cls.__name__}>", "exec"), namespace)
    check: Callable[[Any], bool] = namespace["check"]
    return check


def _screen(cls: type, plan: _Plan) -> Callable[[Any], bool] | None:
    """The compiled check of ``cls`` (``aievents._speedups.Screen``), if any.

    The same answers as the Python check :func:`_compile` writes. None when
    the compiled module is not there (or not wanted), or when a field is
    not a slot of ``cls`` (nor of a nested class).
    """
    if _SCREEN is None:
        return None
    try:
        nested = []
        for name, kind in plan.nested:
            inner = _check_of(kind)
            screen = getattr(inner, "__self__", None)
            if not isinstance(screen, _SCREEN):
                return None  # the nested class has no compiled check: neither has this one
            nested.append((name, screen))
        check: Callable[[Any], bool] = _SCREEN(
            cls,
            tuple(plan.texts),
            tuple(plan.ids),
            numbers=tuple(plan.numbers),
            kinds=_KINDS,
            nested=tuple(nested),
            others=tuple(plan.others),
        ).check
    except (TypeError, AttributeError):
        return None
    return check
