"""The sentinel default of required fields."""

from __future__ import annotations

from typing import Any, Final


class _Required:
    """Sentinel default of a required field: validation reports it as missing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self) -> str:
        return "REQUIRED"


REQUIRED: Final[Any] = _Required()
