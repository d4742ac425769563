"""The times ``--start`` and ``--end`` take, read the same on every Python aievents supports.

:func:`moment` reads ``today``, ``yesterday``, relative days, hours and
minutes (``-7d``, ``-12h``, ``-30m``), ISO 8601 dates and date-times, and
Unix seconds, into Unix seconds. ISO 8601 is read here rather than by
``datetime.fromisoformat``, whose grammar grew in Python 3.11 (basic forms
such as ``20241101``, week dates, any fraction of a second): what the help
promises works on 3.10 too.

A number is read as ISO 8601 first: eight digits are a date
(``20241101``, never 23 August 1970); Unix seconds have 9 to 11 digits
(1973 to 5138); any other number is refused rather than guessed at.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Sequence
from typing import Final

__all__ = ["LATEST", "TIMES", "iso8601", "minute", "moment", "rejoin_relative"]

DAY: Final = 86_400
#: The latest second a query takes (Unix seconds), as ``aievents.query`` checks.
LATEST: Final = 10**11
TIMES: Final = (
    "today, yesterday, -7d (00:00 UTC seven days before today), -12h, -30m, an ISO 8601 "
    "date (2024-11-01, 20241101, 2024-W44-5) or date-time (2024-11-01T06:00, "
    "2024-11-01T06:00:00.5Z, '2024-11-01 08:00+02:00'; UTC unless it gives an offset), "
    "or Unix seconds (9 to 11 digits)"
)
_RELATIVE: Final = re.compile(r"-(\d{1,7})([mhd])", re.ASCII)
_UNITS: Final = {"m": 60, "h": 3600, "d": DAY}
_ISO: Final = re.compile(
    r"(?P<year>\d{4})"
    r"(?:-(?P<month>\d{2})-(?P<day>\d{2})|(?P<bmonth>\d{2})(?P<bday>\d{2})"
    r"|-?W(?P<week>\d{2})(?:-?(?P<weekday>\d))?)"
    r"(?:[Tt ](?P<hour>\d{2})(?::?(?P<minute>\d{2})(?::?(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d+))?)?)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)?)?",
    re.ASCII,
)
_EPOCH: Final = dt.date(1970, 1, 1).toordinal()


class _NotATimeError(ValueError):
    """Why a text is not a time (the reason is shown after the text)."""


class _NumberError(_NotATimeError):
    """A number that is neither a date nor Unix seconds."""


def moment(text: str, now: float) -> int:
    """Unix seconds of a ``--start``/``--end`` value (see :data:`TIMES`), ``now`` being now.

    Relative days, hours and minutes are whole ones: ``-7d`` is 00:00 UTC
    seven days before today, ``-12h`` the start of the hour twelve hours ago.
    A part second rounds up, as ``aievents.query`` rounds a ``datetime``.

    Raises:
        argparse.ArgumentTypeError: not a time, or outside what a query
            takes (1970-01-01 to :data:`LATEST`); the message quotes the
            text (its start) and says why.
    """
    shown = repr(text[:40]) + ("..." if len(text) > 40 else "")
    try:
        seconds = _seconds(text.strip(), int(now))
    except _NumberError as error:
        raise argparse.ArgumentTypeError(f"{shown} is not a time: {error}") from None
    except _NotATimeError as error:
        raise argparse.ArgumentTypeError(f"{shown} is not a time ({error}): use {TIMES}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{shown} is before 1970-01-01T00:00:00Z")
    if seconds > LATEST:
        raise argparse.ArgumentTypeError(
            f"{shown} is after {iso8601(LATEST)}, the latest time a query takes"
        )
    return seconds


def _seconds(text: str, now: int) -> int:
    word = text.lower()
    if word in ("today", "yesterday"):
        return now - now % DAY - (DAY if word == "yesterday" else 0)
    relative = _RELATIVE.fullmatch(word)
    if relative:
        unit = _UNITS[relative[2]]
        return now - now % unit - int(relative[1]) * unit
    if not (text.isascii() and text.isdigit()):
        return iso_seconds(text)
    if 9 <= len(text) <= 11:
        return int(text)
    if len(text) == 8:  # ISO 8601 first: 20241101 is a date, not 23 August 1970
        try:
            return iso_seconds(text)
        except _NotATimeError as error:
            raise _NumberError(
                f"8 digits are a date YYYYMMDD ({error}); Unix seconds have 9 to 11 digits"
            ) from None
    raise _NumberError("a number is a date YYYYMMDD (8 digits) or Unix seconds (9 to 11 digits)")


def iso_seconds(text: str) -> int:
    """Unix seconds of an ISO 8601 date or date-time (UTC unless it gives an offset).

    Raises:
        ValueError: it is not one of the forms :data:`TIMES` lists.
    """
    match = _ISO.fullmatch(text)
    if match is None:
        raise _NotATimeError("not a form listed")
    part = match.groupdict()
    year = int(part["year"])
    try:
        if part["week"] is not None:
            day = dt.date.fromisocalendar(year, int(part["week"]), int(part["weekday"] or 1))
        else:
            month, mday = part["month"] or part["bmonth"], part["day"] or part["bday"]
            day = dt.date(year, int(month), int(mday))
    except ValueError as error:
        raise _NotATimeError(str(error)) from None
    hour, minute, second = (int(part[name] or 0) for name in ("hour", "minute", "second"))
    if hour > 23 or minute > 59 or second > 59:
        raise _NotATimeError("hour, minute or second out of range")
    offset = 0
    if part["sign"] is not None:
        hours, minutes = int(part["oh"]), int(part["om"] or 0)
        if hours > 23 or minutes > 59:
            raise _NotATimeError("offset out of range")
        offset = (hours * 3600 + minutes * 60) * (-1 if part["sign"] == "-" else 1)
    rounded = 1 if (part["fraction"] or "0").strip("0") else 0
    return (day.toordinal() - _EPOCH) * DAY + hour * 3600 + minute * 60 + second + rounded - offset


def iso8601(seconds: int) -> str:
    """ISO 8601 UTC, as CSV writes times and messages show them."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def minute(seconds: int) -> str:
    """A time to the minute, as the table shows a bucket's start."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def rejoin_relative(argv: Sequence[str]) -> list[str]:
    """``--start -7d`` as ``--start=-7d`` (``--end``, ``--since``, ``--until`` too).

    argparse takes a lone ``-7d`` for an option.
    """
    joined: list[str] = []
    for arg in argv:
        if (
            joined
            and joined[-1] in ("--start", "--end", "--since", "--until")
            and _RELATIVE.fullmatch(arg.lower())
        ):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined
