"""Instrumentation: turn image-generation calls into events.

- :func:`instrument_openai` for the openai SDK (sync and async, streaming).
- :func:`instrument_google_genai` for google-genai (imported when first
  asked for).
- :func:`instrument_fal` for fal's client (imported when first asked for).
- :class:`image_request` for any other provider, as a context manager or a
  decorator, with :func:`current_request` inside.
"""

import sys
from typing import TYPE_CHECKING, Any

from aievents._lazy import lazy
from aievents.instrument import openai as _openai
from aievents.instrument._request import ImageRequest
from aievents.instrument.generic import current_request, image_request
from aievents.instrument.openai import instrument_openai, uninstrument_openai

if TYPE_CHECKING:
    from aievents.instrument.fal import instrument_fal, uninstrument_fal
    from aievents.instrument.google import instrument_google_genai, uninstrument_google_genai

__all__ = [
    "ImageRequest",
    "current_request",
    "image_request",
    "instrument_fal",
    "instrument_google_genai",
    "instrument_openai",
    "is_instrumented",
    "uninstrument_fal",
    "uninstrument_google_genai",
    "uninstrument_openai",
]

_GOOGLE = "aievents.instrument.google"


def is_instrumented(client: Any = None) -> bool:
    """Whether ``client``'s image calls are reported, or with no argument the openai SDK's classes'.

    ``client`` is an openai client (or the ``openai`` module) or a
    google-genai ``Client`` or a subclass of it (or the ``google.genai``
    module): it is asked of the instrumentation of its SDK. A client's
    ``client.aio`` is refused with ``TypeError`` (pass the client). With no argument, whether
    ``instrument_openai()`` instruments every openai client;
    ``aievents.instrument.google.is_instrumented()`` tells the same of
    google-genai's.
    """
    if client is not None and _is_google(client):
        from aievents.instrument import google  # noqa: PLC0415 - google-genai loads when asked

        return google.is_instrumented(None if isinstance(client, type(sys)) else client)
    return _openai.is_instrumented(client)


def _is_google(client: Any) -> bool:
    """Whether ``client`` is google-genai's: the module, or a ``Client`` or ``AsyncClient``.

    Subclasses count. Asked of the SDK only when it is loaded (a client of
    it cannot exist otherwise).
    """
    if isinstance(client, type(sys)):
        return client.__name__ == "google.genai" or client.__name__.startswith("google.genai.")
    sdk = sys.modules.get("google.genai.client")
    kinds = tuple(
        kind
        for kind in (getattr(sdk, "Client", None), getattr(sdk, "AsyncClient", None))
        if isinstance(kind, type)
    )
    return bool(kinds) and isinstance(client, kinds)


__getattr__, __dir__ = lazy(
    __name__,
    {
        "instrument_google_genai": _GOOGLE,
        "uninstrument_google_genai": _GOOGLE,
        "instrument_fal": "aievents.instrument.fal",
        "uninstrument_fal": "aievents.instrument.fal",
    },
)
