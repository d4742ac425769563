"""Who may see the dashboard: a bearer key, or the session cookie the login form sets.

With a key, every request to the page and its files carries either
``Authorization: Bearer <key>`` or the session cookie. The cookie's value
is the time the session ends (Unix seconds, :data:`SESSION_SECONDS` after
the login) and an HMAC-SHA256 of it under the key, never the key itself:
it cannot be turned back into the key, it changes when the key does, and
it opens nothing once that time has passed (a cookie kept or copied
elsewhere too). Logging out (``POST /logout``) clears it in the browser.
Keys are compared with :func:`hmac.compare_digest`. The key is kept in a
closure, never in an attribute, a page, a log line or a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qs

from aievents.serve._dashsvg import esc

__all__ = ["COOKIE", "MAX_FORM", "SESSION_SECONDS", "Access", "access", "login_page"]

#: The session cookie's name.
COOKIE: Final = "aievents_dashboard"
#: The longest login form read, in bytes.
MAX_FORM: Final = 16384
#: How long a login lasts, in seconds (12 hours); the cookie's Max-Age too.
SESSION_SECONDS: Final = 12 * 3600
_LABEL: Final = b"aievents dashboard session v2 until "
#: The longest end time a cookie may write (digits): past 5138, nothing is read.
_DIGITS: Final = 11

#: ``allowed(authorization, cookie)``, ``login(body)`` and ``session()``, a new cookie's value.
Access = tuple[Callable[[str | None, str | None], bool], Callable[[bytes], bool], Callable[[], str]]


def access(key: str, clock: Callable[[], float] = time.time) -> Access:
    """The checks for ``key``: a request's headers, a login form's body; a new session's value.

    ``clock`` is the time in Unix seconds, by which sessions end.

    Raises:
        ValueError: ``key`` is not a non-empty string (the key is not in the message).
    """
    if not isinstance(key, str) or not key or key.strip() != key:
        raise ValueError("dashboard key must be a non-empty string without surrounding spaces")
    secret = key.encode()

    def signed(ends: str) -> str:
        return hmac.new(secret, _LABEL + ends.encode(), hashlib.sha256).hexdigest()

    def session() -> str:
        ends = str(int(clock()) + SESSION_SECONDS)
        return f"{ends}.{signed(ends)}"

    def live(cookie: str) -> bool:
        ends, _, mac = cookie.partition(".")
        if not (0 < len(ends) <= _DIGITS and ends.isascii() and ends.isdigit()):
            return False
        now = clock()
        if not now < int(ends) <= now + SESSION_SECONDS:
            return False  # over, or written by no login of this server
        return hmac.compare_digest(mac.encode(), signed(ends).encode())

    def allowed(authorization: str | None, cookie: str | None) -> bool:
        if authorization is not None:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), secret):
                return True
        return cookie is not None and live(cookie)

    def login(body: bytes) -> bool:
        try:
            fields = parse_qs(body.decode(), max_num_fields=4)
        except (UnicodeDecodeError, ValueError):
            return False
        given = fields.get("key", [""])[0]
        return hmac.compare_digest(given.encode(), secret)

    return allowed, login, session


def login_page(root: str, wrong: bool) -> str:
    """The login form (no stylesheet: the files are behind the key too)."""
    problem = '<p class="alert" id="login-error">That key is not this server&#x27;s.</p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>aievents: log in</title></head><body><h1>aievents</h1>"
        "<p>This dashboard asks for the server&#x27;s key.</p>"
        f"{problem if wrong else ''}"
        f'<form id="login" method="post" action="{esc(root)}/login">'
        '<label>Key <input type="password" name="key" id="key" autocomplete="current-password" '
        'required autofocus></label> <button type="submit" id="log-in">Log in</button>'
        "</form></body></html>"
    )
