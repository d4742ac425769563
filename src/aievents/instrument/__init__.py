"""Instrumentation: turn image-generation calls into events.

- :func:`instrument_openai` for the openai SDK (sync and async, streaming).
- :func:`instrument_google_genai` for google-genai (imported when first
  asked for).
- :func:`instrument_bedrock` for Amazon Bedrock's image models (boto3;
  imported when first asked for).
- :func:`instrument_replicate` for the replicate SDK (imported when first
  asked for).
- :func:`instrument_fal` for fal's client (imported when first asked for).
- :class:`image_request` for any other provider, as a context manager or a
  decorator, with :func:`current_request` inside.
"""

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from aievents._lazy import lazy
from aievents.instrument import openai as _openai
from aievents.instrument._request import ImageRequest
from aievents.instrument.generic import current_request, image_request
from aievents.instrument.openai import instrument_openai, uninstrument_openai

if TYPE_CHECKING:
    from aievents.instrument.bedrock import instrument_bedrock, uninstrument_bedrock
    from aievents.instrument.fal import instrument_fal, uninstrument_fal
    from aievents.instrument.google import instrument_google_genai, uninstrument_google_genai
    from aievents.instrument.replicate import instrument_replicate, uninstrument_replicate

__all__ = [
    "ImageRequest",
    "current_request",
    "image_request",
    "instrument_bedrock",
    "instrument_fal",
    "instrument_google_genai",
    "instrument_openai",
    "instrument_replicate",
    "is_instrumented",
    "uninstrument_bedrock",
    "uninstrument_fal",
    "uninstrument_google_genai",
    "uninstrument_openai",
    "uninstrument_replicate",
]

_GOOGLE = "aievents.instrument.google"
_BEDROCK = "aievents.instrument.bedrock"
_REPLICATE = "aievents.instrument.replicate"
_FAL = "aievents.instrument.fal"


class _Sdk(NamedTuple):
    """An SDK whose clients ``is_instrumented`` asks its own instrumentation about."""

    #: The SDK's top module (its submodules count as it too).
    module: str
    #: Its clients' classes, as (module, name); subclasses count.
    clients: tuple[tuple[str, str], ...]
    #: The instrumentation module, with its own ``is_instrumented``.
    instrumentation: str
    #: Other top modules that count as the SDK (where its patch lives).
    also: tuple[str, ...] = ()

    def owns(self, client: Any) -> bool:
        """Whether ``client`` is this SDK's module or one of its clients.

        The SDK is asked only when it is loaded: a client of it cannot exist
        otherwise.
        """
        if isinstance(client, ModuleType):
            name = client.__name__
            return any(
                name == module or name.startswith(f"{module}.")
                for module in (self.module, *self.also)
            )
        for module, name in self.clients:
            kind = getattr(sys.modules.get(module), name, None)
            if isinstance(kind, type) and isinstance(client, kind):
                return True
        return False


#: The SDKs other than openai's, whose clients ``is_instrumented`` recognises.
_SDKS: Final = (
    _Sdk(
        "google.genai",
        (("google.genai.client", "Client"), ("google.genai.client", "AsyncClient")),
        _GOOGLE,
    ),
    _Sdk("boto3", (("botocore.client", "BaseClient"),), _BEDROCK, ("botocore",)),
    _Sdk("replicate", (("replicate.client", "Client"),), _REPLICATE),
    _Sdk(
        "fal_client",
        (("fal_client.client", "SyncClient"), ("fal_client.client", "AsyncClient")),
        _FAL,
    ),
)


def is_instrumented(client: Any = None) -> bool:
    """Whether ``client``'s image calls are reported, or with no argument the openai SDK's classes'.

    ``client`` is an openai client (or the ``openai`` module), a
    google-genai ``Client`` (or the ``google.genai`` module), a boto3
    ``bedrock-runtime`` client (or the ``boto3`` or ``botocore`` module;
    another service's client is False), or a
    ``replicate.Client`` (or the ``replicate`` module), or a fal_client
    ``SyncClient`` or ``AsyncClient`` (or the ``fal_client`` module), subclasses
    included: it is asked of the instrumentation of its SDK (a module: of
    the process-wide instrumentation). A google-genai client's
    ``client.aio`` is refused with ``TypeError`` (pass the client). With no
    argument, whether ``instrument_openai()`` instruments every openai
    client; each instrumentation module's own ``is_instrumented()`` (such as
    ``aievents.instrument.google.is_instrumented()``) tells the same of its
    SDK.
    """
    if client is not None:
        for sdk in _SDKS:
            if sdk.owns(client):  # the SDK is loaded: importing its instrumentation is cheap
                module = importlib.import_module(sdk.instrumentation)
                asked = None if isinstance(client, ModuleType) else client
                return bool(module.is_instrumented(asked))
    return _openai.is_instrumented(client)


__getattr__, __dir__ = lazy(
    __name__,
    {
        "instrument_google_genai": _GOOGLE,
        "uninstrument_google_genai": _GOOGLE,
        "instrument_bedrock": _BEDROCK,
        "uninstrument_bedrock": _BEDROCK,
        "instrument_replicate": _REPLICATE,
        "uninstrument_replicate": _REPLICATE,
        "instrument_fal": _FAL,
        "uninstrument_fal": _FAL,
    },
)
