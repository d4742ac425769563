"""The Images API as a call kind: a begin function and the tracker of one call.

``images.generate``, ``images.edit`` and ``images.create_variation`` are
reported the same way, whether a client is instrumented on its own or
through the SDK's classes: :func:`begin` (one per operation, see
:data:`BEGIN`) turns the call's arguments into an :class:`ImageTracker`,
which the wrapper tells what the SDK returned or raised.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Final

from aievents.instrument._openai_answers import (
    fail,
    finish_answer,
    is_raw_response,
    safe,
    watch_raw,
    watch_stream,
)
from aievents.instrument._openai_call import Endpoint, Settings, request_for
from aievents.instrument._request import ImageRequest, report_failure

__all__ = ["BEGIN", "ImageTracker", "begin"]


class ImageTracker:
    """One Images API call being reported: what it returned, or raised, ends it."""

    def __init__(self, request: ImageRequest, settings: Settings) -> None:
        self.request = request
        self.capture_outputs = settings.capture_outputs

    def returned(self, result: Any) -> Any:
        """Report a call that returned; the value is the SDK's own ``result``."""
        return self._report(result, self._raw_stream(result))

    async def areturned(self, result: Any) -> Any:
        """:meth:`returned` for an async client, whose raw stream is parsed by awaiting."""
        stream = self._raw_stream(result)
        if inspect.isawaitable(stream):
            try:
                stream = await stream
            except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
                report_failure("openai", exc)
                stream = None
        return self._report(result, stream)

    def _report(self, result: Any, stream: Any) -> Any:
        request = self.request
        try:
            if is_raw_response(result):  # with_raw_response, with_streaming_response
                watch_raw(result, request, self.capture_outputs, stream=stream)
            elif request.streaming:
                return watch_stream(result, request, self.capture_outputs)
            else:
                finish_answer(request, result, self.capture_outputs)
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
            report_failure("openai", exc)
        return result

    def failed(self, error: BaseException) -> None:
        """Report the call as failed with ``error``."""
        fail(self.request, error)

    def _raw_stream(self, result: Any) -> Any:
        """The stream a raw ``stream=True`` response parses into, or None.

        The SDK caches what ``parse()`` returns: the caller's own ``parse()``
        gets this same stream. The async client's ``parse()`` gives an
        awaitable (:meth:`areturned` awaits it).
        """
        if not self.request.streaming or not is_raw_response(result):
            return None
        return safe(result.parse)


def begin(
    operation: str,
    settings: Settings,
    kwargs: dict[str, Any],
    endpoint: Endpoint,
) -> ImageTracker:
    """Start reporting one Images API call of ``operation`` (each one is an image request)."""
    request = request_for(settings, operation, kwargs, endpoint.deployment, endpoint.provider)
    return ImageTracker(request, settings)


#: The Images resource's methods and the begin function of each.
BEGIN: Final = {
    "generate": functools.partial(begin, "image.generation"),
    "edit": functools.partial(begin, "image.edit"),
    "create_variation": functools.partial(begin, "image.variation"),
}
