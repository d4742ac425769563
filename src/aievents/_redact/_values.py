"""The rule of values: structures scrubbed item by item, fields by their own rules, reprs.

A value under a key that names a secret is replaced whole (unless it is a
count: see :mod:`aievents._redact._names`); text is scrubbed by the rule of
text; mappings, lists, tuples and sets item by item, down to
:data:`MAX_DEPTH`. Three fields have rules of their own (see :data:`SCRUB`):
an image's ``b64_json`` is kept whole when it is base64 (:func:`image_data`),
an output image's ``url`` keeps its path (:func:`output_url`), and a
transport's URL is shown by :func:`~aievents._redact.safe_url`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from aievents._redact._names import REDACTED, is_identifier_key, is_secret_key, secret_item
from aievents._redact._text import URLS, scrub_text

__all__ = [
    "MAX_DEPTH",
    "SCRUB",
    "ScrubbedRepr",
    "image_data",
    "output_url",
    "scrub",
    "scrub_outputs",
    "scrubbed_repr",
]

#: How deep :func:`scrub` goes: a container deeper than this is replaced whole.
#: Validation refuses free-form values nested deeper than 16 levels.
MAX_DEPTH: Final = 20
#: The key of an attrs field's metadata naming the rule that scrubs it, a
#: function of the value (:func:`image_data`, :func:`output_url`), instead of
#: the rules of text.
SCRUB: Final = "aievents.scrub"

#: Standard base64 (no line breaks, at most two ``=`` of padding).
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def image_data(value: Any) -> Any:
    """An image's ``b64_json``: kept whole when it is base64, else scrubbed as any value.

    Image bytes are not text anyone typed, and scrubbing them can only
    corrupt the image. Standard base64 has letters, digits, ``+``, ``/`` and
    ``=`` padding only: no dash, underscore, dot, colon, quote, ``=`` inside
    or space, so no provider key (``sk-``, ``r8_``...), bearer or basic
    credential, JWT, URL or ``name=value`` can be written in it. What the
    expressions could find there (an ``AKIA``.../``AIza``... run, 32
    hexadecimal digits between ``+`` and ``/``) only appears by chance in
    random bytes, and is kept. Anything else (text with a space, a dash, a
    data URL) is scrubbed as text.
    """
    if isinstance(value, str) and _BASE64.fullmatch(value) is not None:
        return value
    return scrub(value, opaque=False)


def _pair_name(item: Any) -> str | None:
    """The name of a name/value pair, when ``item`` is one."""
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
        return item[0]
    return None


def scrub(value: Any, *, identifier: bool = False, opaque: bool = True, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets replaced, however deep they sit.

    Mappings, lists, tuples and sets are scrubbed item by item (a value under
    a secret-named key replaced whole, one under an identifier key scrubbed
    as an identifier, one under ``b64_json`` by :func:`image_data`; keys are
    scrubbed as text).

    Args:
        value: Anything.
        identifier: ``value`` is an identifier (see :func:`scrub_text`).
        opaque: What to do with what is not text, a number, a mapping or a
            sequence: when true (for a renderer that would print it), bytes
            are replaced whole and any other object by its scrubbed
            ``repr``; when false (for a JSON encoder, which refuses them),
            they are left as they are.
        depth: How deep ``value`` sits: past :data:`MAX_DEPTH` levels a
            container (or any object) is replaced whole, whatever ``opaque``.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub_text(value, identifier=identifier)
    if depth >= MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return _scrub_mapping(value, opaque, depth)
    if isinstance(value, (list, tuple)):
        name = _pair_name(value)
        if name is not None and secret_item(name, value[1]):
            items: list[Any] = [scrub_text(name), REDACTED]
        else:
            items = [
                scrub(item, identifier=identifier, opaque=opaque, depth=depth + 1) for item in value
            ]
        return tuple(items) if isinstance(value, tuple) else items
    if not opaque:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return REDACTED
    if isinstance(value, (set, frozenset)):
        return [scrub(item, opaque=opaque, depth=depth + 1) for item in value]
    return scrub_text(repr(value))


def _scrub_mapping(value: Mapping[Any, Any], opaque: bool, depth: int) -> dict[Any, Any]:
    named = next(
        (value[k] for k in ("name", "key", "header") if isinstance(value.get(k), str)), None
    )
    hide_value = named is not None and is_secret_key(named)
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            out[key] = scrub(item, opaque=opaque, depth=depth + 1)
        elif secret_item(key, item) or (hide_value and key == "value"):
            out[scrub_text(key)] = REDACTED
        elif key in _IMAGE_DATA_KEYS:
            out[key] = image_data(item)
        else:
            out[scrub_text(key)] = scrub(
                item, identifier=is_identifier_key(key), opaque=opaque, depth=depth + 1
            )
    return out


#: Keys whose text is an image's bytes (see :func:`image_data`).
_IMAGE_DATA_KEYS: Final = frozenset({"b64_json", "b64Json"})


def scrub_outputs(outputs: Any) -> Any:
    """Produced images as mappings (``url``, ``b64_json``...), scrubbed by their own rules.

    The ``url`` of each keeps its path (:func:`output_url`: it is where the
    image is); ``b64_json`` is :func:`image_data`; the rest is scrubbed as
    by :func:`scrub`. Anything else is :func:`scrub`-bed.
    """
    if not isinstance(outputs, (list, tuple)):
        return scrub(outputs)
    shown = []
    for output in outputs:
        if isinstance(output, Mapping) and isinstance(output.get("url"), str):
            rest = scrub({k: v for k, v in output.items() if k != "url"})
            shown.append({"url": output_url(output["url"]), **rest})
        else:
            shown.append(scrub(output, depth=1))
    return shown


def _field_shown(value: Any, identifier: bool) -> str:
    """How a field's value appears in a repr: scrubbed (structures item by item)."""
    if isinstance(value, str):
        return repr(scrub_text(value, identifier=identifier))
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        value = scrub(value, identifier=identifier, opaque=False)
    return scrub_text(repr(value), identifier=identifier)


def scrubbed_repr(self: Any) -> str:
    """``ClassName(field=value, ...)`` as attrs shows it, every value scrubbed.

    Fields declared with ``repr=False`` are left out; a field's own repr
    function is used, and its answer scrubbed.
    """
    cls = type(self)
    shown = []
    for field in attrs.fields(cls):
        if field.repr is False:
            continue
        value = getattr(self, field.name, attrs.NOTHING)
        identifier = is_identifier_key(field.name)
        if callable(field.repr):
            text = scrub_text(field.repr(value), identifier=identifier)
        else:
            text = _field_shown(value, identifier)
        shown.append(f"{field.name}={text}")
    return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({', '.join(shown)})"


class ScrubbedRepr:
    """Base of attrs classes whose ``repr`` shows every field scrubbed: subclasses too.

    An application's subclass of an event gets the scrubbed repr for the
    fields it adds as for those it inherits, however attrs is asked to build
    it: ``attrs.define``/``attrs.frozen`` keep the repr set here (it is the
    class's own before attrs looks), and where attrs writes one over it
    (``repr=True``, ``@attr.s``) it is set again once the class is built.
    A repr the class body writes itself is left alone.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = scrubbed_repr  # type: ignore[method-assign]

    @classmethod
    def __attrs_init_subclass__(cls) -> None:
        own = cls.__dict__.get("__repr__")
        code = getattr(own, "__code__", None)
        if code is not None and code.co_filename.startswith("<attrs generated"):
            cls.__repr__ = scrubbed_repr  # type: ignore[method-assign]


def output_url(value: Any) -> Any:
    """An output image's ``url``: masked, its path kept (``masked_url``); scrubbed if not text."""
    return URLS.masked(value) if isinstance(value, str) else scrub(value, opaque=False)
