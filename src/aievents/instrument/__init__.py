"""Instrumentation: turn image-generation calls into events.

- :func:`instrument_openai` for the openai SDK (sync and async, streaming).
- :class:`image_request` for any other provider, as a context manager or a
  decorator, with :func:`current_request` inside.
"""

from aievents.instrument._request import ImageRequest
from aievents.instrument.generic import current_request, image_request
from aievents.instrument.openai import instrument_openai, is_instrumented, uninstrument_openai

__all__ = [
    "ImageRequest",
    "current_request",
    "image_request",
    "instrument_openai",
    "is_instrumented",
    "uninstrument_openai",
]
