"""The times ``--start`` and ``--end`` take, read the same on every Python aievents supports.

:func:`moment` reads ``today``, ``yesterday``, relative days, hours and
minutes (``-7d``, ``-12h``, ``-30m``), ISO 8601 dates and date-times, and
Unix seconds, into Unix seconds. ISO 8601 is read by
:mod:`aievents._isotime` (the same on every Python aievents supports, as
the server reads it).

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

from aievents._isotime import NotATimeError as _NotATimeError
from aievents._isotime import iso_seconds

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
