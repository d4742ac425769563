"""fal's run and queue endpoints, as ImageServer answers them.

fal serves an endpoint (``fal-ai/flux/dev``) on two hosts: ``fal.run``
answers it at once, ``queue.fal.run`` queues it. The local server serves
both on one address, told apart by path: the run host is
``{server.url}/fal/run`` and the queue host ``{server.url}/fal/queue``
(``fal_client`` takes them as ``FAL_RUN_HOST`` and ``FAL_QUEUE_RUN_HOST``
without the scheme; the server must speak HTTPS, ``ImageServer(tls=...)``).

- ``POST /fal/run/{endpoint}``: the result at once;
- ``POST /fal/queue/{endpoint}``: the request queued: ``request_id``,
  ``response_url``, ``status_url``, ``cancel_url``;
- ``GET /fal/queue/{owner}/{alias}/requests/{id}/status``: ``COMPLETED``
  (the request is done as soon as it is queued);
- ``GET /fal/queue/{owner}/{alias}/requests/{id}``: the result;
- ``PUT /fal/queue/{owner}/{alias}/requests/{id}/cancel``: cancelled
  (``202``), the result then answers 400.

A result is fal's: ``images`` (``num_images`` of them, default 1, each
``{url, width, height, content_type}`` of the ``image_size`` asked: a
preset, ``{width, height}``, ``landscape_4_3`` by default), ``seed``,
``has_nsfw_concepts``, ``timings``, ``prompt``; an endpoint whose name
has ``llm`` in it (``fal-ai/any-llm``) answers text instead
(``{"output", "partial", "error"}``). Every answer carries
``x-fal-request-id``; a result carries ``x-fal-billable-units``: each
image's megapixels, rounded up (fal's megapixel: 1024 x 1024 pixels),
summed.

Scripted answers (:meth:`~aievents.testing.ImageServer.answer_next`,
``fail_next``) are taken by the next request: a run answers with them (a
failure in fal's shape, ``{"detail": message}``); a submission queues them
as its result (a failure: the submission itself fails); a status read
takes a failure as the request's: ``COMPLETED`` with an ``error``, and its
result then answers that failure.
"""

from __future__ import annotations

import math
import re
import threading
from typing import TYPE_CHECKING, Any, Final

from aievents.testing._state import server_state

if TYPE_CHECKING:
    from aievents.testing._images import Exchange, ImageServer

__all__ = ["fal_route"]

RUN: Final = "/fal/run/"
QUEUE: Final = "/fal/queue/"
#: fal's ``image_size`` presets.
_PRESETS: Final = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
_MEGAPIXEL: Final = 1024 * 1024
_REQUEST: Final = re.compile(
    r"(?P<app>[^/]+/[^/]+)/requests/(?P<id>[^/]+)(?P<tail>/status|/cancel)?"
)
#: A scripted answer: (status, body, headers).
Scripted = tuple[int, dict[str, Any], dict[str, str]]


class _Job:
    """A queued request: its endpoint, its arguments, its scripted result."""

    def __init__(self, endpoint: str, body: dict[str, Any], scripted: Scripted | None) -> None:
        self.endpoint = endpoint
        self.body = body
        self.scripted = scripted


class _Queue:
    """One server's queued requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, _Job] = {}


def _queue(server: ImageServer) -> _Queue:
    return server_state(server, _Queue)


def _size(body: dict[str, Any]) -> tuple[int, int]:
    asked = body.get("image_size", "landscape_4_3")
    if isinstance(asked, dict):
        return int(asked.get("width", 1024)), int(asked.get("height", 768))
    return _PRESETS.get(str(asked), (1024, 768))


def result_of(endpoint: str, body: dict[str, Any], request_id: str) -> tuple[dict[str, Any], str]:
    """fal's result for ``endpoint`` asked ``body``, and its billable units."""
    if "llm" in endpoint:
        return {"output": "Hello from a language model.", "partial": False, "error": None}, "1"
    width, height = _size(body)
    count = int(body.get("num_images", 1))
    images = [
        {
            "url": f"https://v3.fal.media/files/local/{request_id}_{index}.png",
            "width": width,
            "height": height,
            "content_type": "image/png",
        }
        for index in range(count)
    ]
    answer = {
        "images": images,
        "timings": {"inference": 0.5},
        "seed": 42,
        "has_nsfw_concepts": [False] * count,
        "prompt": body.get("prompt", ""),
    }
    return answer, str(count * math.ceil(width * height / _MEGAPIXEL))


def _error_body(scripted: Scripted) -> dict[str, Any]:
    """fal's error shape for a scripted failure (an OpenAI-shaped one is converted)."""
    body = scripted[1]
    error = body.get("error")
    if isinstance(error, dict) and "message" in error:
        return {"detail": error["message"]}
    return body


def _answer(
    server: ImageServer, exchange: Exchange, endpoint: str, body: dict[str, Any], request_id: str
) -> None:
    """A result: scripted, or made for ``body``; with fal's headers."""
    headers = {"x-fal-request-id": request_id}
    scripted = exchange.scripted
    if scripted is not None:
        status, payload, more = scripted
        payload = _error_body(scripted) if status >= 400 else payload
        server.send_json(exchange.handler, status, payload, {**headers, **more})
        return
    result, units = result_of(endpoint, body, request_id)
    headers["x-fal-billable-units"] = units
    server.send_json(exchange.handler, 200, result, headers)


def _urls(server: ImageServer, endpoint: str, request_id: str) -> dict[str, str]:
    app = "/".join(endpoint.split("/")[:2])
    base = f"{server.url}{QUEUE}{app}/requests/{request_id}"
    return {
        "request_id": request_id,
        "response_url": base,
        "status_url": f"{base}/status",
        "cancel_url": f"{base}/cancel",
    }


def _submit(server: ImageServer, exchange: Exchange, endpoint: str) -> None:
    scripted = exchange.scripted
    headers = {"x-fal-request-id": exchange.request_id}
    if scripted is not None and scripted[0] >= 400:
        server.send_json(exchange.handler, scripted[0], _error_body(scripted), headers)
        return
    queue = _queue(server)
    with queue.lock:
        queue.jobs[exchange.request_id] = _Job(endpoint, exchange.body, scripted)
    answer = {**_urls(server, endpoint, exchange.request_id), "queue_position": 0}
    server.send_json(exchange.handler, 200, answer, headers)


def _status(server: ImageServer, exchange: Exchange, job: _Job, request_id: str) -> None:
    answer: dict[str, Any] = {
        "status": "COMPLETED",
        **_urls(server, job.endpoint, request_id),
        "logs": None,
        "metrics": {"inference_time": 0.5},
    }
    scripted = exchange.scripted
    if scripted is not None and scripted[0] >= 400:  # the request failed
        job.scripted = scripted
        detail = _error_body(scripted).get("detail")
        answer["error"] = str(detail)
        answer["error_type"] = "runner_error" if scripted[0] >= 500 else "validation_error"
    server.send_json(exchange.handler, 200, answer, {"x-fal-request-id": request_id})


def _cancel(server: ImageServer, exchange: Exchange, job: _Job, request_id: str) -> None:
    """Cancelled (202); the result then answers 400. A scripted failure refuses it."""
    headers = {"x-fal-request-id": request_id}
    scripted = exchange.scripted
    if scripted is not None and scripted[0] >= 400:
        server.send_json(exchange.handler, scripted[0], _error_body(scripted), headers)
        return
    job.scripted = (400, {"detail": "Request was cancelled"}, {})
    server.send_json(exchange.handler, 202, {"status": "CANCELLATION_REQUESTED"}, headers)


def _queued(server: ImageServer, exchange: Exchange, rest: str) -> bool:
    found = _REQUEST.fullmatch(rest) if exchange.method in ("GET", "PUT") else None
    if found is None:
        _submit(server, exchange, rest)
        return True
    request_id = found["id"]
    queue = _queue(server)
    with queue.lock:
        job = queue.jobs.get(request_id)
    if job is None:
        detail = {"detail": f"Request {request_id} not found"}
        server.send_json(exchange.handler, 404, detail, {"x-fal-request-id": request_id})
    elif found["tail"] == "/status":
        _status(server, exchange, job, request_id)
    elif found["tail"] == "/cancel":
        _cancel(server, exchange, job, request_id)
    else:
        exchange.scripted = exchange.scripted or job.scripted
        _answer(server, exchange, job.endpoint, job.body, request_id)
    return True


def fal_route(server: ImageServer, exchange: Exchange) -> bool:
    """Answer a request to fal's run or queue host; False for any other path."""
    if exchange.path.startswith(RUN):
        endpoint = exchange.path.removeprefix(RUN)
        _answer(server, exchange, endpoint, exchange.body, exchange.request_id)
        return True
    if exchange.path.startswith(QUEUE):
        return _queued(server, exchange, exchange.path.removeprefix(QUEUE))
    return False
