"""ImageServer: OpenAI's images API on 127.0.0.1, for tests, examples and the demo.

It answers ``POST /v1/images/generations``, ``/v1/images/edits`` and
``/v1/images/variations`` with OpenAI-shaped bodies (token usage for GPT
image models, URLs and no usage for DALL-E), the same under Azure OpenAI's
paths (``/openai/deployments/{deployment}/images/generations?api-version=...``),
Gemini's ``generateContent`` and ``streamGenerateContent``
(``/v1beta/models/{model}:generateContent``, :mod:`aievents.testing._gemini`)
and the Responses API (``POST /v1/responses``, its ``image_generation`` tool:
:mod:`aievents.testing._responses`), streams server-sent events for
``stream=true``, and plays the answers and
failures queued with :meth:`ImageServer.answer_next` and
:meth:`ImageServer.fail_next`. Every answer carries ``x-request-id``. Only
the standard library is used.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import itertools
import json
import re
import secrets
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from aievents._extras import require_extra
from aievents._redact import REDACTED, is_secret_key
from aievents._threads import Thread
from aievents.testing._answers import B64, gpt_usage, openai_answer
from aievents.testing._gemini import GEMINI_PATH, gemini_reply, send_events
from aievents.testing._responses import IMAGE_DEPLOYMENT, ResponsesEndpoint

if TYPE_CHECKING:
    import httpx2

__all__ = ["ImageServer"]

#: An Azure OpenAI deployment's path: the deployment, then the operation.
_AZURE_PATH: Final = re.compile(r"/openai/deployments/([^/]+)/images/(\w+)")

#: The answer to a POST whose body is not JSON: OpenAI's error shape, and ``message``
#: where Bedrock's (and botocore) look for it.
_NOT_JSON: Final = {
    "error": {"message": "The request body is not JSON.", "type": "invalid_request_error"},
    "message": "The request body is not JSON.",
}

#: Another provider's endpoints: ``route(server, exchange) -> bool``, true when the
#: request was its own and has been answered. Asked in order, before OpenAI's paths.
Route = Callable[["ImageServer", "Exchange"], bool]


class Exchange:
    """One request to answer: what came, what was scripted for it, its id, how to reply."""

    __slots__ = ("body", "handler", "method", "path", "query", "request_id", "scripted")

    def __init__(
        self,
        handler: BaseHTTPRequestHandler,
        method: str,
        body: dict[str, Any],
        scripted: tuple[int, dict[str, Any], dict[str, str]] | None,
        request_id: str,
    ) -> None:
        self.handler = handler
        self.method = method
        split = urlsplit(handler.path)
        #: The path, percent-decoded (``/model/amazon.nova-canvas-v1:0/invoke``).
        self.path = unquote(split.path)
        self.query = split.query
        self.body = body
        #: What :meth:`ImageServer.answer_next`/``fail_next`` queued for it: (status,
        #: body, headers), or None.
        self.scripted = scripted
        self.request_id = request_id


def _routes() -> tuple[Route, ...]:
    """The other providers' endpoints (imported when the first server starts)."""
    from aievents.testing._bedrock import bedrock_route  # noqa: PLC0415
    from aievents.testing._fal import fal_route  # noqa: PLC0415
    from aievents.testing._replicate import replicate_route  # noqa: PLC0415

    return (bedrock_route, replicate_route, fal_route)


def recorded_headers(headers: Any) -> dict[str, str]:
    """``headers`` as :attr:`ImageServer.requests` keeps them: their secrets masked.

    A header whose name means a secret (``Authorization``, ``X-Api-Key``,
    ``Cookie``...) keeps only its scheme, if it has one (``Bearer
    [redacted]``), so that a failed assertion on the recorded requests never
    prints a key.
    """
    recorded = {}
    for name, value in headers.items():
        shown = value
        if is_secret_key(name):
            scheme, space, _ = value.partition(" ")
            shown = f"{scheme} {REDACTED}" if space and scheme.isalpha() else REDACTED
        recorded[name] = shown
    return recorded


def _form(content_type: str, body: bytes) -> dict[str, Any]:
    """Fields of a multipart/form-data body; files become their byte counts."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload: Any = part.get_payload(decode=True)
        if part.get_filename() is not None:
            fields.setdefault(name, []).append(len(payload))
        else:
            fields[name] = bytes(payload).decode()
    return fields


class ImageServer:
    """A local server that answers like OpenAI's image endpoints; a context manager.

    Entering the block starts it on a free port of 127.0.0.1 (on a daemon
    thread); leaving it stops it. Give the ``openai`` client its
    :attr:`base_url` and any API key (or keep the provider's real
    ``base_url`` and give it :meth:`http_client`)::

        with ImageServer() as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
            client.images.generate(model="gpt-image-1", prompt="a fox")
            server.fail_next(429, "slow down")  # the next request is refused
            ...

    Requests are answered in the order they arrive: first with what
    :meth:`answer_next` and :meth:`fail_next` queued, one request each, then
    with an answer built from the request (its model, ``n``, size, quality;
    ``stream=true`` gets server-sent events). GPT image models report token
    usage: ``gpt-image-1`` and its kin the spec's example, the
    ``gpt-image-2`` family (``gpt-image-2.5-*`` too) the image tokens OpenAI
    bills for the size and quality. Thread-safe.

    Azure OpenAI clients are answered at :attr:`url` (their
    ``azure_endpoint``): a request to a deployment is answered as the model
    ``deployments`` maps it to (as the deployment's own name otherwise)::

        with ImageServer(deployments={"prod-images": "gpt-image-2"}) as server:
            azure = openai.AzureOpenAI(
                azure_endpoint=server.url, api_key="test", api_version="2025-04-01-preview"
            )
            azure.images.generate(model="prod-images", prompt="a fox")

    Gemini's ``generateContent`` (``POST {url}/v1beta/models/{model}:generateContent``)
    gets one inline image and ``usageMetadata`` by modality: the prompt's
    text tokens in, the image tokens of the resolution tier asked
    (``generationConfig.imageConfig.imageSize``, ``1K`` by default) out;
    ``:streamGenerateContent?alt=sse`` the same as server-sent events, the
    whole usage on the last one. Give ``google-genai`` the server's
    :attr:`url`: ``genai.Client(api_key="test",
    http_options=types.HttpOptions(base_url=server.url))``. For Gemini,
    ``fail_next`` answers in Google's error shape, ``answer_next({"finish_reason":
    "IMAGE_SAFETY"})`` holds the image back, and ``answer_next({"cut_after": 2})``
    breaks a stream off after its second event.

    The Responses API (``POST /v1/responses``) answers as OpenAI does, as
    JSON or, for ``stream=true``, server-sent events of the real types with
    their ``sequence_number``: a request with an ``image_generation`` tool
    gets one completed ``image_generation_call`` (the tool echoed in
    ``tools`` with OpenAI's defaults; ``tool_usage.image_gen`` with the
    image tokens OpenAI bills for the size and quality, apart from the main
    model's ``usage``), then a message; one without the tool a message
    only. :attr:`responses` scripts the next answer's image calls, or cuts
    its stream short::

        server.responses.plan_next(["completed", "failed"])  # one image, one blocked
        server.responses.plan_next([])  # the tool offered, not used
        server.responses.plan_next(cut_after="response.image_generation_call.generating")

    Args:
        b64_size: Characters of each image's base64 stand-in, for answers as
            big as real ones (a few characters by default).
        gzip: Compress JSON answers with gzip when the request accepts it,
            as OpenAI's servers do.
        deployments: Azure deployment names and the model each one serves.
        tls: A server-side ``ssl.SSLContext`` (a throwaway certificate for
            127.0.0.1): the server then speaks HTTPS, for SDKs that insist on
            it; trust the certificate through the SDK's own settings.

    Attributes:
        responses: The Responses API endpoint, and its ``plan_next``.
        requests: Every request received, in order: its path
            (``/v1/images/generations``, with its query if it has one), its
            body (JSON, or the form's fields with each file as its byte
            count; ``{}`` for a GET) and its headers, those naming a secret masked
            (``Authorization: Bearer [redacted]``).
    """

    def __init__(
        self,
        *,
        b64_size: int | None = None,
        gzip: bool = False,
        deployments: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._b64 = B64 if b64_size is None else "A" * b64_size
        self._gzip = gzip
        self._deployments = dict(deployments or {})
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self._script: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._ids = itertools.count(1)
        #: Request ids differ from one server to the next (a store keeps them all).
        self._run = secrets.token_hex(4)
        self._delays: deque[tuple[float, threading.Event]] = deque()
        self._lock = threading.Lock()
        #: ``POST /v1/responses``, and its scripting (``plan_next``).
        self.responses = ResponsesEndpoint(self._b64, self._deployments)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                self.raw_body = raw  # what a route may need as sent (a signature's digest)
                kind = self.headers.get("content-type") or "application/json"  # Bedrock's default
                if "json" not in kind:
                    server._answer(self, _form(kind, raw))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:  # not JSON (or not UTF-8): refused, as a provider does
                    server.send_json(self, 400, _NOT_JSON, {})
                    return
                server._answer(self, body)

            def do_GET(self) -> None:
                server._answer(self, {}, "GET")

            def do_PUT(self) -> None:  # fal's cancel: its body, if any, is read and not used
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server._answer(self, {}, "PUT")

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # many clients at once (the default backlog is 5)

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that hung up (a cancelled call) is no error here

        self._http = Server(("127.0.0.1", 0), Handler)
        self._tls = tls
        if tls is not None:
            self._http.socket = tls.wrap_socket(self._http.socket, server_side=True)
        self._http.daemon_threads = True
        self._thread = Thread(
            target=self._http.serve_forever, name="aievents-image-server", daemon=True
        )

    @property
    def url(self) -> str:
        """The server's root URL: an Azure client's ``azure_endpoint``, a Gemini ``base_url``.

        ``https://`` when the server was given a ``tls`` context.
        """
        host, port = self._http.server_address[:2]
        return f"{'https' if self._tls is not None else 'http'}://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the openai client."""
        return f"{self.url}/v1"

    def http_client(self) -> httpx2.Client:
        """An ``http_client`` for ``openai.OpenAI`` that sends every request to this server.

        The client keeps its real ``base_url``, so its events name the real
        provider, while nothing leaves 127.0.0.1: each request goes to this
        server with the path and ``Host`` header the client gave it
        (environment proxies are ignored). It is the SDK's own
        ``DefaultHttpxClient`` (its timeouts and limits); it needs the
        ``openai`` extra::

            client = openai.OpenAI(
                base_url="https://api.x.ai/v1", api_key="test", http_client=server.http_client()
            )
            client.images.generate(model="grok-imagine-image", prompt="a fox")  # provider "xai"

        Closing the openai client closes it.
        """
        require_extra("ImageServer.http_client", "openai", ("openai",))
        from aievents.testing._offline import local_client  # noqa: PLC0415 - openai when used

        return local_client(self._port)

    def async_http_client(self) -> httpx2.AsyncClient:
        """:meth:`http_client` for ``openai.AsyncOpenAI``."""
        require_extra("ImageServer.async_http_client", "openai", ("openai",))
        from aievents.testing._offline import async_local_client  # noqa: PLC0415

        return async_local_client(self._port)

    @property
    def _port(self) -> int:
        return int(self._http.server_address[1])

    def answer_next(
        self, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next request not yet scripted with ``body`` as JSON.

        Args:
            body: The JSON answer, as it is (``{"created": 1, "data": []}``).
            status: The HTTP status.
            headers: More headers (``x-request-id`` is always sent).
        """
        with self._lock:
            self._script.append((status, body, dict(headers or {})))

    def fail_next(
        self, status: int, message: str = "failure", headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next request not yet scripted with ``status`` and an OpenAI error body.

        The openai SDK raises the matching error (429: ``RateLimitError``,
        400: ``BadRequestError``, 500: ``InternalServerError``...) with
        ``message``. ``headers`` adds headers, such as ``retry-after``.
        """
        body = {"error": {"message": message, "type": "scripted_error", "code": None}}
        self.answer_next(body, status, headers)

    def delay_next(self, seconds: float) -> threading.Event:
        """Hold the next answer for ``seconds``, or until the returned event is set.

        For a slow server or a timeout: set the event to let the answer go.
        """
        release = threading.Event()
        with self._lock:
            self._delays.append((seconds, release))
        return release

    def __enter__(self) -> ImageServer:
        """Start serving."""
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    # ------------------------------------------------------------------ answers

    def _answer(
        self, handler: BaseHTTPRequestHandler, body: dict[str, Any], method: str = "POST"
    ) -> None:
        request_id = f"req_local_{self._run}_{next(self._ids)}"
        with self._lock:
            self.requests.append((handler.path, body, recorded_headers(handler.headers)))
            scripted = self._script.popleft() if self._script else None
            delay = self._delays.popleft() if self._delays else None
        if delay is not None:
            delay[1].wait(delay[0])
        exchange = Exchange(handler, method, body, scripted, request_id)
        for route in _routes():
            if route(self, exchange):
                return
        if method != "POST":  # OpenAI's image paths take POST only
            error = {"error": {"message": f"no {method} {exchange.path}", "type": "not_found"}}
            self.send_json(handler, 404, error, {"x-request-id": request_id})
            return
        path = exchange.path
        gemini = GEMINI_PATH.fullmatch(path)
        if gemini is not None:  # Google's shapes, for what was scripted too
            google = gemini_reply(gemini, body, scripted, b64=self._b64, request_id=request_id)
            if google.events is not None:
                send_events(handler, google)
            else:
                self.send_json(handler, google.status, google.body or {}, google.headers)
            return
        if scripted is not None:
            status, payload, headers = scripted
            self.send_json(handler, status, payload, {"x-request-id": request_id, **headers})
            return
        if path.endswith("/responses"):  # the Responses API (testing/_responses.py)
            deployment = handler.headers.get(IMAGE_DEPLOYMENT)  # Azure's image deployment
            if body.get("stream"):
                self._send_stream(handler, self.responses.stream(body, deployment), request_id)
            else:
                reply = self.responses.reply(body, deployment)
                self.send_json(handler, 200, reply, {"x-request-id": request_id})
            return
        edit = path.endswith("/edits")
        if str(body.get("stream", "false")).lower() == "true":
            self._send_stream(handler, self._stream_events(body, edit=edit), request_id)
            return
        model = str(body.get("model", "dall-e-2"))
        azure = _AZURE_PATH.fullmatch(path)
        if azure is not None:  # the deployment in the path serves the request
            model = self._deployments.get(azure[1], azure[1])
        answer = openai_answer(model, body, edit=edit, b64=self._b64)
        self.send_json(handler, 200, answer, {"x-request-id": request_id})

    def send_json(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        """Answer ``payload`` as JSON (gzipped when the server was made so and the client asks)."""
        data = json.dumps(payload).encode()
        if self._gzip and "gzip" in handler.headers.get("accept-encoding", ""):
            data = gzip.compress(data)
            headers = {"content-encoding": "gzip", **headers}
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _send_stream(
        self,
        handler: BaseHTTPRequestHandler,
        events: Iterator[tuple[str, dict[str, Any]]],
        request_id: str,
    ) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("x-request-id", request_id)
        handler.send_header("connection", "close")
        handler.end_headers()
        for name, data in events:
            handler.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            handler.wfile.flush()
        handler.close_connection = True

    def _stream_events(
        self, body: dict[str, Any], *, edit: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        prefix = "image_edit" if edit else "image_generation"
        common = {
            "background": "opaque",
            "created_at": 1713833628,
            "output_format": "png",
            "quality": "medium",
            "size": "1024x1024",
        }
        for index in range(int(body.get("partial_images", 0))):
            yield (
                f"{prefix}.partial_image",
                {
                    "type": f"{prefix}.partial_image",
                    "b64_json": B64,
                    "partial_image_index": index,
                    **common,
                },
            )
        yield (
            f"{prefix}.completed",
            {
                "type": f"{prefix}.completed",
                "b64_json": B64,
                "usage": gpt_usage(1, edit=edit),
                **common,
            },
        )
