"""Replicate's predictions API, as ImageServer answers it.

:func:`replicate_route` answers the ``replicate`` SDK (``replicate.Client(
api_token=..., base_url=server.url)``):

- ``POST /v1/predictions`` (a version id), ``POST
  /v1/models/{owner}/{name}/predictions`` and ``POST
  /v1/deployments/{owner}/{name}/predictions``: a new prediction. Asked to
  wait (``Prefer: wait``, as ``replicate.run`` asks), it answers as
  Replicate does: the output and metrics already there, the status still
  ``processing`` (an ``answer_next`` that names a ``status`` is answered
  with it: ``{"status": "succeeded"}`` answers finished); else it answers
  ``starting`` and is finished at its first
  ``GET /v1/predictions/{id}`` (``POST /v1/predictions/{id}/cancel`` cancels
  one still running). ``GET /v1/models/{owner}/{name}/versions/{id}`` answers
  the version (``replicate.run`` reads it for ``owner/name:version``).
- A finished prediction of an image model holds ``num_outputs`` (1 by
  default) file URLs of this server (``GET /files/{id}/{n}.webp`` answers
  the bytes), and ``metrics.predict_time``: 0.5 s plus 0.25 s per image. A
  text model (one whose name contains ``llama``) answers a list of words.
- A version id is one of :data:`MODELS`' (:func:`version_of`); any other is
  a 404, as Replicate answers it.
- A failure queued with ``fail_next`` is answered in Replicate's error shape
  (``{"title", "detail", "status"}``); an answer queued with
  ``answer_next`` (status 200) is what the prediction the request creates
  (or reads) is when it finishes: ``{"status": "failed", "error": "..."}``
  makes a failed prediction, any other fields replace the prediction's own.
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Final

from aievents.testing._state import server_state

if TYPE_CHECKING:
    from aievents.testing._images import Exchange, ImageServer

__all__ = ["MODELS", "replicate_error", "replicate_route", "version_of"]

#: The models whose version ids ``POST /v1/predictions`` knows.
MODELS: Final = (
    "black-forest-labs/flux-schnell",
    "black-forest-labs/flux-dev",
    "stability-ai/sdxl",
    "meta/meta-llama-3-8b-instruct",
)
_CREATE: Final = re.compile(r"/v1/(?:(models|deployments)/([^/]+)/([^/]+)/)?predictions")
_ONE: Final = re.compile(r"/v1/predictions/([^/]+)(/cancel)?")
_FILE: Final = re.compile(r"/files/([^/]+)/(\d+)\.webp")
_VERSION: Final = re.compile(r"/v1/models/([^/]+)/([^/]+)/versions/([^/]+)")
_TITLES: Final = {
    400: "Bad request",
    401: "Unauthenticated",
    404: "Not found",
    422: "Input validation failed",
    429: "Too many requests",
    500: "Internal server error",
}
#: The bytes of every output file (a stand-in for an image).
FILE_BYTES: Final = b"RIFF\x00\x00\x00\x00WEBPVP8 "


def version_of(model: str) -> str:
    """The version id this server gives ``model`` (64 hex digits, as Replicate's)."""
    return hashlib.sha256(model.encode()).hexdigest()


_VERSIONS: Final = {version_of(model): model for model in MODELS}


def replicate_error(status: int, detail: str) -> dict[str, Any]:
    """Replicate's error body (RFC 7807 problem details) for an HTTP ``status``."""
    return {"title": _TITLES.get(status, "Error"), "detail": detail, "status": status}


class _Predictions:
    """The predictions one server made: id -> (the prediction, its finished state)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.made: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


def _state(server: ImageServer) -> _Predictions:
    return server_state(server, _Predictions)


def _finished(
    server: ImageServer, prediction: dict[str, Any], scripted: dict[str, Any] | None
) -> dict[str, Any]:
    """What ``prediction`` is once finished: its output and metrics, or what was scripted."""
    model = str(prediction["model"])
    inputs = prediction.get("input") or {}
    done = dict(prediction, started_at=prediction["created_at"])
    done["completed_at"] = "2026-01-01T00:00:02Z"
    if "llama" in model:
        output: Any = str(inputs.get("prompt") or "hello").split()
        seconds = 0.5
    else:
        count = inputs.get("num_outputs", 1)
        count = count if isinstance(count, int) and count > 0 else 1
        output = [f"{server.url}/files/{prediction['id']}/{n}.webp" for n in range(count)]
        seconds = 0.5 + 0.25 * count
    done.update(status="succeeded", output=output)
    done["metrics"] = {"predict_time": seconds, "total_time": seconds + 0.25}
    if scripted:
        if scripted.get("status") in ("failed", "canceled"):
            done.update(output=None, metrics={})
        done.update(scripted)
    return done


def _create(
    server: ImageServer, exchange: Exchange, kind: str | None, owner: str, name: str
) -> None:
    body = exchange.body
    if kind is None:
        version = str(body.get("version", ""))
        model = _VERSIONS.get(version.rpartition(":")[2])
        if model is None:
            error = replicate_error(404, "The specified version does not exist")
            server.send_json(exchange.handler, 404, error, {})
            return
    else:
        model = f"{owner}/{name}"
        version = version_of(model)
    scripted = exchange.scripted[1] if exchange.scripted is not None else None
    pid = "p" + exchange.request_id.removeprefix("req_local_").replace("_", "")
    prediction: dict[str, Any] = {
        "id": pid,
        "model": model,
        "version": version,
        "input": body.get("input") or {},
        "logs": "",
        "output": None,
        "error": None,
        "status": "starting",
        "metrics": {},
        "created_at": "2026-01-01T00:00:00Z",
        "started_at": None,
        "completed_at": None,
        "urls": {
            "get": f"{server.url}/v1/predictions/{pid}",
            "cancel": f"{server.url}/v1/predictions/{pid}/cancel",
        },
    }
    finished = _finished(server, prediction, scripted)
    state = _state(server)
    with state.lock:
        state.made[pid] = (prediction, finished)
    waiting = "wait" in exchange.handler.headers.get("prefer", "")
    answer = prediction
    if waiting:  # as Replicate answers Prefer: wait: the output, yet "processing"
        named = scripted is not None and "status" in scripted
        answer = finished if named else dict(finished, status="processing", completed_at=None)
    server.send_json(exchange.handler, 201, answer, {})


def _read(server: ImageServer, exchange: Exchange, pid: str, cancel: bool) -> None:
    state = _state(server)
    with state.lock:
        found = state.made.get(pid)
    if found is None:
        server.send_json(exchange.handler, 404, replicate_error(404, "Not found"), {})
        return
    prediction, finished = found
    if exchange.scripted is not None:
        finished = dict(finished, **exchange.scripted[1])
    if cancel and prediction["status"] == "starting":
        finished = dict(prediction, status="canceled", completed_at="2026-01-01T00:00:01Z")
    with state.lock:
        state.made[pid] = (finished, finished)
    server.send_json(exchange.handler, 200, finished, {})


def _version(owner: str, name: str, version: str) -> dict[str, Any]:
    """A model version: its id and an output schema (a list of files, or of words)."""
    item = {"type": "string"} if "llama" in name else {"type": "string", "format": "uri"}
    output = {"type": "array", "items": item, "title": "Output"}
    return {
        "id": version,
        "created_at": "2026-01-01T00:00:00Z",
        "cog_version": "0.14.0",
        "openapi_schema": {"components": {"schemas": {"Output": output}}},
    }


def _send_file(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("content-type", "image/webp")
    handler.send_header("content-length", str(len(FILE_BYTES)))
    handler.end_headers()
    handler.wfile.write(FILE_BYTES)


def replicate_route(server: ImageServer, exchange: Exchange) -> bool:
    """Answer ``exchange`` if it is one of Replicate's requests (see the module)."""
    path = exchange.path
    if exchange.method == "GET" and _FILE.fullmatch(path):
        _send_file(exchange.handler)
        return True
    version = _VERSION.fullmatch(path) if exchange.method == "GET" else None
    if version is not None:
        server.send_json(exchange.handler, 200, _version(*version.groups()), {})
        return True
    create = _CREATE.fullmatch(path) if exchange.method == "POST" else None
    one = None if create is not None else _ONE.fullmatch(path)
    if create is None and one is None:
        return False
    scripted = exchange.scripted
    if scripted is not None and scripted[0] >= 400:
        status, payload, headers = scripted
        if not isinstance(payload.get("detail"), str):  # fail_next's: Replicate's shape
            message = (payload.get("error") or {}).get("message")
            payload = replicate_error(status, str(message or "failure"))
        server.send_json(exchange.handler, status, payload, headers)
        return True
    if create is not None:
        _create(server, exchange, create[1], create[2] or "", create[3] or "")
    elif one is not None:
        _read(server, exchange, one[1], exchange.method == "POST" and bool(one[2]))
    return True
