"""One Bedrock ``invoke_model`` call of an image model: its request, then its answer or failure.

:func:`begin_call` decides whether a call is an image call (the rule is in
:mod:`aievents.instrument._bedrock_request`) and gives its
:class:`BedrockCall`, which reports, all with Bedrock's request id
(``ResponseMetadata.RequestId``, the ``x-amzn-RequestId`` header):

- an answer: started, completed and usage. The answer's ``body`` is a
  ``StreamingBody`` the caller reads: it is read here and the answer given
  back with a new ``StreamingBody`` over the same bytes, so the caller reads
  exactly what Bedrock sent. The images are counted by
  :func:`aievents.adapters.bedrock.read_invoke_body` (through
  :meth:`ImageRequest.record`): Titan's and Nova's ``error`` and
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

import io
import json
from typing import Any, Final

import attrs

from aievents.events import ImageOutput
from aievents.instrument._bedrock_request import (
    base_model,
    foundation_model,
    image_ask,
    is_image_model,
    looks_like_image,
    read_body,
)
from aievents.instrument._request import ImageRequest, report_failure
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
    body = read_body(params.get("body"))
    if image is None and not looks_like_image(body):
        return None
    return BedrockCall(settings, model_id, body, streaming=operation == _STREAM)


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
        """Report the answer; the caller's ``body`` reads the same bytes as before."""
        if not isinstance(result, dict):
            raise TypeError(f"bedrock answer is {type(result).__name__}, not a dict")
        self.request.answered()
        self.request.update(request_id=_request_id(result))
        if self.streaming:  # no image model streams on Bedrock: its images are not counted
            self.request.complete()
            return result
        data, broken = _drained(result)
        if broken is not None:
            self.request.fail(broken)
            return result
        try:
            payload = json.loads(data)
        except ValueError as exc:
            report_failure("bedrock answer", exc)
            self.request.complete()
            return result
        self.request.record(payload)
        if self.settings.capture_outputs:
            self.request.outputs = _outputs(payload) or None
        self.request.complete()
        return result

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


def _drained(result: dict[str, Any]) -> tuple[bytes, BaseException | None]:
    """Read the answer's body, and give the caller one that reads the same.

    A body that breaks off gives the caller a body that raises the same
    error, as Bedrock's own would have when read.
    """
    from botocore.response import (  # type: ignore[import-untyped]  # noqa: PLC0415
        StreamingBody,  # the extra, loaded by now
    )

    body = result.get("body")
    if not isinstance(body, StreamingBody):
        raise TypeError(f"bedrock answer body is {type(body).__name__}, not a StreamingBody")
    try:
        data = body.read()
    except Exception as exc:  # noqa: BLE001 - the caller's read raises it instead
        result["body"] = StreamingBody(_Raising(exc), None)
        return b"", exc
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    return data, None


class _Raising:
    """A raw stream whose reading raises the error the original body raised."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        raise self.error

    def close(self) -> None:
        """Nothing to close: the original stream is closed."""


def _outputs(payload: Any) -> tuple[ImageOutput, ...]:
    """The answer's images (base64), for ``capture_outputs``."""
    images = payload.get("images") if isinstance(payload, dict) else None
    return tuple(
        ImageOutput(b64_json=image) for image in images or () if isinstance(image, str) and image
    )
