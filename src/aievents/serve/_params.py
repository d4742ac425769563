"""A request's query string read as OpenAI reads it, into the query module's arguments.

The parameters a route takes are those of its function in
:mod:`aievents.query` (:func:`~aievents.query.usage`,
:func:`~aievents.query.costs`), read from their signatures: a parameter
typed as a sequence is a list, one typed as an ``int`` an integer (one typed
as an ``int`` or names, as ``since`` of :func:`~aievents.query.spend`, an
integer when written as one, else the name; one the route names as taking
times, as ``since`` and ``until`` of ``spend``, an ISO 8601 date or
date-time too, read by :mod:`aievents._isotime` into Unix seconds, while
OpenAI's ``start_time`` and ``end_time`` stay integers as OpenAI reads
them), the rest strings; one without a default is required. A list is given by repeating the
parameter (``group_by=model&group_by=size``) or with brackets
(``group_by[]=model``), as OpenAI's SDKs send it; both forms may be mixed.

What this module refuses, before the query sees anything (each an
:class:`ParamError` naming the parameter, as OpenAI names it):

- a parameter the route does not take (``unknown_parameter``);
- a required parameter missing (``missing_required_parameter``);
- an integer that is not written as one (nor as an ISO 8601 time where
  one is taken), a single-valued parameter given twice or with brackets
  (``invalid_type``);
- where times are taken, a value begun as an ISO 8601 date (four digits)
  that is not one, with the reason (``invalid_value``);
- a value holding a NUL character, which no store can hold
  (``invalid_value``).

Values are checked by the query module itself (:class:`QueryError`, which
the app answers as ``invalid_value``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from aievents._isotime import NotATimeError, iso_seconds
from aievents._redact import scrub_text

__all__ = ["ParamError", "Spec", "parse", "shown", "spec_of"]

#: The query function's parameters that a request does not give.
_NOT_ASKED: Final = frozenset({"source", "now"})
#: An integer as a query string writes one (the query checks its range).
_INTEGER: Final = re.compile(r"-?[0-9]{1,30}")
#: The start of an ISO 8601 date (a year), where a route takes times.
_YEAR: Final = re.compile(r"[0-9]{4}")
#: Longest text of a value or name an error quotes.
_QUOTED: Final = 80


class ParamError(Exception):
    """A query parameter the request got wrong, as an OpenAI error names it.

    Attributes:
        param: The parameter, as the request named it (without brackets).
        code: OpenAI's code for what is wrong (``unknown_parameter``...).
        message: The sentence the error object carries.
    """

    def __init__(self, param: str, code: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.code = code
        self.message = message


@attrs.frozen
class _Param:
    """How one parameter is read."""

    many: bool
    integer: bool
    required: bool
    named: bool = False
    dated: bool = False


#: A route's parameters by name.
Spec = Mapping[str, _Param]


def spec_of(function: Callable[..., Any], times: Iterable[str] = ()) -> Spec:
    """The parameters a query function takes from a request, read from its signature.

    ``times``: the parameters that take ISO 8601 times besides integers.
    """
    dated = set(times)
    found = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in _NOT_ASKED or parameter.kind is not parameter.KEYWORD_ONLY:
            continue
        annotation = str(parameter.annotation)
        found[name] = _Param(
            many="Sequence" in annotation,
            integer=re.search(r"\bint\b", annotation) is not None and "Sequence" not in annotation,
            required=parameter.default is inspect.Parameter.empty,
            named="Literal" in annotation,
            dated=name in dated,
        )
    return found


def shown(text: str) -> str:
    """A name or value as an error quotes it: scrubbed of secrets, cut short."""
    text = scrub_text(text)
    return text if len(text) <= _QUOTED else text[: _QUOTED - 3] + "..."


def parse(items: Iterable[tuple[str, str]], spec: Spec) -> dict[str, Any]:
    """The query's keyword arguments from a query string's ``(name, value)`` pairs.

    Raises:
        ParamError: an unknown or missing parameter, or a value of the
            wrong form.
    """
    given: dict[str, list[str]] = {}
    for name, value in items:
        bare = name[:-2] if name.endswith("[]") else name
        param = spec.get(bare)
        if param is None:
            raise ParamError(
                shown(bare), "unknown_parameter", f"Unknown parameter: '{shown(name)}'."
            )
        if bare != name and not param.many:
            raise ParamError(
                bare,
                "invalid_type",
                f"Invalid type for '{bare}': expected a single value, but got a list instead.",
            )
        if "\x00" in value:  # no store can hold it (PostgreSQL refuses it in text)
            raise ParamError(bare, "invalid_value", f"Invalid value for '{bare}': a NUL character.")
        given.setdefault(bare, []).append(value)
    asked: dict[str, Any] = {}
    for name, param in spec.items():
        values = given.get(name)
        if values is None:
            if param.required:
                raise ParamError(
                    name, "missing_required_parameter", f"Missing required parameter: '{name}'."
                )
            continue
        if param.many:
            asked[name] = values
            continue
        if len(values) > 1:
            raise ParamError(
                name,
                "invalid_type",
                f"Invalid type for '{name}': expected a single value, "
                f"but got {len(values)} values instead.",
            )
        value = values[0]
        if param.integer and _INTEGER.fullmatch(value) is not None:
            asked[name] = int(value)
        elif param.dated and _YEAR.match(value):
            asked[name] = _iso_time(name, value)
        elif param.integer and not param.named:
            expected = "an integer or an ISO 8601 time" if param.dated else "an integer"
            raise ParamError(
                name,
                "invalid_type",
                f"Invalid type for '{name}': expected {expected}, "
                f"but got '{shown(value)}' instead.",
            )
        else:
            asked[name] = value  # text, or a name the query checks
    return asked


def _iso_time(name: str, text: str) -> int:
    """Unix seconds of ``text``, an ISO 8601 date or date-time, or the error naming ``name``."""
    try:
        return iso_seconds(text)
    except NotATimeError as error:
        hint = "; write an offset's + as %2B" if " " in text else ""
        raise ParamError(
            name,
            "invalid_value",
            f"Invalid value for '{name}': '{shown(text)}' is not an ISO 8601 date or "
            f"date-time ({error}{hint}).",
        ) from None
