"""Instrument any provider's image call: :class:`image_request`.

As a context manager (sync or async), with one line per call to record what
the provider's answer says (:meth:`ImageRequest.record`)::

    with image_request(provider="fal", model="fal-ai/flux/schnell") as req:
        result = req.record(fal_client.subscribe("fal-ai/flux/schnell", arguments=args))

As a decorator (sync or async functions); :func:`current_request` gives the
request inside::

    @image_request(provider="stability", model="sd3.5-large")
    def draw(prompt: str) -> dict:
        return current_request().record(stability.generate(prompt))

On enter it emits ``image:request:started``; on a normal exit
``image:request:completed`` then ``image:usage``; when the block raises,
``image:request:error`` and the exception goes on unchanged.

The block is the report of the call: it claims it
(:mod:`aievents.instrument._guard`), so that an instrumented SDK call made
inside it (an ``instrument_openai`` client, say) is not reported a second
time; give its answer to :meth:`ImageRequest.record` for its facts.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar, cast

from aievents.client import EventClient
from aievents.events import ImageRequestStartedEvent
from aievents.exceptions import EventValidationError
from aievents.instrument._guard import claim, release
from aievents.instrument._request import ImageRequest, guarded
from aievents.pricing import PriceBook, PriceTable, book_for

__all__ = ["current_request", "image_request"]

P = ParamSpec("P")
R = TypeVar("R")

_CURRENT: Final[ContextVar[ImageRequest | None]] = ContextVar(
    "aievents_image_request", default=None
)


def current_request() -> ImageRequest:
    """The :class:`ImageRequest` of the innermost ``image_request`` block or call.

    Raises:
        LookupError: no ``image_request`` is active in this context.
    """
    request = _CURRENT.get()
    if request is None:
        raise LookupError("current_request() is only available inside image_request")
    return request


def _guarded(request: ImageRequest, step: Callable[[], None], *, raising: bool = False) -> None:
    """Run a telemetry step: its failure is logged, not raised into the block (``guarded``)."""
    guarded(request, "image_request", step, raising=raising)


def _check_fields(
    provider: Any, model: Any, operation: Any, prompt: Any, fields: dict[str, Any]
) -> None:
    """Refuse, now, what would make the request's events fail later."""
    try:
        ImageRequestStartedEvent(
            request_id="check",
            provider=provider,
            model=model,
            operation=operation,
            prompt=prompt,
            **fields,
        )
    except TypeError as exc:
        names = ", ".join(sorted(fields))
        raise EventValidationError(
            "fields", names, f"must be image event fields ({exc})", owner="image_request"
        ) from None
    except EventValidationError as exc:
        raise exc.retarget(owner="image_request") from None


class image_request:  # noqa: N801 - used like a function, as contextlib's helpers are
    """Report one image request to any provider: a context manager and a decorator.

    Inside, :meth:`ImageRequest.record` takes the provider's answer (and
    returns it): images, usage, model, size, quality and the provider's id.
    The block claims its call, so that an instrumented SDK call inside it is
    reported by the block alone.

    Args:
        provider: The provider, such as ``stability``, ``google`` or ``fal``.
        model: The model.
        operation: ``image.generation`` (default), ``image.edit`` or
            ``image.variation``.
        size: Size of the images, when known up front.
        quality: Quality of the images, when known up front.
        number_of_images: Images requested.
        request_id: The provider's request id, when known up front
            (otherwise one is generated; an id learned later, by
            ``record`` or ``update(request_id=...)``, cannot change the
            started event's and is kept as ``correlation_id``).
        prompt: The prompt, copied into the started event only when given.
        client: The event client; the default client when omitted.
        prices: The :class:`~aievents.pricing.PriceBook` to price with; the
            process default book when omitted.
        priced_as: The model to price the request as, when ``model`` is a
            name the price table does not know (a deployment, a gateway's
            own name for a model); the events keep ``model``, and their
            cost's ``priced_model`` names the entry that priced them.
        **fields: More event fields, such as ``user_id`` or ``thread_id``.

    Raises:
        EventValidationError: ``operation`` is not one of OpenAI's values or
            ``provider``/``model`` are not non-empty strings.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        operation: str = "image.generation",
        size: str | None = None,
        quality: str | None = None,
        number_of_images: int | None = None,
        request_id: str | None = None,
        prompt: str | None = None,
        client: EventClient | None = None,
        prices: PriceBook | PriceTable | None = None,
        priced_as: str | None = None,
        **fields: Any,
    ) -> None:
        _check_fields(provider, model, operation, prompt, fields)
        if priced_as is not None and (not isinstance(priced_as, str) or not priced_as):
            raise EventValidationError(
                "priced_as", priced_as, "must be a non-empty model name", owner="image_request"
            )
        self._options: dict[str, Any] = {
            "provider": provider,
            "model": model,
            "operation": operation,
            "size": size,
            "quality": quality,
            "number_of_images": number_of_images,
            "request_id": request_id,
            "prompt": prompt,
            "client": client,
            "prices": book_for(prices),
            "fields": fields,
            "priced_as": priced_as,
        }
        #: The context tokens to restore when each active request of this object
        #: ends: the current request's, and the call's claim (None when an outer
        #: block or instrumented call holds it).
        self._restore: dict[
            ImageRequest, tuple[Token[ImageRequest | None], Token[bool] | None]
        ] = {}

    def _begin(self) -> ImageRequest:
        request = ImageRequest(**self._options)
        self._restore[request] = (_CURRENT.set(request), claim())
        _guarded(request, request.start)
        return request

    def _end(self, error: BaseException | None) -> None:
        request = _CURRENT.get()
        if request is None or request not in self._restore:
            return
        current, claimed = self._restore.pop(request)
        if claimed is not None:
            release(claimed)
        _CURRENT.reset(current)
        if error is None:
            _guarded(request, request.complete)
        else:
            _guarded(request, lambda: request.fail(error), raising=True)

    def __enter__(self) -> ImageRequest:
        return self._begin()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end(exc)

    async def __aenter__(self) -> ImageRequest:
        return self._begin()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end(exc)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``: each call is one image request."""
        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[P, Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self:
                    return await async_fn(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return fn(*args, **kwargs)

        return run
