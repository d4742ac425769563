"""What every instrumentation is given: where to emit, how to price, what to copy."""

from __future__ import annotations

import attrs

from aievents.client import EventClient
from aievents.pricing import PriceBook, PriceTable, book_for

__all__ = ["Settings"]


@attrs.frozen
class Settings:
    """The settings an ``instrument_*`` function was given, shared by the calls it reports.

    Attributes:
        events: The event client to emit on; the default client when None.
        prices: The price book to price with.
        capture_prompts: Copy a text prompt into the started events.
        capture_outputs: Copy the images (base64) into the completed events.
    """

    events: EventClient | None
    prices: PriceBook
    capture_prompts: bool
    capture_outputs: bool

    @classmethod
    def given(
        cls,
        events: EventClient | None,
        prices: PriceBook | PriceTable | None,
        capture_prompts: bool,
        capture_outputs: bool,
    ) -> Settings:
        """The settings of an ``instrument_*`` call: its arguments, ``prices`` as a book."""
        return cls(events, book_for(prices), capture_prompts, capture_outputs)
