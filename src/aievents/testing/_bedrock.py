"""Amazon Bedrock's ``InvokeModel``, as ImageServer answers it.

``POST /model/{modelId}/invoke`` (botocore's path for ``invoke_model``;
point ``boto3.client("bedrock-runtime", endpoint_url=server.url, ...)`` at
the server, with any credentials) is answered, with ``x-amzn-RequestId``:

Images are the server's small standard PNG (``b64_size`` is for OpenAI's
answers).

- for Amazon's image models (Titan Image Generator, Nova Canvas):
  ``{"images": [base64, ...], "error": null}``, as many images as
  ``imageGenerationConfig.numberOfImages`` asks (1 by default);
- for Stability's: ``{"seeds": [...], "finish_reasons": [null], "images":
  [base64]}`` (SDXL's ``{"result": "success", "artifacts": [...]}``, one
  artifact per ``samples``);
- for a model its id hides (a provisioned model's ARN), Titan's answer to
  a body with ``taskType``;
- for any other model, a text model's answer (Anthropic's message shape);
- a queued failure (:meth:`~aievents.testing.ImageServer.fail_next`) in
  Bedrock's error shape: the ``x-amzn-ErrorType`` header naming the error
  (400 ``ValidationException``, 403 ``AccessDeniedException``, 424
  ``ModelErrorException``, 429 ``ThrottlingException``, 500
  ``InternalServerException``, 503 ``ServiceUnavailableException``...; a
  queued ``x-amzn-ErrorType`` header names another) and ``{"message": ...}``,
  so that botocore raises that ``ClientError``; a queued
  ``InvalidSignatureException`` (``fail_next(403, headers={"x-amzn-ErrorType":
  "InvalidSignatureException"})``) says, as AWS does, what the canonical
  request and string to sign should have been: the request's signed headers
  (its session token among them) and credential scope, echoed;
- a queued answer of only ``{"filtered": true}``: the images held back
  (Titan and Nova: ``{"images": [], "error": "This request has been blocked
  by our content filters."}``; Stability: its ``finish_reasons`` says
  ``Filter reason: prompt`` and no image comes);
- any other queued answer: sent as it is.

``POST /model/{modelId}/invoke-with-response-stream`` answers 400
``ValidationException`` "The model is unsupported for streaming.", as
Bedrock does for its image models (this server streams no model).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Final

from aievents._bedrock_models import base_model, foundation_model
from aievents.testing._answers import B64

if TYPE_CHECKING:
    from aievents.testing._images import Exchange, ImageServer

__all__ = ["BLOCKED", "UNSUPPORTED_STREAMING", "bedrock_route"]

#: Bedrock's paths: the model id (percent-decoded), then the operation.
BEDROCK_PATH: Final = re.compile(r"/model/(.+)/(invoke|invoke-with-response-stream)")
#: The error names Bedrock gives with each HTTP status.
ERRORS: Final = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
#: What follows the error name in Bedrock's ``x-amzn-ErrorType`` header.
_ERROR_SUFFIX: Final = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
#: Titan's and Nova's message for images its filter held back.
BLOCKED: Final = "This request has been blocked by our content filters."
UNSUPPORTED_STREAMING: Final = "The model is unsupported for streaming."
_ERROR_TYPE: Final = "x-amzn-errortype"
#: The error of a request whose signature AWS did not expect.
_BAD_SIGNATURE: Final = "InvalidSignatureException"
#: ``Credential=...``, ``SignedHeaders=...`` of a SigV4 ``Authorization`` header.
_AUTH_PART: Final = re.compile(r"(Credential|SignedHeaders)=([^,\s]+)")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def bedrock_answer(model: str, body: dict[str, Any], *, b64: str, filtered: bool) -> dict[str, Any]:
    """The body ``invoke_model`` answers for ``model`` (see the module)."""
    base = base_model(foundation_model(model) or model)
    amazon = base.startswith("amazon.") and ("image" in base or "canvas" in base)
    if amazon or "taskType" in body:  # a hidden model (a provisioned one's ARN): by its body
        if filtered:
            return {"images": [], "error": BLOCKED}
        config = body.get("imageGenerationConfig")
        count = _count(config.get("numberOfImages") if isinstance(config, dict) else None)
        return {"images": [b64] * count, "error": None}
    if base.startswith("stability."):
        if "text_prompts" in body:  # SDXL
            reason = "CONTENT_FILTERED" if filtered else "SUCCESS"
            artifact = {"seed": 7, "base64": b64, "finishReason": reason}
            return {"result": "success", "artifacts": [artifact] * _count(body.get("samples"))}
        if filtered:
            return {"seeds": [7], "finish_reasons": ["Filter reason: prompt"], "images": []}
        return {"seeds": [7], "finish_reasons": [None], "images": [b64]}
    return {
        "id": "msg_local",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello there."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 2, "output_tokens": 3},
    }


def bedrock_error(
    status: int, message: str, headers: dict[str, str], exchange: Exchange | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Bedrock's error body and headers for ``status``: botocore raises the named error.

    ``InvalidSignatureException`` says, as AWS does, what the request's
    canonical request and string to sign should have been, built from
    ``exchange`` (its signed headers' values, the session token among them,
    and its credential scope) in place of ``message``.
    """
    named = {key.lower(): value for key, value in headers.items()}
    name = (named.pop(_ERROR_TYPE, None) or ERRORS.get(status, "InternalServerException")).split(
        ":", 1
    )[0]
    if name == _BAD_SIGNATURE and exchange is not None:
        message = signature_mismatch(exchange)
    return {"message": message}, {**named, _ERROR_TYPE: name + _ERROR_SUFFIX}


def signature_mismatch(exchange: Exchange) -> str:
    """AWS's message for a signature it did not expect: the request's signing input, echoed."""
    handler = exchange.handler
    given = dict(_AUTH_PART.findall(handler.headers.get("authorization", "")))
    signed = given.get("SignedHeaders", "host")
    lines = "".join(f"{name}:{handler.headers.get(name, '')}\n" for name in signed.split(";"))
    raw = getattr(handler, "raw_body", b"")
    path, _, query = handler.path.partition("?")
    canonical = f"{exchange.method}\n{path}\n{query}\n{lines}\n{signed}\n{_digest(raw)}"
    scope = given.get("Credential", "").partition("/")[2]  # the key id is left out, as AWS does
    moment = handler.headers.get("x-amz-date", "")
    to_sign = f"AWS4-HMAC-SHA256\n{moment}\n{scope}\n{_digest(canonical.encode())}"
    return (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have "
        f"been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _message(payload: Any) -> str:
    """The message of a queued failure (``fail_next``'s OpenAI shape, or Bedrock's)."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if payload.get("message"):
            return str(payload["message"])
    return "failure"


def bedrock_route(server: ImageServer, exchange: Exchange) -> bool:
    """Answer a Bedrock request (true), or leave it to the next route (false)."""
    found = BEDROCK_PATH.fullmatch(exchange.path)
    if found is None or exchange.method != "POST":
        return False
    model, operation = found[1], found[2]
    status, payload, extra = exchange.scripted or (200, None, {})
    headers = {"x-amzn-RequestId": exchange.request_id}
    if status < 400 and operation != "invoke":
        status, payload, extra = 400, {"message": UNSUPPORTED_STREAMING}, {}
    if status >= 400:
        body, more = bedrock_error(status, _message(payload), extra, exchange)
        server.send_json(exchange.handler, status, body, {**headers, **more})
        return True
    if payload is None or payload == {"filtered": True}:
        filtered = payload is not None
        asked = exchange.body if isinstance(exchange.body, dict) else {}
        payload = bedrock_answer(model, asked, b64=B64, filtered=filtered)
    server.send_json(exchange.handler, status, payload, {**headers, **extra})
    return True
