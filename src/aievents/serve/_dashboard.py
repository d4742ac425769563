"""The dashboard's routes: the page at ``/`` and the files it loads, all served from here.

:func:`dashboard_routes` gives Starlette routes over anything with
``usage()`` as the sinks that answer queries have it
(:class:`~aievents.sinks.AggregateSink`, :class:`~aievents.StoreSink`).
The page is drawn on the server (inline SVG charts); its stylesheet, script
and icon are files of this package (``static/``). Nothing is loaded from
anywhere else, and the page's Content-Security-Policy says so to the
browser: scripts, styles, images and fetches from this server only, no
inline script or style, no frames.

The query string is the viewer's choice (``range``, ``width``, ``group``,
``models``, ``project_ids``, ``user_ids``; ``models[]`` and the like as
OpenAI's API takes arrays), so a view is a URL. A wrong value, a NUL in a
value or an unknown parameter is answered 400 with a page naming the
parameter and its value; a store that cannot be read, 503 with the store's
own words (which never hold its password).

With a key, the page and its files need ``Authorization: Bearer <key>`` or
the session cookie set by ``POST /login`` (:mod:`aievents.serve._dashauth`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from typing import Any, Final

from aievents._extras import missing_extra

try:
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import BaseRoute, Route
except ImportError as _error:
    raise missing_extra("The dashboard", "serve", _error) from None

from aievents._validate import setting
from aievents.exceptions import QueryError, StoreError
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.serve._dashauth import COOKIE, MAX_FORM, SESSION_SECONDS, access, login_page
from aievents.serve._dashhtml import REFRESH_SECONDS, error_page, page, report
from aievents.serve._dashview import Reports, choose, view

__all__ = ["CONTENT_SECURITY_POLICY", "FRAGMENT_HEADER", "dashboard_routes", "is_dashboard_path"]

#: Everything from this server only; no inline script or style, no frames, no plugins.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: The request header with which the page's script asks for the report alone.
FRAGMENT_HEADER: Final = "x-aievents-fragment"

_ASSETS: Final = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _asset(name: str) -> bytes:
    return resources.files("aievents.serve").joinpath("static").joinpath(name).read_bytes()


def _root(request: Request) -> str:
    """Where the app is mounted (its root path), without a trailing slash: links start there."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def is_dashboard_path(path: str) -> bool:
    """Whether ``path`` is one of the dashboard's routes (which check the key themselves)."""
    return path in ("/", "/login", "/logout") or path.startswith("/assets/")


def dashboard_routes(
    reports: Reports,
    *,
    prices: PriceBook | PriceTable | None = None,
    clock: Callable[[], float] = time.time,
    refresh: int = REFRESH_SECONDS,
    key: str | None = None,
) -> list[BaseRoute]:
    """The dashboard's Starlette routes: the page at ``/`` and its files under ``/assets/``.

    Args:
        reports: Where the numbers come from: anything with ``usage()`` as
            :meth:`AggregateSink.usage <aievents.sinks.AggregateSink.usage>` has it.
        prices: The book whose table says which models are retired or
            deprecated (the process default book when omitted); the cost
            itself is what ``reports`` answers.
        clock: The current time in Unix seconds (the range ends now).
        refresh: Seconds between two fetches of the report by the open
            page (0: none).
        key: When set, the page and its files are shown only to requests
            with ``Authorization: Bearer <key>`` or the session cookie that
            logging in at ``/login`` with the key sets (for 12 hours, or
            until ``POST /logout``, the page's "Log out"); others get the
            login form (status 401). The key is never shown or logged.

    Raises:
        ImportError: Starlette is not installed (the ``serve`` extra).
        ValueError: ``refresh`` is not a whole number of seconds from 0, or
            ``key`` is not a non-empty string.
    """
    refresh = setting("refresh", refresh)
    book = book_for(prices)
    files = {name: _asset(name) for name in _ASSETS}
    # Sessions end by the wall clock, not by ``clock`` (which may show another time).
    checks = None if key is None else access(key)
    del key  # kept only inside the checks

    def allowed(request: Request) -> bool:
        if checks is None:
            return True
        return checks[0](request.headers.get("authorization"), request.cookies.get(COOKIE))

    def dashboard(request: Request) -> Response:
        root = _root(request)
        if not allowed(request):
            return _html(login_page(root, wrong=False), 401)
        now = clock()
        fragment = request.headers.get(FRAGMENT_HEADER) == "report"
        try:
            choice = choose(request.query_params.multi_items(), now)
            shown = view(reports, choice, book, now, options=not fragment)
        except QueryError as error:
            return _html(error_page(root, str(error)), 400)
        except StoreError as error:
            return _html(error_page(root, f"the store cannot be read: {error}"), 503)
        if fragment:
            return _html(report(shown), 200)
        cookie = checks is not None and COOKIE in request.cookies  # a bearer has nothing to end
        return _html(page(shown, root, refresh, logout=cookie), 200)

    async def login(request: Request) -> Response:
        root = _root(request)
        if checks is None or request.method == "GET":
            return _html(login_page(root, wrong=False), 200)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                return _html(login_page(root, wrong=True), 413)
        if not checks[1](body):
            return _html(login_page(root, wrong=True), 401)
        answer = RedirectResponse(f"{root}/", 303, headers=_HEADERS)
        answer.set_cookie(
            COOKIE,
            checks[2](),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
        )
        return answer

    def logout(request: Request) -> Response:
        root = _root(request)
        answer = RedirectResponse(f"{root}/login", 303, headers=_HEADERS)
        if checks is None or not allowed(request):
            # Another site's form carries no SameSite=Strict cookie: it logs nobody out.
            return answer
        answer.delete_cookie(
            COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return answer

    def asset(request: Request) -> Response:
        if not allowed(request):
            return Response("log in first", 401, media_type="text/plain", headers=_HEADERS)
        name = request.path_params["name"]
        if name not in files:
            return Response("not found", 404, media_type="text/plain", headers=_HEADERS)
        headers = {**_HEADERS, "cache-control": "no-cache"}
        return Response(files[name], 200, media_type=_ASSETS[name], headers=headers)

    return [
        Route("/", dashboard, methods=["GET"], name="dashboard"),
        Route("/assets/{name}", asset, methods=["GET"], name="dashboard-asset"),
        Route("/login", login, methods=["GET", "POST"], name="dashboard-login"),
        Route("/logout", logout, methods=["POST"], name="dashboard-logout"),
    ]


def _html(text: str, status: int) -> Response:
    headers: dict[str, Any] = {**_HEADERS, "cache-control": "no-store", "vary": FRAGMENT_HEADER}
    return HTMLResponse(text, status, headers=headers)
