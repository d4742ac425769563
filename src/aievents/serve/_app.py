"""The ASGI app: OpenAI's two organization endpoints over any reports, with JSON errors.

Every answer is JSON. A page is :meth:`aievents.query.Page.to_dict`; an
error is OpenAI's error object::

    {"error": {"message": "...", "type": "invalid_request_error",
               "param": "limit", "code": "invalid_value"}}

400 for a request the query cannot take (``param`` names the parameter),
401 without the bearer key when one is set, 404 for a path that is not one,
405 for a method other than ``GET`` (``HEAD``), 503 when the store cannot be
read (the reason is logged, not sent), and 500 for anything else (logged,
never a traceback in the answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from aievents._diag import RateLimitedLog
from aievents._extras import missing_extra
from aievents.exceptions import QueryError, StoreError
from aievents.query import costs, spend, usage
from aievents.serve._dashboard import dashboard_routes, is_dashboard_path
from aievents.serve._params import ParamError, Spec, parse, shown, spec_of

try:
    from anyio import CapacityLimiter
    from starlette.applications import Starlette
    from starlette.datastructures import Headers
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import BaseRoute, Route
except ImportError as _error:
    raise missing_extra("aievents.serve", "serve", _error) from None

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from aievents.query import Page, Spend

__all__ = [
    "COSTS_PATH",
    "LOCAL_HOSTS",
    "SPEND_PATH",
    "USAGE_PATH",
    "Reporting",
    "create_app",
    "error_response",
]

#: OpenAI's images usage endpoint.
USAGE_PATH: Final = "/v1/organization/usage/images"
#: OpenAI's costs endpoint.
COSTS_PATH: Final = "/v1/organization/costs"
#: Queries an app runs at once, each on a daemon thread of its own.
WORKERS: Final = 6
#: The ``Host`` names (any port) a server without a key answers.
LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: What was spent since a time: an aievents extension, not an OpenAI endpoint.
SPEND_PATH: Final = "/v1/aievents/spend"

_log = RateLimitedLog("serve")


class Reporting(Protocol):
    """What the app answers from: ``usage()`` and ``costs()`` as :class:`aievents.query.Reports`.

    :class:`~aievents.sinks.AggregateSink` and :class:`~aievents.sinks.StoreSink`
    are such objects.
    """

    def usage(self, *args: Any, **kwargs: Any) -> Page:
        """Images usage, as :func:`aievents.query.usage` answers it."""

    def costs(self, *args: Any, **kwargs: Any) -> Page:
        """Costs, as :func:`aievents.query.costs` answers them."""

    def spend(self, *args: Any, **kwargs: Any) -> Spend:
        """What was spent since a time, as :func:`aievents.query.spend` answers it."""


def error_response(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """OpenAI's error object (``{"error": {message, type, param, code}}``) with ``status``."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class _Key:
    """The bearer key, compared in constant time; never shown."""

    __slots__ = ("_expected",)

    def __init__(self, key: str) -> None:
        if not isinstance(key, str) or not key or not all(" " < c < "\x7f" for c in key):
            raise ValueError(
                "key must be a non-empty string of printable ASCII without spaces "
                "(it is sent as 'Authorization: Bearer KEY')"
            )
        self._expected = hashlib.sha256(key.encode("ascii")).digest()

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the key, in time that depends on neither where they differ nor
        the key's length (the SHA-256 digests of both are compared)."""
        digest = hashlib.sha256(given.encode("latin-1", "replace")).digest()
        return hmac.compare_digest(digest, self._expected)

    def __repr__(self) -> str:
        return "<bearer key>"


class _BearerKey:
    """ASGI middleware: every request carries ``Authorization: Bearer <key>``, or 401.

    But the dashboard's own routes, which check the key themselves (a
    browser sends it once, to the login form, then a session cookie).
    """

    def __init__(self, app: ASGIApp, key: _Key) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_dashboard_path(scope["path"]):
            await self.app(scope, receive, send)  # the lifespan; the dashboard's own check
            return
        given = Headers(scope=scope).get("authorization")
        refusal = None
        challenge = {"WWW-Authenticate": "Bearer"}
        if given is None:
            refusal = error_response(
                401,
                "You didn't provide an API key: send it in an Authorization header "
                "('Authorization: Bearer KEY').",
                headers=challenge,
            )
        else:
            scheme, _, token = given.strip().partition(" ")
            if scheme.lower() != "bearer" or not self.key.matches(token.strip()):
                refusal = error_response(
                    401, "Incorrect API key provided.", code="invalid_api_key", headers=challenge
                )
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def host_name(header: str | None) -> str | None:
    """The name of a ``Host`` header without its port (lower case), or None if it is not one."""
    if header is None:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        name, _, port = header.partition("]")
        name += "]"
        if port and not port.startswith(":"):
            return None
        port = port[1:]
    else:
        name, _, port = header.partition(":")
    return name if name and (not port or port.isdigit()) else None


class _LocalHosts:
    """ASGI middleware: only requests whose ``Host`` is one of ``hosts`` (any port), else 400.

    A page of another site that a browser is made to send here through DNS
    rebinding names that site as its ``Host``: it is refused.
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = host_name(Headers(scope=scope).get("host")) if scope["type"] == "http" else None
        if scope["type"] == "http" and host not in self.hosts:
            refusal = error_response(
                400,
                "Invalid Host header: this server answers only requests to "
                + ", ".join(sorted(self.hosts))
                + " (it has no key; give it one to serve other names).",
                code="invalid_host",
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _invalid(error: QueryError) -> JSONResponse:
    """A value the query refused: 400, naming the parameter."""
    text = str(error)
    if error.owner:
        text = text.removeprefix(f"{error.owner}: ")
    return error_response(400, f"Invalid value: {text}.", param=error.field, code="invalid_value")


class _Workers:
    """Runs queries on daemon threads, at most :data:`WORKERS` at once.

    A query the server stops waiting for (it is shutting down) runs on to
    its end on its thread, which holds its place meanwhile, but never keeps
    the process alive: the threads are daemons.
    """

    def __init__(self, size: int = WORKERS) -> None:
        self._size = size
        self._limiter: CapacityLimiter | None = None  # made on the event loop, when first used

    async def run(self, work: Callable[[], bytes]) -> bytes:
        """``work()`` on a daemon thread once a place is free; what it returns or raises."""
        if self._limiter is None:
            self._limiter = CapacityLimiter(self._size)
        limiter, token = self._limiter, object()
        await limiter.acquire_on_behalf_of(token)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()

        def done(outcome: Callable[[], None]) -> None:  # on the loop
            limiter.release_on_behalf_of(token)
            if not answer.done():
                outcome()

        def work_on_thread() -> None:
            try:
                body = work()
            except BaseException as error:  # noqa: BLE001 - handed to the request
                caught = error
                outcome = lambda: answer.set_exception(caught)  # noqa: E731
            else:
                outcome = lambda: answer.set_result(body)  # noqa: E731
            with contextlib.suppress(RuntimeError):  # a closed loop: the server has stopped
                loop.call_soon_threadsafe(done, outcome)

        thread = threading.Thread(target=work_on_thread, name="aievents-serve-query", daemon=True)
        try:
            thread.start()
        except BaseException:
            limiter.release_on_behalf_of(token)
            raise
        return await answer


def _json(content: Any) -> bytes:
    """``content`` as the JSON the answers carry (as Starlette's JSONResponse writes it)."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def _endpoint(
    ask: Callable[..., Page | Spend], spec: Spec, kind: str, workers: _Workers
) -> Callable[[Request], Awaitable[Response]]:
    """A route's handler: the request's parameters; the page and its JSON on a worker thread."""

    async def answer(request: Request) -> Response:
        try:
            asked = parse(request.query_params.multi_items(), spec)
            body = await workers.run(lambda: _json(ask(**asked).to_dict()))
            return Response(body, media_type="application/json")
        except ParamError as error:
            return error_response(400, error.message, param=error.param, code=error.code)
        except QueryError as error:
            return _invalid(error)
        except StoreError as error:  # its message has no password; still, only logged
            _log(("store", kind), "error", "serve_store_unreadable", error=error, endpoint=kind)
            return error_response(
                503,
                "The usage store cannot be read now; the server's log says why.",
                kind="server_error",
                code="store_unavailable",
            )
        except asyncio.CancelledError:  # the server stops, and waited long enough for this
            return error_response(
                503,
                "The server is shutting down; ask again later.",
                kind="server_error",
                code="shutting_down",
                headers={"Connection": "close"},
            )
        except Exception as error:  # noqa: BLE001 - an answer, never a traceback
            _log(("bug", kind), "error", "serve_failed", error=error, traceback=True, endpoint=kind)
            return error_response(
                500,
                "The server could not answer; its log says why.",
                kind="server_error",
                code="internal_error",
            )

    return answer


def _spend_endpoint(
    reports: Reporting, workers: _Workers
) -> Callable[[Request], Awaitable[Response]]:
    """``GET /v1/aievents/spend``: ``reports.spend(...)`` as :meth:`Spend.to_dict` writes it."""

    def spent(**asked: Any) -> Spend:
        return reports.spend(**asked)  # asked when a request comes: only then is it needed

    return _endpoint(spent, spec_of(spend, times=("since", "until")), "spend", workers)


async def _http_error(request: Request, error: Exception) -> Response:
    """404, 405 (and any other HTTP error the router raises) as OpenAI's error object."""
    status = error.status_code if isinstance(error, HTTPException) else 500
    where = f"{request.method} {shown(request.url.path)}"
    if status == 404:
        return error_response(404, f"Invalid URL ({where}).", code="not_found")
    if status == 405:
        allowed = dict(error.headers or {}) if isinstance(error, HTTPException) else {}
        methods = allowed.get("Allow") or allowed.get("allow") or "GET"
        return error_response(
            405, f"Method not allowed ({where}): use {shown(methods)}.", code="method_not_allowed",
            headers=allowed,
        )  # fmt: skip
    detail = error.detail if isinstance(error, HTTPException) else "error"
    return error_response(status, shown(str(detail)), code=None)


def create_app(
    reports: Reporting, *, key: str | None = None, hosts: Iterable[str] | None = None
) -> Starlette:
    """The ASGI app answering OpenAI's usage and costs endpoints from ``reports``.

    ``GET /v1/organization/usage/images`` answers ``reports.usage(...)`` and
    ``GET /v1/organization/costs`` ``reports.costs(...)``, as
    :meth:`aievents.query.Page.to_dict` writes the page; the extension
    ``GET /v1/aievents/spend`` answers ``reports.spend(...)`` as
    :meth:`aievents.query.Spend.to_dict` writes it. The query string
    is read as OpenAI reads it (see the serving guide); a query the
    parameters do not make is a 400 naming the parameter.

    Args:
        reports: Anything with ``usage()`` and ``costs()`` like
            :class:`aievents.query.Reports`: an
            :class:`~aievents.sinks.AggregateSink`, a
            :class:`~aievents.sinks.StoreSink`.
        key: When set, every API request must carry ``Authorization: Bearer
            <key>`` (compared in constant time), or it is answered 401; the
            dashboard at ``/`` asks for it once, in its login form. It is
            never logged nor shown.
        hosts: The ``Host`` names (without a port) the app answers; a request
            to any other is answered 400 (``invalid_host``). By default,
            without ``key``, only :data:`LOCAL_HOSTS` (``127.0.0.1``,
            ``localhost``, ``[::1]``), so that a web page cannot reach the
            server through DNS rebinding; with ``key``, any. Give the names
            a reverse proxy sends when it forwards to a server without a key.

    Raises:
        ValueError: ``key`` is empty or not printable ASCII without spaces.
    """
    middleware = []
    if hosts is not None or key is None:
        names = LOCAL_HOSTS if hosts is None else frozenset(name.lower() for name in hosts)
        middleware.append(Middleware(_LocalHosts, hosts=names))
    if key is not None:
        middleware.append(Middleware(_BearerKey, key=_Key(key)))
    workers = _Workers()
    routes: list[BaseRoute] = [
        Route(
            USAGE_PATH, _endpoint(reports.usage, spec_of(usage), "usage", workers), methods=["GET"]
        ),
        Route(
            COSTS_PATH, _endpoint(reports.costs, spec_of(costs), "costs", workers), methods=["GET"]
        ),
        Route(SPEND_PATH, _spend_endpoint(reports, workers), methods=["GET"]),
    ]
    routes += dashboard_routes(reports, key=key)
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_error}
    )
    # No redirect from /path/ to /path: its Location would be built from the Host header.
    app.router.redirect_slashes = False
    return app
