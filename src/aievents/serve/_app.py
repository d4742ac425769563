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

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from aievents._diag import RateLimitedLog
from aievents._extras import missing_extra
from aievents.exceptions import QueryError, StoreError
from aievents.query import costs, spend, usage
from aievents.serve._dashboard import dashboard_routes, is_dashboard_path
from aievents.serve._params import ParamError, Spec, parse, shown, spec_of

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
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

__all__ = ["COSTS_PATH", "SPEND_PATH", "USAGE_PATH", "Reporting", "create_app", "error_response"]

#: OpenAI's images usage endpoint.
USAGE_PATH: Final = "/v1/organization/usage/images"
#: OpenAI's costs endpoint.
COSTS_PATH: Final = "/v1/organization/costs"
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
        self._expected = key.encode("ascii")

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the key (in time that does not depend on where they differ)."""
        return hmac.compare_digest(given.encode("latin-1", "replace"), self._expected)

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


def _invalid(error: QueryError) -> JSONResponse:
    """A value the query refused: 400, naming the parameter."""
    text = str(error)
    if error.owner:
        text = text.removeprefix(f"{error.owner}: ")
    return error_response(400, f"Invalid value: {text}.", param=error.field, code="invalid_value")


def _endpoint(
    ask: Callable[..., Page | Spend], spec: Spec, kind: str
) -> Callable[[Request], Awaitable[Response]]:
    """A route's handler: the request's parameters, the page in a worker thread, its JSON."""

    async def answer(request: Request) -> Response:
        try:
            asked = parse(request.query_params.multi_items(), spec)
            page = await run_in_threadpool(ask, **asked)
            return JSONResponse(page.to_dict())
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
        except Exception as error:  # noqa: BLE001 - an answer, never a traceback
            _log(("bug", kind), "error", "serve_failed", error=error, traceback=True, endpoint=kind)
            return error_response(
                500,
                "The server could not answer; its log says why.",
                kind="server_error",
                code="internal_error",
            )

    return answer


def _spend_endpoint(reports: Reporting) -> Callable[[Request], Awaitable[Response]]:
    """``GET /v1/aievents/spend``: ``reports.spend(...)`` as :meth:`Spend.to_dict` writes it."""

    def spent(**asked: Any) -> Spend:
        return reports.spend(**asked)  # asked when a request comes: only then is it needed

    return _endpoint(spent, spec_of(spend), "spend")


async def _http_error(request: Request, error: Exception) -> Response:
    """404, 405 (and any other HTTP error the router raises) as OpenAI's error object."""
    status = error.status_code if isinstance(error, HTTPException) else 500
    where = f"{request.method} {shown(request.url.path)}"
    if status == 404:
        return error_response(404, f"Invalid URL ({where}).", code="not_found")
    if status == 405:
        allowed = dict(error.headers or {}) if isinstance(error, HTTPException) else {}
        return error_response(
            405, f"Method not allowed ({where}): use GET.", code="method_not_allowed",
            headers=allowed,
        )  # fmt: skip
    detail = error.detail if isinstance(error, HTTPException) else "error"
    return error_response(status, shown(str(detail)), code=None)


def create_app(reports: Reporting, *, key: str | None = None) -> Starlette:
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

    Raises:
        ValueError: ``key`` is empty or not printable ASCII without spaces.
    """
    middleware = [] if key is None else [Middleware(_BearerKey, key=_Key(key))]
    routes: list[BaseRoute] = [
        Route(USAGE_PATH, _endpoint(reports.usage, spec_of(usage), "usage"), methods=["GET"]),
        Route(COSTS_PATH, _endpoint(reports.costs, spec_of(costs), "costs"), methods=["GET"]),
        Route(SPEND_PATH, _spend_endpoint(reports), methods=["GET"]),
    ]
    routes += dashboard_routes(reports, key=key)
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_error}
    )
