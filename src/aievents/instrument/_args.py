"""What an instrumentation reads from a call's arguments: counts, texts, sizes.

A call's arguments are the caller's, unchecked: a value of the wrong kind
is taken as not given (the SDK, not the telemetry, tells the caller).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["count", "size", "text"]


def count(value: Any) -> int | None:
    """``value`` when it is a positive int (not a bool), else None."""
    return value if type(value) is int and value > 0 else None


def text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def size(given: Mapping[str, Any], width: str = "width", height: str = "height") -> str | None:
    """``WxH`` from the counts under ``width`` and ``height`` of ``given``, else None."""
    wide, high = count(given.get(width)), count(given.get(height))
    return f"{wide}x{high}" if wide is not None and high is not None else None
