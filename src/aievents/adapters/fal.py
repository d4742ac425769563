"""fal: what it billed for a request, from its response headers.

fal's answers carry no usage in their body; what it billed is the
``x-fal-billable-units`` response header (beside ``x-fal-request-id``), a
number of the endpoint's own unit (images, megapixels, seconds of video...,
whichever the endpoint bills by). ``fal_client`` returns the body only, so the
headers are read where the HTTP answer is at hand (an ``httpx`` event hook, a
``requests`` response, a proxy's log).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aievents._usagemodel import Billed, ImageUsage
from aievents._validate import QUANTITY_LIMIT, bounded_problem, to_decimal
from aievents.exceptions import EventValidationError

__all__ = ["BILLABLE_UNITS_HEADER", "SHAPE_KEYS", "from_fal"]

#: The response header fal reports what it billed in.
BILLABLE_UNITS_HEADER: Final = "x-fal-billable-units"
#: Keys of which any one marks fal's response headers for ``to_image_usage``.
SHAPE_KEYS: Final = (BILLABLE_UNITS_HEADER,)
_OWNER: Final = "fal headers"


def _header(headers: Any, name: str) -> Any:
    """The value of header ``name`` (any case), or None when absent."""
    if not isinstance(headers, Mapping):
        headers = getattr(headers, "headers", headers)  # a response object
        if not isinstance(headers, Mapping):
            raise EventValidationError(
                "headers", headers, "must be a mapping of response headers", owner=_OWNER
            )
    value = headers.get(name)  # case-insensitive on httpx's and requests' headers
    if value is None:
        for key, item in headers.items():
            if isinstance(key, str) and key.lower() == name:
                return item
    return value


def from_fal(headers: Any) -> ImageUsage:
    """Build :class:`ImageUsage` from fal's response headers.

    Args:
        headers: The response's headers (``httpx.Headers``, a ``requests``
            ``CaseInsensitiveDict`` or a plain dict in any case), or the
            response itself (its ``headers`` are read).

    Returns:
        ``ImageUsage(billed=Billed(quantity, "units"))`` from
        ``x-fal-billable-units`` (the unit is the endpoint's own, so it is
        recorded as ``units``; a price entry's ``per_billed_unit`` prices it),
        or an empty :class:`ImageUsage` when the header is absent (fal
        reported nothing; the request is still on the books).

    Raises:
        EventValidationError: ``headers`` is not a mapping, or the header is
            not a finite, non-negative number below 1E+18 with no digit
            finer than 1E-30 (named with its value).
    """
    value = _header(headers, BILLABLE_UNITS_HEADER)
    if value is None:
        return ImageUsage()
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    quantity = to_decimal(value)
    problem = bounded_problem(quantity, QUANTITY_LIMIT, "number of billed units")
    if problem:
        raise EventValidationError(BILLABLE_UNITS_HEADER, value, problem, owner=_OWNER)
    return ImageUsage(billed=Billed(quantity, "units"))
