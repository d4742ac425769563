"""One google-genai ``generate_content`` call: what it asks for, and what its answer tells.

:class:`GeminiCall` reads a call's arguments (model, resolution tier, whether
it asks for images) and reports its answer, its stream or its failure:

- an answer with image parts: started, completed and usage, with Gemini's
  ``response_id`` as request id, the answer's ``model_version`` as model,
  the tier (``image_config.image_size``, ``1K`` by default) as size;
- an answer whose images a filter held back (``IMAGE_SAFETY``...): completed
  with no image, its usage (the prompt's tokens) priced, no image billed;
- an answer without images (a text call): nothing at all;
- a failure of a call that asks for images (``IMAGE`` in
  ``response_modalities``, or a model the price table knows):
  ``image:request:error``, with the status code of an HTTP error
  (``google.genai.errors.APIError``), none for any other exception (the
  network, a timeout, the call cancelled);
- a stream (:class:`GeminiStream`): costed once, from its last usage, its
  images counted over all chunks; one cut short or let go of is reported
  as the openai instrumentation reports its streams.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import attrs

from aievents.adapters.google import read_response
from aievents.events import ImageOutput
from aievents.instrument._request import ImageRequest, moment, report_failure
from aievents.instrument._settings import Settings
from aievents.instrument._watch import StreamWatch, follow, follow_async
from aievents.usage import ImageUsage

__all__ = ["PROVIDER", "GeminiCall", "followed", "followed_async"]

PROVIDER: Final = "google"
#: The resolution tier Google documents for a request that names none.
DEFAULT_TIER: Final = "1K"


def _get(holder: Any, name: str) -> Any:
    """A field of the SDK's config object or of the same config as a dict."""
    if holder is None:
        return None
    if isinstance(holder, dict):
        return holder.get(name)
    return getattr(holder, name, None)


def _config(config: Any) -> Any:
    """The call's config as the SDK reads it: a dict (snake_case or camelCase) validated.

    A dict the SDK would refuse gives None here (the call itself raises).
    """
    if not isinstance(config, dict):
        return config
    types = sys.modules.get("google.genai.types")
    if types is None:
        return None
    try:
        return types.GenerateContentConfig.model_validate(config)
    except ValueError:  # pydantic's ValidationError: the SDK refuses it too
        return None


def _texts(contents: Any) -> Iterator[str]:
    """The text parts of ``contents``: a text, a ``Part``, a ``Content``, or a list of them."""
    if isinstance(contents, str):
        yield contents
    elif isinstance(contents, (list, tuple)):
        for item in contents:
            yield from _texts(item)
    elif contents is not None:
        parts = _get(contents, "parts")
        if isinstance(parts, (list, tuple)):
            yield from _texts(parts)
            return
        text = _get(contents, "text")
        if isinstance(text, str):
            yield text


def _prompt(contents: Any) -> str | None:
    """The prompt's text: its text parts joined by new lines; None when it has none."""
    return "\n".join(_texts(contents)) or None


class GeminiCall:
    """One call of ``generate_content`` or ``generate_content_stream``, and its report."""

    def __init__(self, settings: Settings, kwargs: dict[str, Any], *, streaming: bool) -> None:
        self.settings = settings
        model = str(kwargs.get("model") or "")
        self.model = model.removeprefix("models/")
        self.config = _config(kwargs.get("config"))
        self.contents = kwargs.get("contents")
        self.streaming = streaming
        self.request: ImageRequest | None = None

    def begin(self) -> ImageRequest:
        """The request, from now (when it is sent)."""
        image_config = _get(self.config, "image_config")
        tier = _get(image_config, "image_size")
        prompt = _prompt(self.contents) if self.settings.capture_prompts else None
        count = _get(self.config, "candidate_count")
        self.request = ImageRequest(
            provider=PROVIDER,
            model=self.model or "unknown",
            size=str(tier) if tier else DEFAULT_TIER,
            number_of_images=count if isinstance(count, int) and count > 0 else 1,
            prompt=prompt,
            streaming=self.streaming,
            client=self.settings.events,
            prices=self.settings.prices,
        )
        return self.request

    def asks_images(self) -> bool:
        """Whether the call asks for images: ``IMAGE`` among its modalities, or an image model."""
        modalities = _get(self.config, "response_modalities") or ()
        for modality in modalities:
            if str(getattr(modality, "value", modality)).upper() == "IMAGE":
                return True
        return self.settings.prices.lookup(self.model, PROVIDER) is not None

    # ------------------------------------------------------------------ ends

    def answered(self, result: Any) -> None:
        """Report a plain call's answer (nothing when it made no image)."""
        answer = read_response(result)
        if answer is None:
            report_failure("google answer", TypeError(f"unknown answer {type(result).__name__}"))
            return
        request = self.request or self.begin()
        request.update(request_id=answer.request_id)
        request.learn_model(answer.model)
        outputs = _outputs(result) if self.settings.capture_outputs else None
        self.finish(answer.images or 0, answer.filtered or 0, answer.usage, outputs)

    def finish(
        self,
        images: int,
        filtered: int,
        usage: ImageUsage | None,
        outputs: tuple[ImageOutput, ...] | None,
    ) -> bool:
        """Complete the request with what the answer made; False when it is no image request."""
        request = self.request
        if request is None or not (images or (filtered and self.asks_images())):
            return False
        if usage is not None:
            if not images and usage.output_tokens is None:
                # Held back: nothing came out, and only the prompt is billed.
                usage = attrs.evolve(usage, output_tokens=0)
            request.record_usage(usage)
        request.record_images(images)
        request.outputs = outputs or None
        request.complete()
        return True

    def failed(self, error: BaseException) -> None:
        """Report the failure of a call that asks for images: any exception.

        An HTTP error (``APIError``) gives its status code; any other (the
        network, a timeout, a stream broken off) none.
        """
        if not self.asks_images():
            return
        status = getattr(error, "code", None) if _is_api_error(error) else None
        request = self.request or self.begin()
        request.fail(error, status_code=status if isinstance(status, int) else None)


def _is_api_error(error: BaseException) -> bool:
    """Whether ``error`` is google-genai's ``APIError`` (or one of its subclasses)."""
    return any(
        cls.__name__ == "APIError" and cls.__module__ == "google.genai.errors"
        for cls in type(error).__mro__
    )


def _outputs(chunk: Any) -> tuple[ImageOutput, ...]:
    """The images of an answer (or a chunk), base64-encoded, for ``capture_outputs``."""
    found = []
    for candidate in _get(chunk, "candidates") or ():
        content = _get(candidate, "content")
        for part in _get(content, "parts") or ():
            data = _get(part, "inline_data")
            mime = _get(data, "mime_type")
            if isinstance(mime, str) and mime.startswith("image/"):
                raw = _get(data, "data")
                text = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
                found.append(ImageOutput(b64_json=text if isinstance(text, str) else None))
    return tuple(found)


class GeminiStream(StreamWatch):
    """Follows a Gemini stream: image parts counted over all chunks, the last usage kept.

    Ended by itself: completed when images came (or a filter held them
    back), else nothing. Failed: completed with the images that came, else
    an error if the call asked for images (whatever the exception). Let go
    of part-way (closed, collected, left at exit): completed with the
    images that came, or one if none came yet and the call asked for
    images, priced per image for its tier (its usage never came), stamped
    with the time the first chunk arrived.
    """

    what = "google"

    def __init__(self, call: GeminiCall) -> None:
        super().__init__(call.begin())
        self.call = call
        self.chunks = 0
        self.images = 0
        self.filtered = 0
        self.usage: ImageUsage | None = None
        self.outputs: tuple[ImageOutput, ...] = ()

    def see(self, item: Any) -> None:
        """One chunk: its images, its usage (the last one is the answer's), its ids."""
        self.chunks += 1
        if self.chunks == 1:
            self.arrived = moment()
        answer = read_response(item)
        if answer is None:
            return
        if answer.request_id is not None and self.request.request_id is None:
            self.request.update(request_id=answer.request_id)
        self.request.learn_model(answer.model)
        self.images += answer.images or 0
        self.filtered += answer.filtered or 0
        if answer.usage is not None:
            self.usage = answer.usage
        if self.call.settings.capture_outputs and answer.images:
            self.outputs += _outputs(item)

    def end(self, error: BaseException | None = None) -> None:
        """Report the request as the stream left it (once)."""
        if not self.claim():
            return
        if self.call.finish(self.images, self.filtered, self.usage, self.outputs):
            return
        if error is not None:
            self.call.failed(error)

    def abandon(self) -> None:
        """The caller let go of the stream before its end: book what it made (once)."""
        if not self.claim() or not self.began:
            return
        images = self.images or (1 if self.call.asks_images() else 0)
        self.request.answered(self.arrived)
        self.call.finish(images, self.filtered, self.usage, self.outputs)


def followed(inner: Iterator[Any], call: GeminiCall) -> Iterator[Any]:
    """The SDK's chunks, untouched, followed from the first read (when the request is sent)."""
    yield from follow(inner, GeminiStream(call))


async def followed_async(inner: AsyncIterator[Any], call: GeminiCall) -> AsyncIterator[Any]:
    """:func:`followed` for ``client.aio``: the stream closed with ours."""
    stream = follow_async(inner, GeminiStream(call))
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()
