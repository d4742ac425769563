"""Instrument google-genai's image generation: :func:`instrument_google_genai`.

``instrument_google_genai()`` wraps ``models.generate_content`` and
``models.generate_content_stream`` of the SDK's ``Models`` and
``AsyncModels`` classes (every client, made before or after, sync and
``client.aio``); ``instrument_google_genai(client)`` wraps those of one
``genai.Client`` (its ``models`` and ``aio.models``). A call that returns
images emits, all with Gemini's ``response_id`` as request id:

1. ``image:request:started``, stamped with the time the call began;
2. ``image:request:completed`` with the images made (the ``inline_data``
   image parts of the candidates);
3. ``image:usage`` with the usage by modality (``usage_metadata``) and its
   cost; the resolution tier (``config.image_config.image_size``, ``1K``
   when not given) is the event's ``size``.

A stream is costed once, from its last chunk's usage, its images counted
over all chunks. A call that returns no image (text) emits nothing; an HTTP
error (``google.genai.errors.APIError``: 400, 429, 500...) of a call that
asks for images (``IMAGE`` in ``response_modalities``, or a model the price
table knows) emits ``image:request:error`` with the status code. Images a
filter held back (``IMAGE_SAFETY``...) are a completed request with no image.

What the SDK returns and raises reaches the caller unchanged (a stream is
the SDK's own, its chunks passed through untouched). Instrumenting twice is
the same as once; :func:`uninstrument_google_genai` undoes it. A client
instrumented on its own and through the classes reports each call once.

Needs the ``google`` extra: ``pip install 'aievents[google]'``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final, TypeVar

from aievents._extras import import_extra
from aievents.client import EventClient
from aievents.instrument._google_call import GeminiCall, followed, followed_async
from aievents.instrument._installs import Installs
from aievents.instrument._settings import Settings
from aievents.instrument._wrap import Begin, Installation, wrap
from aievents.pricing import PriceBook, PriceTable, book_for

__all__ = ["instrument_google_genai", "is_instrumented", "uninstrument_google_genai"]

C = TypeVar("C")

_PLAIN: Final = "generate_content"
_STREAM: Final = "generate_content_stream"
#: The process-wide instrumentation and the clients' own (marked on their ``models``).
_INSTALLS: Final = Installs[Settings]()


class _Tracker:
    """One call reported: its answer or stream followed, or its failure."""

    __slots__ = ("call", "follow")

    def __init__(self, call: GeminiCall, follow: Callable[[Any, GeminiCall], Any] | None) -> None:
        self.call = call
        self.follow = follow

    def returned(self, result: Any) -> Any:
        """Report the answer (the answer itself, untouched), or follow the stream."""
        if self.follow is not None:
            return self.follow(result, self.call)
        self.call.answered(result)
        return result

    def failed(self, error: BaseException) -> None:
        """Report the call's failure."""
        self.call.failed(error)


def _begin(
    installed: Installation[Settings], follow: Callable[[Any, GeminiCall], Any] | None
) -> Begin:
    """A call's start: the plain call's request goes out now, a stream's at its first read."""

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Tracker:
        call = GeminiCall(installed.settings, kwargs, streaming=follow is not None)
        if follow is None:
            call.begin()
        return _Tracker(call, follow)

    return begin


def _wrap(installed: Installation[Settings], target: Any, *, sync: bool) -> None:
    """Wrap ``target``'s two methods (a class, or one client's ``models``)."""
    for name, follow in ((_PLAIN, None), (_STREAM, followed if sync else followed_async)):
        original = getattr(target, name)
        ours = wrap(
            original, _begin(installed, follow), installed, source="google", asynchronous=not sync
        )
        installed.patch(target, name, ours)


def instrument_google_genai(
    client: C | None = None,
    *,
    events: EventClient | None = None,
    prices: PriceBook | PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
) -> C | None:
    """Report the images google-genai makes as events.

    Args:
        client: A ``genai.Client``: only its calls (``models`` and
            ``aio.models``) are reported. None (the default): every client's,
            made before or after, through the SDK's ``Models`` and
            ``AsyncModels`` classes.
        events: The event client to emit on; the default client when omitted
            (looked up at each call, so ``capture_events()`` sees them).
        prices: The :class:`~aievents.pricing.PriceBook` to price with; the
            process default book when omitted.
        capture_prompts: Copy a text prompt into the started events.
        capture_outputs: Copy the images (base64) into the completed events.

    Returns:
        ``client``, instrumented (None for the process-wide instrumentation).
        Calling this again only updates the settings; the methods are
        wrapped once.

    Raises:
        ImportError: google-genai is not installed (the ``google`` extra).
        TypeError: ``client`` is not a ``genai.Client`` (no ``models`` with
            ``generate_content``), or is a client's ``client.aio`` (pass the
            client: it covers both).
    """
    models = import_extra("google.genai.models", "instrument_google_genai", "google")
    settings = Settings(
        events=events,
        prices=book_for(prices),
        capture_prompts=capture_prompts,
        capture_outputs=capture_outputs,
    )
    if client is None:
        _INSTALLS.process_wide(
            settings, lambda installed: _wrap_both(installed, models.Models, models.AsyncModels)
        )
        return None
    sync, aio = _resources(client)
    _INSTALLS.on_client(sync, settings, lambda installed: _wrap_both(installed, sync, aio))
    return client


def _wrap_both(installed: Installation[Settings], sync: Any, aio: Any) -> None:
    """Wrap the sync ``Models`` (a class, or a client's ``models``) and its async twin."""
    _wrap(installed, sync, sync=True)
    _wrap(installed, aio, sync=False)


def _not_async_client(client: Any, what: str) -> None:
    """Refuse ``client.aio``: it does not know its ``genai.Client``, which is instrumented.

    Raises:
        TypeError: ``client`` is a google-genai ``AsyncClient`` (``client.aio``).
    """
    sdk = sys.modules.get("google.genai.client")
    async_client = getattr(sdk, "AsyncClient", None)
    if isinstance(async_client, type) and isinstance(client, async_client):
        raise TypeError(
            f"{what} takes the genai.Client, not its client.aio ({type(client).__name__}):"
            " instrumenting the client covers both its models and aio.models"
        )


def _resources(client: Any) -> tuple[Any, Any]:
    """A client's ``models`` and ``aio.models``.

    Raises:
        TypeError: ``client`` has no such resources (``client.aio`` included).
    """
    _not_async_client(client, "instrument_google_genai")
    sync = getattr(client, "models", None)
    aio = getattr(getattr(client, "aio", None), "models", None)
    for resource in (sync, aio):
        if not callable(getattr(resource, _PLAIN, None)) or not hasattr(resource, "__dict__"):
            raise TypeError(f"instrument_google_genai needs a genai.Client, got {client!r}")
    return sync, aio


def uninstrument_google_genai(client: C | None = None) -> C | None:
    """Undo :func:`instrument_google_genai`; harmless when it was not done.

    With no argument, the process-wide instrumentation; with a client, that
    client's own. The SDK's own methods come back; where another library
    wrapped ours in the meantime, its wrapper stays and ours passes calls
    through without reporting them.

    Raises:
        TypeError: ``client`` is a client's ``client.aio`` (pass the client).
    """
    if client is None:
        _INSTALLS.undo_process_wide()
        return None
    _not_async_client(client, "uninstrument_google_genai")
    _INSTALLS.undo_on_client(getattr(client, "models", None))
    return client


def is_instrumented(client: Any = None) -> bool:
    """Whether google-genai calls are reported: process-wide (no argument), or ``client``'s.

    A client's calls are reported when it is instrumented itself, or when
    the process-wide instrumentation is on.

    Raises:
        TypeError: ``client`` is a client's ``client.aio`` (pass the client).
    """
    if client is None:
        return _INSTALLS.process is not None
    _not_async_client(client, "is_instrumented")
    return _INSTALLS.reports(getattr(client, "models", None))
