"""One fal call: what its arguments ask for, what fal's answer and headers tell.

:class:`FalCall` reads a call's endpoint and arguments (the endpoint is the
model; ``image_size``, ``num_images``, ``quality``, ``prompt``, image
inputs) into an :class:`~aievents.instrument._request.ImageRequest`, and
reports its result or failure:

- a result with images (``images``, or one ``image``: read by
  :func:`aievents.adapters.fal_result.read_result` through
  :meth:`ImageRequest.record`): completed and usage, with fal's request id,
  what fal billed (``x-fal-billable-units``, :func:`aievents.adapters.from_fal`)
  as ``usage.billed`` and, where the price entry prices that unit, the
  reported cost;
- a result without images (a text endpoint): nothing, unless the request
  was announced already (a queued request of an image endpoint): then
  completed with no image;
- a failure of a call that asks for images (an endpoint the price table
  knows, or ``image_size``/``num_images`` among its arguments):
  ``image:request:error``, with the status code of fal's HTTP error.

fal_client returns the body only; its response headers are heard by
:func:`listen` (around the function fal_client sends each request with)
into the :class:`Heard` of the call in progress (a context variable set
while an instrumented call runs).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Final

from aievents.adapters.fal import BILLABLE_UNITS_HEADER, from_fal
from aievents.adapters.fal_result import read_result
from aievents.events import ImageOutput
from aievents.exceptions import EventValidationError
from aievents.instrument import _args
from aievents.instrument._request import ImageRequest, report_failure
from aievents.instrument._settings import Settings
from aievents.pricing import ModelPrice
from aievents.usage import ImageUsage

__all__ = [
    "DEFAULT_SIZES",
    "PROVIDER",
    "REQUEST_ID_HEADER",
    "SIZES",
    "FalCall",
    "Heard",
    "billed_usage",
    "hearing",
    "listen",
    "listen_async",
]

PROVIDER: Final = "fal"
#: fal's ``image_size`` presets and the size each one makes.
SIZES: Final = {
    "square_hd": "1024x1024",
    "square": "512x512",
    "portrait_4_3": "768x1024",
    "portrait_16_9": "576x1024",
    "landscape_4_3": "1024x768",
    "landscape_16_9": "1024x576",
}
_WXH: Final = re.compile(r"\d+x\d+")
#: The header fal names each request with.
REQUEST_ID_HEADER: Final = "x-fal-request-id"
#: Arguments that only an image endpoint takes.
_IMAGE_ARGUMENTS: Final = ("image_size", "num_images")
#: The size an endpoint makes when no ``image_size`` is asked (fal's default preset).
DEFAULT_SIZES: Final = {
    "fal-ai/flux/dev": SIZES["landscape_4_3"],
    "fal-ai/flux/schnell": SIZES["landscape_4_3"],
}

_HEARD: Final[ContextVar[Heard | None]] = ContextVar("aievents_fal_heard", default=None)


class Heard:
    """What fal's responses said during one call: its request id, what it billed."""

    __slots__ = ("billed", "request_id")

    def __init__(self) -> None:
        self.request_id: str | None = None
        #: The last ``x-fal-billable-units`` heard.
        self.billed: str | None = None

    def hear(self, headers: Any) -> None:
        """Take the ids and the billing of one response's headers."""
        request_id = headers.get(REQUEST_ID_HEADER)
        if isinstance(request_id, str) and request_id:
            self.request_id = request_id
        units = headers.get(BILLABLE_UNITS_HEADER)
        if isinstance(units, str):
            self.billed = units


def hearing() -> tuple[Heard, Token[Heard | None]]:
    """Listen to the responses of the call starting in this context; reset with the token."""
    heard = Heard()
    return heard, _HEARD.set(heard)


def _heard(response: Any) -> None:
    heard = _HEARD.get()
    if heard is None:
        return
    try:
        heard.hear(response.headers)
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure("fal headers", exc)


def listen(send: Callable[..., Any]) -> Callable[..., Any]:
    """``send`` (fal_client's request function), its responses' headers heard."""

    @functools.wraps(send)
    def sent(*args: Any, **kwargs: Any) -> Any:
        response = send(*args, **kwargs)
        _heard(response)
        return response

    return sent


def listen_async(send: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`listen` for fal_client's async request function."""

    @functools.wraps(send)
    async def sent(*args: Any, **kwargs: Any) -> Any:
        response = await send(*args, **kwargs)
        _heard(response)
        return response

    return sent


def size_of(arguments: dict[str, Any]) -> str | None:
    """The size ``arguments`` ask for: a preset's, ``{width, height}``, or a tier.

    ``image_size`` is a preset (:data:`SIZES`), ``{"width": W, "height": H}``
    or ``"WxH"``; without it, ``resolution`` (``1K``, ``2K``, ``4K``, as
    nano-banana-pro takes it) is the size. None when neither says.
    """
    asked = arguments.get("image_size")
    if isinstance(asked, str):
        if asked in SIZES:
            return SIZES[asked]
        return asked if _WXH.fullmatch(asked) else None
    if isinstance(asked, dict):
        return _args.size(asked)
    return _args.text(arguments.get("resolution"))


def _inputs(arguments: dict[str, Any]) -> int:
    """How many images the arguments give (``image_url``, ``image_urls``)."""
    count = 1 if isinstance(arguments.get("image_url"), str) else 0
    urls = arguments.get("image_urls")
    return count + (len(urls) if isinstance(urls, (list, tuple)) else 0)


class FalCall:
    """One fal request (``run``, or a queued request from ``submit`` to its result)."""

    __slots__ = ("application", "image_arguments", "request", "settings")

    def __init__(self, settings: Settings, application: Any, arguments: Any) -> None:
        self.settings = settings
        self.application = str(application or "") or "unknown"
        given: dict[str, Any] = arguments if isinstance(arguments, dict) else {}
        # What the request needs of the arguments is read now: they are not kept
        # (a queued request stays open, and arguments can hold images inline).
        self.image_arguments = any(name in given for name in _IMAGE_ARGUMENTS)
        inputs = _inputs(given)
        prompt = given.get("prompt") if settings.capture_prompts else None
        quality = given.get("quality")
        self.request = ImageRequest(
            provider=PROVIDER,
            model=self.application,
            operation="image.edit" if inputs else "image.generation",
            size=size_of(given) or DEFAULT_SIZES.get(self.application),
            quality=quality if isinstance(quality, str) else None,
            number_of_images=_args.count(given.get("num_images")) or 1,
            image_input_count=inputs or None,
            prompt=prompt if isinstance(prompt, str) else None,
            streaming=False,
            client=settings.events,
            prices=settings.prices,
        )

    def asks_images(self) -> bool:
        """Whether the call makes images, before its answer: its endpoint, or its arguments."""
        if self.image_arguments:
            return True
        return self.settings.prices.lookup(self.application, PROVIDER) is not None

    def answered(self, result: Any, heard: Heard, *, announced: bool = False) -> None:
        """Report the result (nothing when it has no image and was not announced)."""
        request = self.request
        request.answered()
        request.update(request_id=heard.request_id)
        answer = read_result(result)
        if answer is None or not (answer.images or answer.filtered):
            if announced:
                request.record_images(0)
                self._billed(heard)
                request.complete()
            return
        request.record(answer)
        self._billed(heard)
        if self.settings.capture_outputs:
            request.outputs = _outputs(result) or None
        request.complete()

    def _billed(self, heard: Heard) -> None:
        """Record what fal billed, and its cost where the price entry prices fal's unit."""
        if heard.billed is None:
            return
        price = self.settings.prices.lookup(self.request.priced_as or self.request.model, PROVIDER)
        try:
            usage = billed_usage(heard.billed, price)
        except EventValidationError as exc:  # a header fal would not send: the request goes on
            report_failure("fal billed units", exc)
            return
        self.request.record_usage(usage)

    def failed(
        self, error: BaseException, *, announced: bool = False, error_type: str | None = None
    ) -> None:
        """Report the failure of an image call (or of a request already announced).

        ``error_type`` is the event's; by default fal's own (``error.error_type``,
        from its error body), else the exception's class name.
        """
        if not (announced or self.asks_images()):
            return
        headers = getattr(error, "response_headers", None)
        if isinstance(headers, dict):
            lowered = {str(k).lower(): v for k, v in headers.items()}
            self.request.update(request_id=lowered.get(REQUEST_ID_HEADER))
        if error_type is None:
            given = getattr(error, "error_type", None)  # fal's own, when it gives one
            error_type = given if isinstance(given, str) else None
        self.request.fail(error, error_type=error_type)


@functools.lru_cache(maxsize=256)
def billed_usage(units: str, price: ModelPrice | None) -> ImageUsage:
    """fal's billed ``units`` (:func:`~aievents.adapters.from_fal`), at ``price``'s rate of them.

    fal bills each endpoint in its own unit (images, megapixels...), which
    is the price entry's ``unit``: a ``per_billed_unit`` price of ``units``
    (an override) or else of the entry's unit prices them; the result is
    the reported cost (``usage.cost``), None without such a price. Kept for
    the values seen last (the usage is immutable, and so is the entry).
    """
    usage = from_fal({BILLABLE_UNITS_HEADER: units})
    billed = usage.billed
    if billed is None or price is None:
        return usage
    rate = price.billed_rate(billed.unit)
    if rate is None:
        rate = price.billed_rate(price.unit)
    return usage if rate is None else ImageUsage(billed=billed, cost=billed.quantity * rate)


def _outputs(result: Any) -> tuple[ImageOutput, ...]:
    """The result's images as their URLs, for ``capture_outputs``."""
    images = result.get("images") if isinstance(result, dict) else None
    if images is None and isinstance(result, dict) and isinstance(result.get("image"), dict):
        images = [result["image"]]
    found = []
    for image in images if isinstance(images, list) else ():
        url = image.get("url") if isinstance(image, dict) else None
        if isinstance(url, str) and not url.startswith("data:"):
            found.append(ImageOutput(url=url))
        elif isinstance(url, str):
            found.append(ImageOutput(b64_json=url.partition(",")[2] or None))
    return tuple(found)
