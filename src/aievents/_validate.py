"""Field validators shared by the event and usage classes.

Each validator is an attrs validator ``(instance, attribute, value)`` that
raises :class:`~aievents.exceptions.EventValidationError` naming the field and
the value. They are deliberately small and branch-light: they run on every
event built. :func:`setting` and :func:`option` check the settings of the
client, the sinks and the transports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from aievents._sentinel import REQUIRED
from aievents.exceptions import EventValidationError

#: Timestamps below this many milliseconds (1973-03-03) are taken to be seconds.
MIN_TIMESTAMP_MS: Final = 100_000_000_000
#: Timestamps above this many milliseconds (year 5138) are taken to be microseconds or worse.
MAX_TIMESTAMP_MS: Final = 100_000_000_000_000
#: The most digits an integer may have: what Python writes as text by default
#: (``sys.get_int_max_str_digits()``), so JSON can carry it both ways.
MAX_INT_DIGITS: Final = 4300
#: The smallest integer with more digits.
_INT_LIMIT: Final = 10**MAX_INT_DIGITS
_TOO_LONG: Final = f"has more than {MAX_INT_DIGITS} digits (JSON cannot carry it)"

__all__ = ["REQUIRED", "fail", "owner_of"]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def owner_of(instance: Any) -> str:
    """Name what is being built, for error messages."""
    name = getattr(type(instance), "event_type", None)
    return name if isinstance(name, str) else type(instance).__name__


def setting(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    fraction: bool = False,
    at_most: float | None = None,
) -> Any:
    """Check a numeric constructor setting and return it.

    Args:
        name: The setting, for the message.
        value: An ``int`` (with ``fraction``, an ``int`` or a ``float``; never
            a ``bool`` nor NaN), at least 0, or above 0 when ``positive``.
        positive: Whether 0 is refused.
        fraction: Whether a ``float`` is allowed.
        at_most: The largest value allowed, if any.

    Raises:
        ValueError: naming the setting and the value.
    """
    kinds = (int, float) if fraction else int
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or (isinstance(value, float) and math.isnan(value))
        or (value <= 0 if positive else value < 0)
        or (at_most is not None and value > at_most)
    ):
        kind = "number" if fraction else "integer"
        if at_most is not None:
            low = "above 0" if positive else "from 0"
            raise ValueError(f"{name} must be a {kind} {low} to {at_most:g}, got {value!r}")
        sign = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a {sign} {kind}, got {value!r}")
    return value


def option(name: str, value: Any, options: tuple[str, ...]) -> Any:
    """Check that a constructor setting is one of ``options`` and return it.

    Raises:
        ValueError: naming the setting, the choices and the value.
    """
    if value not in options:
        listing = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listing}, got {value!r}")
    return value


def fail(instance: Any, field: str, value: Any, reason: str) -> EventValidationError:
    """Build the error for ``field`` of ``instance``."""
    return EventValidationError(field, value, reason, owner=owner_of(instance))


def required(check: Validator) -> Validator:
    """Wrap ``check`` so that a missing value is reported as missing."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is REQUIRED:
            raise fail(instance, attribute.name, value, "is required")
        check(instance, attribute, value)

    return validate


def optional(check: Validator) -> Validator:
    """Wrap ``check`` so that ``None`` passes."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return validate


def string(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A ``str``."""
    if type(value) is not str and not isinstance(value, str):
        raise fail(instance, attribute.name, value, "must be a string")


def non_empty_string(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A non-empty ``str``."""
    if not isinstance(value, str) or not value:
        raise fail(instance, attribute.name, value, "must be a non-empty string")


def count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A non-negative ``int`` (``bool`` is not a count) of at most :data:`MAX_INT_DIGITS` digits."""
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise fail(instance, attribute.name, value, "must be a non-negative integer")
    if value < 0:
        raise fail(instance, attribute.name, value, "must be a non-negative integer")
    if value >= _INT_LIMIT:
        raise fail(instance, attribute.name, value, _TOO_LONG)


def boolean(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A ``bool``."""
    if value is not True and value is not False:
        raise fail(instance, attribute.name, value, "must be true or false")


def duration(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite, non-negative number of milliseconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(instance, attribute.name, value, "must be a number of milliseconds")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int past the largest float
        finite = False
    if not finite or value < 0:
        raise fail(
            instance, attribute.name, value, "must be a finite, non-negative number of milliseconds"
        )


def timestamp(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Epoch milliseconds as an ``int``, refusing values that are clearly seconds."""
    if type(value) is not int:
        if value is REQUIRED:
            raise fail(instance, attribute.name, value, "is required")
        raise fail(instance, attribute.name, value, "must be an integer of epoch milliseconds")
    if value < MIN_TIMESTAMP_MS:
        hint = (
            "looks like epoch seconds; multiply by 1000"
            if value > 0
            else "must be a positive integer of epoch milliseconds"
        )
        raise fail(instance, attribute.name, value, hint)
    if value > MAX_TIMESTAMP_MS:
        raise fail(
            instance,
            attribute.name,
            value,
            "is too large for epoch milliseconds (microseconds or nanoseconds?)",
        )


def choice(values: tuple[str, ...]) -> Validator:
    """One of ``values``."""
    allowed = frozenset(values)
    listing = ", ".join(repr(v) for v in values)

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or value not in allowed:
            raise fail(instance, attribute.name, value, f"must be one of {listing}")

    return validate


def items_of(kind: type, plural: str, singular: str) -> Validator:
    """A tuple of ``kind`` (lists are converted to tuples before this runs).

    ``plural`` and ``singular`` finish the messages: ``must be {plural}`` for
    the whole value, ``must be {singular}`` for an item, named by its index.
    """

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, tuple):
            raise fail(instance, attribute.name, value, f"must be {plural}")
        for index, item in enumerate(value):
            if not isinstance(item, kind):
                raise fail(instance, f"{attribute.name}[{index}]", item, f"must be {singular}")

    return validate


#: A tuple of ``str``.
strings: Final = items_of(str, "a list of strings", "a string")


#: How deep a free-form value (options, model options) may nest.
MAX_DEPTH: Final = 16
#: What a free-form value may hold.
JSON_VALUES: Final = (
    "JSON values only (str, finite int or float, bool, None, lists, dicts with str keys)"
)


def json_problem(value: Any, depth: int = 0) -> tuple[list[str], Any, str] | None:
    """What in ``value`` JSON cannot write losslessly, or None when nothing.

    Returns the path to the bad value (as subscripts, innermost last), the
    bad value and why. Nesting is bounded by :data:`MAX_DEPTH` (a loop ends
    there too).
    """
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return None
    if isinstance(value, int):
        return None if -_INT_LIMIT < value < _INT_LIMIT else ([], value, _TOO_LONG)
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return [], value, "must be a finite number (JSON has no NaN or infinity)"
    if isinstance(value, str):
        return None
    if isinstance(value, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            return [], value, f"nests deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            return _json_items(value, depth)
        for index, item in enumerate(value):
            found = json_problem(item, depth + 1)
            if found is not None:
                found[0].insert(0, f"[{index}]")
                return found
        return None
    if isinstance(value, Mapping):
        return [], value, f"must hold {JSON_VALUES}: a mapping that is not a dict"
    return [], value, f"must hold {JSON_VALUES}"


def _json_items(value: Mapping[Any, Any], depth: int) -> tuple[list[str], Any, str] | None:
    for key, item in value.items():
        if not isinstance(key, str):
            return [f"[{key!r}]"], key, "must have string keys"
        found = json_problem(item, depth + 1)
        if found is not None:
            found[0].insert(0, f"[{key!r}]")
            return found
    return None


def record(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A mapping with ``str`` keys whose values JSON can write losslessly.

    Finite numbers (integers of at most :data:`MAX_INT_DIGITS` digits), text,
    booleans, ``None``, lists (tuples) and dicts with ``str`` keys, nested at
    most :data:`MAX_DEPTH` levels: what every output
    can write as it is. Anything else (NaN, a ``datetime``, a ``set``,
    ``bytes``, an object) is refused here, naming where it sits and its type,
    rather than failing later, in a batch, on the way out.
    """
    if not isinstance(value, Mapping):
        raise fail(instance, attribute.name, value, "must be a mapping with string keys")
    found = _json_items(value, 0)
    if found is not None:
        path, bad, reason = found
        raise fail(instance, attribute.name + "".join(path), bad, reason)


def instance_of(cls: type, hint: str) -> Validator:
    """An instance of ``cls``; ``hint`` tells how to get one."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, cls):
            raise fail(instance, attribute.name, value, f"must be {hint}")

    return validate


def to_tuple(value: Any) -> Any:
    """attrs converter: lists become tuples, everything else is left for validation."""
    if type(value) is list:
        return tuple(value)
    return value


def to_decimal(value: Any) -> Any:
    """attrs converter: numbers and numeric strings become ``Decimal``.

    Floats go through their shortest ``repr`` so that ``0.04`` becomes
    ``Decimal("0.04")``, not the binary expansion. Anything else is left as it
    is for the validator to reject.
    """
    if value is None or type(value) is Decimal:
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else value
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return value
    return value


#: Amounts of money are below this many USD (a request costing more is an error).
MONEY_LIMIT: Final = Decimal(10**15)
#: Quantities (what a provider billed, in its unit) are below this.
QUANTITY_LIMIT: Final = Decimal(10**18)
#: The finest digit an amount or a quantity may have is ``10**FINEST_EXPONENT``:
#: with the limits above, any sum of them stays exact in the 60 digits of
#: ``aievents.money.EXACT``, and a float of one is finite and not 0.
FINEST_EXPONENT: Final = -30


def bounded_problem(value: Any, limit: Decimal, what: str, unit: str = "") -> str | None:
    """Why ``value`` is not a summable ``Decimal`` ``what`` below ``limit``; ``None`` when it is.

    Summable: finite, non-negative, below ``limit`` and with no non-zero
    digit finer than ``10**FINEST_EXPONENT``.
    """
    if type(value) is Decimal and not value:  # zero (of any exponent): the commonest amount
        return None
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        return f"must be a finite, non-negative {what}"
    if value >= limit:
        return f"must be below {limit:.0E}{unit} (it cannot be summed)"
    _, digits, exponent = value.as_tuple()
    if isinstance(exponent, int) and exponent < FINEST_EXPONENT and value:
        last = exponent + len(digits) - len("".join(map(str, digits)).rstrip("0"))
        if last < FINEST_EXPONENT:
            return f"has a digit finer than 1E{FINEST_EXPONENT} (it cannot be summed exactly)"
    return None


def money(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite, non-negative ``Decimal`` amount in USD, bounded (see :func:`bounded_problem`)."""
    problem = bounded_problem(value, MONEY_LIMIT, "amount", " USD")
    if problem:
        raise fail(instance, attribute.name, value, problem)


def quantity(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite, non-negative ``Decimal`` quantity, bounded (see :func:`bounded_problem`)."""
    if value is REQUIRED:
        raise fail(instance, attribute.name, value, "is required")
    problem = bounded_problem(value, QUANTITY_LIMIT, "number")
    if problem:
        raise fail(instance, attribute.name, value, problem)


def _opt_string(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and type(value) is not str:
        string(instance, attribute, value)


def _opt_count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (type(value) is not int or not 0 <= value < _INT_LIMIT):
        count(instance, attribute, value)


def _req_string(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not str or not value:
        if value is REQUIRED:
            raise fail(instance, attribute.name, value, "is required")
        non_empty_string(instance, attribute, value)


def hex_id(digits: int, what: str) -> Validator:
    """``None`` or ``digits`` lowercase hex digits, not all zero (a W3C trace or span id)."""
    pattern = re.compile(f"[0-9a-f]{{{digits}}}")
    zero = "0" * digits

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and (
            type(value) is not str or not pattern.fullmatch(value) or value == zero
        ):
            raise fail(
                instance,
                attribute.name,
                value,
                f"must be {what}: {digits} lowercase hex digits (not all zero)",
            )

    return validate


_TRACEPARENT: Final = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x21-\x7e]*)?"
)


def traceparent(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``None`` or a W3C ``traceparent``: ``00-<trace id, 32 hex>-<span id, 16 hex>-<flags>``.

    A later version (not ``00``, never ``ff``) may carry more after the
    flags, as the W3C recommendation lets it: its first four parts are read.
    """
    if value is None:
        return
    match = _TRACEPARENT.fullmatch(value) if type(value) is str else None
    if (
        match is None
        or match[1] == "ff"
        or (match[1] == "00" and match[5] is not None)
        or match[2] == "0" * 32
        or match[3] == "0" * 16
    ):
        raise fail(
            instance,
            attribute.name,
            value,
            "must be a W3C traceparent such as '00-<32 hex trace id>-<16 hex span id>-01'",
        )


# The hot validators are flat functions: one call per field, no wrapper.
OPT_STRING: Final[Validator] = _opt_string
OPT_COUNT: Final[Validator] = _opt_count
REQ_STRING: Final[Validator] = _req_string
OPT_BOOL: Final = optional(boolean)
OPT_STRINGS: Final = optional(strings)
OPT_RECORD: Final = optional(record)
OPT_DURATION: Final = optional(duration)
OPT_MONEY: Final = optional(money)
REQ_DURATION: Final = required(duration)
OPT_TRACE_ID: Final = hex_id(32, "a trace id")
OPT_SPAN_ID: Final = hex_id(16, "a span id")
