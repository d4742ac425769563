"""One Bedrock ``invoke_model`` call of an image model: its request, then its answer or failure.

:func:`begin_call` decides whether a call is an image call (the rule is in
:mod:`aievents.instrument._bedrock_request`) and gives its
:class:`BedrockCall`, which reports, all with Bedrock's request id
(``ResponseMetadata.RequestId``, the ``x-amzn-RequestId`` header):

- an answer: started, completed and usage. The answer's ``body`` is a
  ``StreamingBody`` the caller reads: it is read here and the answer given
  back with a new ``StreamingBody`` over the same bytes, so the caller reads
  exactly what Bedrock sent. The images are counted, and copied for
  ``capture_outputs``, from one reading:
  :func:`aievents.adapters.bedrock.read_invoke` (Titan's, Nova's and
  Stability's ``images``, SDXL's ``artifacts``). Titan's and Nova's ``error`` and
  Stability's filter ``finish_reasons`` make a completed request with the
  images that came (none when all were held back). A body that breaks off
  while read here is the request's error, and the caller's body raises the
  same error when read.
- a failure: ``image:request:error``; a ``ClientError`` (Bedrock's
  ``ValidationException`` 400, ``ThrottlingException`` 429,
  ``ModelErrorException`` and ``InternalServerException`` 500...) gives its
  code as the error type, its HTTP status and its request id; any other
  exception (the network, a timeout) no status.
- ``invoke_model_with_response_stream``: Bedrock refuses every image model
  there (``ValidationException``, "The model is unsupported for
  streaming."), reported as above. Were a stream to come, it would be passed
  on untouched and reported as completed, its images (and so its cost)
  unknown.
"""

from __future__ import annotations

import copy
import functools
import io
import json
from typing import Any, Final

import attrs

from aievents._bedrock_models import base_model, foundation_model
from aievents.adapters.bedrock import read_invoke
from aievents.events import ImageOutput
from aievents.instrument._bedrock_request import (
    image_ask,
    is_image_model,
    looks_like_image,
    read_body,
)
from aievents.instrument._request import ImageRequest, guarded, report_failure
from aievents.instrument._settings import Settings

__all__ = ["OPERATIONS", "PROVIDER", "SERVICE", "BedrockCall", "begin_call"]

PROVIDER: Final = "bedrock"
#: The botocore service whose calls are looked at.
SERVICE: Final = "bedrock-runtime"
_INVOKE: Final = "InvokeModel"
_STREAM: Final = "InvokeModelWithResponseStream"
#: The operations that can run an image model.
OPERATIONS: Final = frozenset({_INVOKE, _STREAM})


def begin_call(settings: Settings, operation: str, params: Any) -> BedrockCall | None:
    """The call's report, when it runs an image model; None leaves it untouched."""
    if operation not in OPERATIONS or not isinstance(params, dict):
        return None
    model_id = params.get("modelId")
    if not isinstance(model_id, str):
        return None
    image = is_image_model(model_id)
    if image is False:  # a text model: its body is not even read
        return None
    sent = params.get("body")
    if not _sendable(sent):  # botocore refuses it before sending: no request is made
        return None
    body = read_body(sent)
    if image is None and not looks_like_image(body):
        return None
    return BedrockCall(settings, model_id, body, streaming=operation == _STREAM)


def _sendable(body: Any) -> bool:
    """Whether botocore takes ``body`` (bytes, text or a file-like object) and sends a request.

    Anything else (a dict, say) fails botocore's parameter check, whose
    message shows the value, prompt included: that call is not reported.
    """
    return isinstance(body, (bytes, bytearray, str)) or hasattr(body, "read")


class BedrockCall:
    """One image call being reported (see the module)."""

    __slots__ = ("request", "settings", "streaming")

    def __init__(self, settings: Settings, model_id: str, body: Any, *, streaming: bool) -> None:
        self.settings = settings
        self.streaming = streaming
        model = foundation_model(model_id) or model_id
        base = base_model(model)
        ask = image_ask(base, body, prompts=settings.capture_prompts)
        self.request = ImageRequest(
            provider=PROVIDER,
            model=model,
            streaming=streaming,
            client=settings.events,
            prices=settings.prices,
            priced_as=base if base != model else None,
            **attrs.asdict(ask),
        )

    def returned(self, result: Any) -> Any:
        """Report the answer; the caller's ``body`` reads the same bytes as before.

        An answer not of botocore's shape (no dict, a body that is not a
        ``StreamingBody``, say from a stub) is passed on untouched and the
        request completed, its images unknown; a line is logged.
        """
        self.request.answered()
        response = result if isinstance(result, dict) else {}
        self.request.update(request_id=_request_id(response))
        if self.streaming:  # no image model streams on Bedrock: its images are not counted
            self.request.complete()
            return result
        drained = _drained(response)
        if drained is None:
            shown = type(response.get("body") if response else result).__name__
            report_failure("bedrock answer", TypeError(f"bedrock answer body is {shown}"))
            self.request.complete()
            return result
        data, broken = drained
        if broken is not None:
            self.request.fail(broken)
            return result
        try:
            payload = json.loads(data)
        except ValueError as exc:
            report_failure("bedrock answer", exc)
            self.request.complete()
            return result
        guarded(self.request, "bedrock answer", lambda: self._record(payload))
        self.request.complete()
        return result

    def _record(self, payload: Any) -> None:
        """The answer's images, counted and (``capture_outputs``) copied from one reading."""
        found = read_invoke(payload)
        self.request.record(payload if found is None else found.answer)
        if found is not None and self.settings.capture_outputs:
            self.request.outputs = tuple(ImageOutput(b64_json=b64) for b64 in found.images) or None

    def failed(self, error: BaseException) -> None:
        """Report the call's failure: a ``ClientError``'s code, status and request id."""
        response = getattr(error, "response", None) if _is_client_error(error) else None
        if not isinstance(response, dict):
            self.request.fail(error)
            return
        self.request.update(request_id=_request_id(response))
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        details = response.get("Error") or {}
        code, message = details.get("Code"), details.get("Message")
        self.request.fail(
            error,
            status_code=status if isinstance(status, int) else None,
            error_type=code if isinstance(code, str) and code else None,
            message=message if isinstance(message, str) else None,
        )


def _request_id(response: dict[str, Any]) -> str | None:
    found = (response.get("ResponseMetadata") or {}).get("RequestId")
    return found if isinstance(found, str) and found else None


def _is_client_error(error: BaseException) -> bool:
    """Whether ``error`` is botocore's ``ClientError`` (or a service's subclass of it)."""
    return any(
        cls.__name__ == "ClientError" and cls.__module__ == "botocore.exceptions"
        for cls in type(error).__mro__
    )


def _drained(result: dict[str, Any]) -> tuple[bytes, BaseException | None] | None:
    """Read the answer's body, and give the caller one that reads the same.

    A body that breaks off gives the caller a body that raises an error of
    the same kind at each read, as Bedrock's own would have. None when the
    body is not a ``StreamingBody`` (left as it is).
    """
    body = result.get("body")
    if not isinstance(body, _streaming_body()):
        return None
    try:
        data = body.read()
    except Exception as exc:  # noqa: BLE001 - the caller's read raises it instead
        result["body"] = _replayed()(_Raising(exc), None)
        return b"", exc
    result["body"] = _replayed()(io.BytesIO(data), len(data))
    return data, None


def _streaming_body() -> Any:
    """botocore's ``StreamingBody`` class (the extra is loaded by now)."""
    from botocore.response import (  # type: ignore[import-untyped]  # noqa: PLC0415
        StreamingBody,
    )

    return StreamingBody


@functools.cache
def _replayed() -> Any:
    """A ``StreamingBody`` over bytes already read: no socket left to time out."""

    class ReplayedBody(_streaming_body()):  # type: ignore[misc]
        """botocore's ``StreamingBody`` over what was read of Bedrock's answer."""

        def set_socket_timeout(self, timeout: float) -> None:
            """Nothing to time: the answer was read whole (or broke off) already."""

    return ReplayedBody


class _Raising:
    """A raw stream whose every read raises an error like the one the original body raised."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        raise _fresh(self.error)

    def close(self) -> None:
        """Nothing to close: the original stream is closed."""


def _fresh(error: BaseException) -> BaseException:
    """A new exception like ``error`` (same class, arguments, cause): each read raises its own."""
    try:
        fresh = copy.copy(error)
    except Exception:  # noqa: BLE001 - an exception that will not copy is raised itself
        return error
    if fresh is error or type(fresh) is not type(error):
        return error
    fresh.__cause__, fresh.__context__ = error.__cause__, error.__context__
    fresh.__suppress_context__ = error.__suppress_context__
    return fresh.with_traceback(None)
