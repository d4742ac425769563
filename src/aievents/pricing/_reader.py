"""Reading a price file: every problem by path and value, or the first one as an error.

The parser of the price table reads through a :class:`Reader`, which notes
each problem it finds (a :class:`PriceProblem`: where, what was there, what
was expected) and goes on, so that one pass finds them all:
:func:`aievents.pricing.check_prices` lists them and
:meth:`aievents.pricing.PriceTable.from_dict` refuses the whole table with
the first.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from aievents._redact import scrub_text
from aievents.exceptions import PriceTableError

_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


@attrs.frozen(slots=True)
class PriceProblem:
    """One thing wrong in a price file.

    The path and the reason are scrubbed of secret-looking words (an alias
    or model named like a key) as the problem is made: whatever shows them
    (an error, ``aievents prices --check``, its JSON) shows them scrubbed.

    Attributes:
        path: Where: ``models[3](gpt-image-2).per_image[0].price``,
            ``aliases.dalle3``, ``format`` (empty for the file as a whole).
        value: What was there (``None`` when missing).
        reason: What was expected, in words.
    """

    path: str = attrs.field(converter=scrub_text)
    value: Any
    reason: str = attrs.field(converter=scrub_text)

    def __str__(self) -> str:
        # The error's words: a value under a name that looks secret is not shown.
        return str(PriceTableError(self.path or "(file)", self.value, self.reason))

    def error(self, source: str, more: int = 0) -> PriceTableError:
        """This problem as the error that refuses the table read from ``source``."""
        reason = self.reason
        if more:
            reason += f" (and {more} more problem{'s' if more > 1 else ''} in the file)"
        return PriceTableError(self.path or "path", self.value, reason, owner=source)


class Repeated(dict[str, Any]):
    """A JSON object whose keys may repeat: it keeps the first value and notes the others.

    ``json.loads(text, object_pairs_hook=Repeated.of)`` makes one of these for
    each object, so that the parser can refuse a key given twice (an alias
    mapped to two models) that plain ``json`` would silently reduce to one.
    """

    repeated: list[tuple[str, Any]]

    @classmethod
    def of(cls, pairs: list[tuple[str, Any]]) -> Repeated:
        """The object of ``pairs`` (the ``object_pairs_hook`` of :func:`json.loads`)."""
        found = cls()
        found.repeated = []
        for key, value in pairs:
            if key in found:
                found.repeated.append((key, value))
            else:
                found[key] = value
        return found


class Reader:
    """Reads the parts of a price file, noting every problem instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[PriceProblem] = []

    def problem(self, path: str, value: Any, reason: str) -> None:
        """Note a problem at ``path``."""
        self.problems.append(PriceProblem(path, value, reason))

    def mapping(self, value: Any, path: str, what: str) -> Mapping[str, Any] | None:
        """``value`` if it is an object (a key given twice is a problem), else ``None``."""
        if not isinstance(value, Mapping):
            self.problem(path, value, f"must be {what}")
            return None
        for key, again in getattr(value, "repeated", ()):
            if again != value[key]:
                where = f"{path}.{key}" if path else key
                self.problem(where, again, f"is given twice (first {value[key]!r})")
        return value

    def record(
        self, value: Any, path: str, what: str, fields: frozenset[str]
    ) -> Mapping[str, Any] | None:
        """``value`` if it is an object of ``fields`` only (others are problems), else ``None``."""
        found = self.mapping(value, path, what)
        if found is not None:
            self.keys(found, path, fields)
        return found

    def keys(self, data: Mapping[str, Any], path: str, allowed: frozenset[str]) -> None:
        """A key ``data`` has beyond ``allowed`` is a problem (a misspelt field)."""
        for key in data:
            if key not in allowed:
                self.problem(f"{path}.{key}" if path else key, data[key], "is not a field here")

    def amount(self, value: Any, path: str) -> Decimal | None:
        """An exact, finite, non-negative amount from a string, int or Decimal."""
        if value is None:
            self.problem(path, None, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            self.problem(path, value, "must be an amount as a string such as '0.040'")
            return None
        try:
            amount = Decimal(value)
        except InvalidOperation:
            self.problem(path, value, "must be a decimal amount such as '0.040'")
            return None
        if not amount.is_finite() or amount < 0:
            self.problem(path, value, "must be a finite, non-negative amount")
            return None
        return amount

    def count(self, value: Any, path: str) -> int | None:
        """A whole, positive number (of tokens, of pixels)."""
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.problem(path, value, "must be a whole number above 0")
            return None
        return value

    def text(self, value: Any, path: str, *, required: bool = False) -> str | None:
        """A non-empty string, or ``None`` when absent and not required."""
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            self.problem(path, value, "must be a non-empty string")
            return None
        return value

    def date(self, value: Any, path: str, *, required: bool = False) -> datetime.date | None:
        """An ISO date (``2026-12-01``), or ``None`` when absent and not required."""
        if value is None and not required:
            return None
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                pass
        self.problem(path, value, "must be an ISO date such as '2026-12-01'")
        return None

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str | None:
        """One of ``choices``."""
        if value in choices and isinstance(value, str):
            return value
        self.problem(path, value, f"must be one of {', '.join(map(repr, choices))}")
        return None

    def raise_first(self, source: str) -> None:
        """Raise the first problem noted (naming ``source``), if any."""
        if self.problems:
            raise self.problems[0].error(source, len(self.problems) - 1)
