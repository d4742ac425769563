"""ISO 8601 dates and date-times read into Unix seconds, the same on every Python aievents supports.

The forms: a date (``2024-11-01``, ``20241101``, a week date
``2024-W44-5``), optionally followed by a time (``T`` or a space;
``06:00``, ``0600``, ``06:00:00.5``) and an offset (``Z``, ``+02:00``,
``-0530``); UTC unless it gives an offset; a part second rounds up.

Read here rather than by ``datetime.fromisoformat``, whose grammar grew in
Python 3.11 (basic forms such as ``20241101``, week dates, any fraction of
a second): what the command's help and the server's parameters promise
works on 3.10 too.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

__all__ = ["NotATimeError", "iso_seconds"]

_DAY: Final = 86_400
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


class NotATimeError(ValueError):
    """Why a text is not a time (the reason is shown after the text)."""


def iso_seconds(text: str) -> int:
    """Unix seconds of an ISO 8601 date or date-time (UTC unless it gives an offset).

    Raises:
        ValueError: it is not one of the forms this module's docstring lists.
    """
    match = _ISO.fullmatch(text)
    if match is None:
        raise NotATimeError("not a form listed")
    part = match.groupdict()
    year = int(part["year"])
    try:
        if part["week"] is not None:
            day = dt.date.fromisocalendar(year, int(part["week"]), int(part["weekday"] or 1))
        else:
            month, mday = part["month"] or part["bmonth"], part["day"] or part["bday"]
            day = dt.date(year, int(month), int(mday))
    except ValueError as error:
        raise NotATimeError(str(error)) from None
    hour, minute, second = (int(part[name] or 0) for name in ("hour", "minute", "second"))
    if hour > 23 or minute > 59 or second > 59:
        raise NotATimeError("hour, minute or second out of range")
    offset = 0
    if part["sign"] is not None:
        hours, minutes = int(part["oh"]), int(part["om"] or 0)
        if hours > 23 or minutes > 59:
            raise NotATimeError("offset out of range")
        offset = (hours * 3600 + minutes * 60) * (-1 if part["sign"] == "-" else 1)
    rounded = 1 if (part["fraction"] or "0").strip("0") else 0
    return (day.toordinal() - _EPOCH) * _DAY + hour * 3600 + minute * 60 + second + rounded - offset
