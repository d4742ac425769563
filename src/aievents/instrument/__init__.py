"""Instrumentation: turn image-generation calls into events.

- :func:`instrument_openai` for the openai SDK (sync and async, streaming).
- :func:`instrument_google_genai` for google-genai (imported when first
  asked for).
- :class:`image_request` for any other provider, as a context manager or a
  decorator, with :func:`current_request` inside.
"""

from typing import TYPE_CHECKING

from aievents._lazy import lazy
from aievents.instrument._request import ImageRequest
from aievents.instrument.generic import current_request, image_request
from aievents.instrument.openai import instrument_openai, is_instrumented, uninstrument_openai

if TYPE_CHECKING:
    from aievents.instrument.google import instrument_google_genai, uninstrument_google_genai

__all__ = [
    "ImageRequest",
    "current_request",
    "image_request",
    "instrument_google_genai",
    "instrument_openai",
    "is_instrumented",
    "uninstrument_google_genai",
    "uninstrument_openai",
]

_GOOGLE = "aievents.instrument.google"
__getattr__, __dir__ = lazy(
    __name__, {"instrument_google_genai": _GOOGLE, "uninstrument_google_genai": _GOOGLE}
)
