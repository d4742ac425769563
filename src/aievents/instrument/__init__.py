"""Instrumentation: turn image-generation calls into events.

- :func:`instrument_openai` for the openai SDK (sync and async, streaming).
- :func:`instrument_google_genai` for google-genai (imported when first
  asked for).
- :func:`instrument_replicate` for the replicate SDK (imported when first
  asked for).
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
    from aievents.instrument.google import instrument_google_genai, uninstrument_google_genai
    from aievents.instrument.replicate import instrument_replicate, uninstrument_replicate

__all__ = [
    "ImageRequest",
    "current_request",
    "image_request",
    "instrument_google_genai",
    "instrument_openai",
    "instrument_replicate",
    "is_instrumented",
    "uninstrument_google_genai",
    "uninstrument_openai",
    "uninstrument_replicate",
]

_GOOGLE = "aievents.instrument.google"
_REPLICATE = "aievents.instrument.replicate"


def is_instrumented(client: Any = None) -> bool:
    """Whether ``client``'s image calls are reported, or with no argument the openai SDK's classes'.

    ``client`` is an openai client (or the ``openai`` module), a
    google-genai ``Client`` or a subclass of it (or the ``google.genai``
    module), or a ``replicate.Client`` (or the ``replicate`` module): it is
    asked of the instrumentation of its SDK. A client's
    ``client.aio`` is refused with ``TypeError`` (pass the client). With no argument, whether
    ``instrument_openai()`` instruments every openai client;
    ``aievents.instrument.google.is_instrumented()`` tells the same of
    google-genai's.
    """
    if client is not None and _is_google(client):
        from aievents.instrument import google  # noqa: PLC0415 - google-genai loads when asked

        return google.is_instrumented(None if isinstance(client, type(sys)) else client)
    if client is not None and _is_replicate(client):
        from aievents.instrument import replicate  # noqa: PLC0415 - replicate loads when asked

        return replicate.is_instrumented(None if isinstance(client, type(sys)) else client)
    return _openai.is_instrumented(client)


def _is_replicate(client: Any) -> bool:
    """Whether ``client`` is the replicate SDK's: the module, or a ``replicate.Client``."""
    if isinstance(client, type(sys)):
        return client.__name__ == "replicate"
    kind = getattr(sys.modules.get("replicate.client"), "Client", None)
    return isinstance(kind, type) and isinstance(client, kind)


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
        "instrument_replicate": _REPLICATE,
        "uninstrument_replicate": _REPLICATE,
    },
)
