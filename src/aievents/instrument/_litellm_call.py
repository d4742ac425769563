"""One LiteLLM image call as its callbacks tell it: what it asked for, and how it ended.

LiteLLM hands its callbacks the call's details (``kwargs``: ``call_type``,
``model``, ``custom_llm_provider``, ``optional_params``, ``litellm_call_id``,
``standard_logging_object``...), the answer and the call's start and end
times. :func:`report_answer` and :func:`report_error` turn them into an
:class:`~aievents.instrument.ImageRequest` and its events, after the call:

- the request id is the upstream's (``x-request-id``, which LiteLLM passes
  on), LiteLLM's call id kept as ``correlation_id``; LiteLLM's call id
  when the upstream gave none;
- the provider is LiteLLM's ``custom_llm_provider`` in aievents' names
  (:data:`PROVIDERS`), the model the upstream's (no ``provider/`` prefix);
- size, quality and ``n`` from the call, images and token usage from the
  answer (its ``data`` and ``usage``), LiteLLM's ``response_cost`` as the
  usage's ``cost`` (the provider-reported figure);
- started is stamped with the call's start, the rest with its end.

Calls that are not image calls (completion, embedding...) give nothing.
The call's API key, which LiteLLM keeps in ``kwargs``, is never read.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from aievents.events import ImageOutput
from aievents.instrument._request import ImageRequest
from aievents.instrument._settings import Settings
from aievents.usage import ImageUsage

__all__ = [
    "OPERATIONS",
    "PROVIDERS",
    "call_details",
    "is_image_call",
    "provider_of",
    "report_answer",
    "report_error",
]

#: LiteLLM's call types of image calls, and the operation of each.
OPERATIONS: Final = {
    "image_generation": "image.generation",
    "aimage_generation": "image.generation",
    "image_edit": "image.edit",
    "aimage_edit": "image.edit",
}
#: LiteLLM's provider names that aievents names otherwise; the rest are kept as they are.
PROVIDERS: Final = {
    "azure_ai": "azure",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "gemini": "google",
    "fal_ai": "fal",
    "black_forest_labs": "bfl",
}
#: The response header LiteLLM passes on with the upstream's request id.
_UPSTREAM_ID: Final = "llm_provider-x-request-id"
#: The key of a call's details holding the application's span when the call began.
TRACEPARENT: Final = "aievents_traceparent"


def _get(holder: Any, name: str) -> Any:
    """A key of a mapping, or None."""
    return holder.get(name) if isinstance(holder, Mapping) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def is_image_call(kwargs: Any) -> bool:
    """Whether LiteLLM's callback ``kwargs`` are those of an image call."""
    return _get(kwargs, "call_type") in OPERATIONS


def _routed(kwargs: Mapping[str, Any]) -> tuple[str, str]:
    """LiteLLM's provider and the upstream's model (without the ``provider/`` prefix).

    The provider is LiteLLM's ``custom_llm_provider``; a call that failed
    before LiteLLM routed it has none: then the model's ``provider/``
    prefix, else ``unknown``.
    """
    model = _text(kwargs.get("model")) or "unknown"
    provider = _text(kwargs.get("custom_llm_provider")) or _text(
        _get(kwargs.get("litellm_params"), "custom_llm_provider")
    )
    if provider is None:
        prefix, slash, _ = model.partition("/")
        provider = prefix if slash and prefix else "unknown"
    return provider, model.removeprefix(f"{provider}/")


def provider_of(kwargs: Mapping[str, Any]) -> str:
    """The provider in aievents' names: LiteLLM's ``custom_llm_provider`` mapped."""
    name = _routed(kwargs)[0]
    return PROVIDERS.get(name, name)


def _model(kwargs: Mapping[str, Any]) -> str:
    """The upstream's model: LiteLLM's, without its ``provider/`` prefix."""
    return _routed(kwargs)[1]


def _moment(when: Any, now: tuple[datetime.datetime, float]) -> tuple[int, float] | None:
    """LiteLLM's time (a naive local ``datetime``) as :meth:`ImageRequest.began` takes it."""
    if not isinstance(when, datetime.datetime):
        return None
    wall, perf = now
    return int(when.timestamp() * 1000), perf - (wall - when).total_seconds()


def _upstream_id(kwargs: Mapping[str, Any], response: Any) -> str | None:
    """The upstream's request id LiteLLM passed on (a response header), if any."""
    logged = kwargs.get("standard_logging_object")
    headers = _get(_get(logged, "hidden_params"), "additional_headers")
    found = _text(_get(headers, _UPSTREAM_ID))
    if found is None:
        hidden = getattr(response, "_hidden_params", None)
        found = _text(_get(_get(hidden, "additional_headers"), _UPSTREAM_ID))
    if found is None:
        found = _text(_get(_get(logged, "error_information"), "error_provider_request_id"))
    if found is None:
        found = _error_id(kwargs.get("exception"))
    return found


def _error_id(error: Any) -> str | None:
    """The upstream's request id on one of LiteLLM's exceptions (its response's header)."""
    headers = getattr(error, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(error, "response", None), "headers", None)
    getter = getattr(headers, "get", None)
    if not callable(getter):
        return None
    try:
        return _text(getter("x-request-id"))
    except Exception:  # noqa: BLE001 - a header we cannot read is no id
        return None


def _request(
    settings: Settings, kwargs: Mapping[str, Any], response: Any, start: Any, end: Any
) -> ImageRequest:
    """The request of one call, its ids and times set, not yet reported."""
    params = kwargs.get("optional_params")
    model = _model(kwargs)
    size = _text(_get(params, "size"))
    quality = _text(_get(params, "quality"))
    if model.startswith("dall-e"):  # the defaults the Images API documents for DALL-E
        size = size or "1024x1024"
        quality = quality or "standard"
    number = _get(params, "n")
    if number is None:
        number = kwargs.get("n")
    prompt = kwargs.get("input") if settings.capture_prompts else None
    call_id = _text(kwargs.get("litellm_call_id"))
    upstream = _upstream_id(kwargs, response)
    fields: dict[str, Any] = {"correlation_id": call_id} if upstream and call_id else {}
    if kwargs.get(TRACEPARENT) is not None:  # captured when the call began
        fields["traceparent"] = kwargs[TRACEPARENT]
    request = ImageRequest(
        provider=provider_of(kwargs),
        model=model,
        operation=OPERATIONS[kwargs["call_type"]],
        size=size,
        quality=quality,
        number_of_images=number if isinstance(number, int) and number > 0 else 1,
        request_id=upstream or call_id,
        prompt=prompt if isinstance(prompt, str) else None,
        streaming=False,
        client=settings.events,
        prices=settings.prices,
        fields=fields,
    )
    now = (datetime.datetime.now(), time.perf_counter())
    began = _moment(start, now)
    if began is not None:
        request.began(began)
    ended = _moment(end, now)
    if ended is not None:
        request.answered(ended)
    return request


def _reported_cost(kwargs: Mapping[str, Any]) -> Decimal | None:
    """LiteLLM's ``response_cost``; None when it has none (0: it could not price the call).

    LiteLLM sums floats: the figure is kept to 12 significant digits, which
    drops the noise (``0.21073000000000003`` is ``0.21073``).
    """
    logged = kwargs.get("standard_logging_object")
    cost = _get(logged, "response_cost")
    if cost is None:
        cost = kwargs.get("response_cost")
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost <= 0:
        return None
    return Decimal(f"{cost:.12g}")


#: The Images API's usage fields, which LiteLLM's ``Usage`` carries beside chat's.
_USAGE_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_tokens_details",
    "output_tokens_details",
)


def _plain(value: Any) -> Any:
    """A details object as the dict the Images API sends."""
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def _usage(response: Any) -> dict[str, Any] | None:
    """The answer's token usage in the Images API's shape, or None when none came.

    LiteLLM's ``Usage`` also has chat's ``prompt_tokens`` and
    ``completion_tokens`` (0 for an image call), and is filled with zeros
    for an answer that had no usage (DALL-E): such a usage is no usage.
    """
    usage = getattr(response, "usage", None)
    found = {name: _plain(getattr(usage, name, None)) for name in _USAGE_FIELDS}
    if not (found["input_tokens"] or found["output_tokens"]):
        return None
    return {name: value for name, value in found.items() if value is not None}


def report_answer(
    settings: Settings, kwargs: Mapping[str, Any], response: Any, start: Any, end: Any
) -> None:
    """Report an image call that answered: started, completed, usage."""
    request = _request(settings, kwargs, response, start, end)
    data = getattr(response, "data", None)
    images = len(data) if isinstance(data, list) else 0
    request.record_images(images)
    usage = _usage(response)
    if usage is not None:
        request.record_usage(usage)
    cost = _reported_cost(kwargs)
    if cost is not None:
        request.record_usage(ImageUsage(cost=cost))
    request.learn_settings(
        size=_text(getattr(response, "size", None)),
        quality=_text(getattr(response, "quality", None)),
    )
    if settings.capture_outputs and isinstance(data, list):
        request.outputs = _outputs(data)
    request.complete()


def _outputs(data: list[Any]) -> tuple[ImageOutput, ...]:
    """The answer's images as the completed event's ``outputs``."""
    return tuple(
        ImageOutput(
            url=_text(getattr(item, "url", None)),
            b64_json=_text(getattr(item, "b64_json", None)),
            revised_prompt=_text(getattr(item, "revised_prompt", None)),
        )
        for item in data
    )


def call_details(
    call_type: str, kwargs: Mapping[str, Any], response: Any, traceparent: str | None = None
) -> dict[str, Any]:
    """A call's arguments and answer in the shape LiteLLM gives its callbacks.

    For a call our wrapper reports itself: the provider, call id and cost
    come from the answer's ``_hidden_params`` when it answered;
    ``traceparent`` is the application's span when the call began.
    """
    hidden = getattr(response, "_hidden_params", None)
    details: dict[str, Any] = {
        "call_type": call_type,
        "model": kwargs.get("model"),
        "custom_llm_provider": kwargs.get("custom_llm_provider")
        or _get(hidden, "custom_llm_provider"),
        "optional_params": {name: kwargs.get(name) for name in ("size", "quality", "n")},
        "input": kwargs.get("prompt"),
        "litellm_call_id": _get(hidden, "litellm_call_id") or kwargs.get("litellm_call_id"),
        "response_cost": _get(hidden, "response_cost"),
        TRACEPARENT: traceparent,
    }
    return details


def report_error(settings: Settings, kwargs: Mapping[str, Any], start: Any, end: Any) -> None:
    """Report an image call that raised: started, error (with the HTTP status when there is one)."""
    request = _request(settings, kwargs, None, start, end)
    error = kwargs.get("exception")
    if not isinstance(error, BaseException):
        error = RuntimeError(_text(_get(kwargs.get("standard_logging_object"), "error_str")) or "")
    status = getattr(error, "status_code", None)
    request.fail(error, status_code=status if isinstance(status, int) else None)
