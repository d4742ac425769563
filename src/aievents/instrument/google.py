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

import functools
import sys
import threading
from collections.abc import Callable
from contextvars import Token
from typing import Any, Final, TypeVar

from aievents import _unfinished as unfinished
from aievents._extras import import_extra
from aievents.client import EventClient
from aievents.instrument._google_call import GeminiCall, followed, followed_async
from aievents.instrument._guard import claim, release
from aievents.instrument._patches import Patches
from aievents.instrument._request import report_failure
from aievents.instrument._settings import Settings
from aievents.pricing import PriceBook, PriceTable, book_for

__all__ = ["instrument_google_genai", "is_instrumented", "uninstrument_google_genai"]

C = TypeVar("C")

_PLAIN: Final = "generate_content"
_STREAM: Final = "generate_content_stream"
_MARK: Final = "_aievents_instrumentation"
#: Held while instrumenting or undoing: the check and the wrapping are one step.
_LOCK: Final = threading.Lock()


class _Installed:
    """One instrumentation (process-wide, or of one client): settings, state, what it changed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.active = True
        self.patches = Patches()

    def patch(self, target: Any, name: str, value: Any) -> None:
        """Set ``target.name`` to ``value``, noting what it held for :meth:`undo`."""
        self.patches.patch(target, name, value)

    def undo(self) -> None:
        """Restore what :meth:`patch` changed, where nobody wrapped ours since.

        Where someone did, theirs stays and ours, now inactive, passes calls
        through without reporting them.
        """
        self.active = False
        self.patches.undo()


class _Process:
    """The process-wide instrumentation, when there is one."""

    installed: _Installed | None = None


_PROCESS: Final = _Process()


class _Claimed:
    """One call this instrumentation reports: the claim on it, held while the SDK call runs.

    Leaving the ``with`` block gives the claim back; a call that raised is
    reported (:meth:`GeminiCall.failed`) and its error goes on unchanged.
    """

    def __init__(self, token: Token[bool], call: GeminiCall | None) -> None:
        self.token = token
        self.call = call

    @classmethod
    def take(
        cls, installed: _Installed, kwargs: dict[str, Any], *, stream: bool
    ) -> _Claimed | None:
        """The claim on this call, or None when it is not ours to report."""
        token = claim() if installed.active else None
        if token is None:  # undone, or an outer wrapper reports this call
            return None
        if unfinished.pending():  # requests collected since: reported here, on a normal path
            _safely(unfinished.report_collected)
        call: GeminiCall | None = None
        try:
            call = GeminiCall(installed.settings, kwargs, streaming=stream)
            if not stream:  # a stream's request goes out when it is first read
                call.begin()
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
            report_failure("google", exc)
            call = None
        return cls(token, call)

    def __enter__(self) -> _Claimed:
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        release(self.token)
        if error is not None and self.call is not None:
            _safely(functools.partial(self.call.failed, error))

    def returned(self, result: Any) -> Any:
        """Report the answer; the answer itself, untouched."""
        if self.call is not None:
            _safely(functools.partial(self.call.answered, result))
        return result

    def stream(self, stream: Any) -> Any:
        """The SDK's stream, followed (its chunks untouched)."""
        return stream if self.call is None else followed(stream, self.call)

    def stream_async(self, stream: Any) -> Any:
        """The SDK's async stream, followed (its chunks untouched)."""
        return stream if self.call is None else followed_async(stream, self.call)


def _safely(step: Callable[[], Any]) -> None:
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("google", exc)


def _wrap_plain(original: Callable[..., Any], installed: _Installed) -> Any:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        claimed = _Claimed.take(installed, kwargs, stream=False)
        if claimed is None:
            return original(*args, **kwargs)
        with claimed:
            return claimed.returned(original(*args, **kwargs))

    return call


def _wrap_plain_async(original: Callable[..., Any], installed: _Installed) -> Any:
    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        claimed = _Claimed.take(installed, kwargs, stream=False)
        if claimed is None:
            return await original(*args, **kwargs)
        with claimed:
            return claimed.returned(await original(*args, **kwargs))

    return call


def _wrap_stream(original: Callable[..., Any], installed: _Installed) -> Any:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        claimed = _Claimed.take(installed, kwargs, stream=True)
        if claimed is None:
            return original(*args, **kwargs)
        with claimed:  # a generator: the request goes out at its first read
            return claimed.stream(original(*args, **kwargs))

    return call


def _wrap_stream_async(original: Callable[..., Any], installed: _Installed) -> Any:
    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        claimed = _Claimed.take(installed, kwargs, stream=True)
        if claimed is None:
            return await original(*args, **kwargs)
        with claimed:
            return claimed.stream_async(await original(*args, **kwargs))

    return call


def _wrap(installed: _Installed, target: Any, *, sync: bool) -> None:
    """Wrap ``target``'s two methods (a class, or one client's ``models``)."""
    wrappers = (
        (_PLAIN, _wrap_plain if sync else _wrap_plain_async),
        (_STREAM, _wrap_stream if sync else _wrap_stream_async),
    )
    for name, wrap in wrappers:
        installed.patch(target, name, wrap(getattr(target, name), installed))


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
        with _LOCK:
            if _PROCESS.installed is not None:
                _PROCESS.installed.settings = settings
                return None
            installed = _Installed(settings)
            _wrap(installed, models.Models, sync=True)
            _wrap(installed, models.AsyncModels, sync=False)
            _PROCESS.installed = installed
        return None
    sync, aio = _resources(client)
    with _LOCK:
        found = vars(sync).get(_MARK)
        if isinstance(found, _Installed) and found.active:
            found.settings = settings
            return client
        installed = _Installed(settings)
        _wrap(installed, sync, sync=True)
        _wrap(installed, aio, sync=False)
        installed.patch(sync, _MARK, installed)
    return client


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


def _installed_on(client: Any) -> _Installed | None:
    found = getattr(getattr(client, "models", None), "__dict__", {}).get(_MARK)
    return found if isinstance(found, _Installed) else None


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
        with _LOCK:
            if _PROCESS.installed is not None:
                _PROCESS.installed.undo()
                _PROCESS.installed = None
        return None
    _not_async_client(client, "uninstrument_google_genai")
    with _LOCK:
        installed = _installed_on(client)
        if installed is not None:
            installed.undo()
    return client


def is_instrumented(client: Any = None) -> bool:
    """Whether google-genai calls are reported: process-wide (no argument), or ``client``'s.

    A client's calls are reported when it is instrumented itself, or when
    the process-wide instrumentation is on.

    Raises:
        TypeError: ``client`` is a client's ``client.aio`` (pass the client).
    """
    if client is None:
        return _PROCESS.installed is not None
    _not_async_client(client, "is_instrumented")
    return _PROCESS.installed is not None or _installed_on(client) is not None
