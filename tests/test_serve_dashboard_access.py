"""The dashboard behind a key over plain HTTP: a bearer key, or the login form's cookie."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.applications import Starlette

from aievents import AggregateSink
from aievents.serve._dashauth import SESSION_SECONDS, access
from aievents.serve._dashboard import dashboard_routes

from dashboard_site import Served

KEY = "s3cret-Dashboard-key"


@pytest.fixture(name="locked")
def _locked() -> Iterator[Served]:
    """The dashboard over an empty AggregateSink, with a key."""
    source = AggregateSink()
    with Served(Starlette(routes=dashboard_routes(source, key=KEY))) as served:
        yield served
    source.close(10)


def logged_in(url: str, key: str = KEY) -> httpx.Response:
    """The answer to posting the login form with ``key`` (not followed)."""
    return httpx.post(url + "/login", data={"key": key})


class TestLocked:
    """Without the key or the session cookie: the login form (401), and no files."""

    def test_page(self, locked: Served) -> None:
        """/ answers 401 with the login form; the report alone too; the key is not in it."""
        for headers in ({}, {"X-Aievents-Fragment": "report"}, {"Authorization": "Bearer no"}):
            answer = httpx.get(locked.url + "/?range=24h", headers=headers)
            assert answer.status_code == 401
            assert '<form id="login" method="post" action="/login">' in answer.text
            assert "spend-chart" not in answer.text
            assert KEY not in answer.text

    def test_assets(self, locked: Served) -> None:
        """The page's files answer 401 too."""
        for name in ("dashboard.css", "dashboard.js", "icon.svg", "nothing.txt"):
            answer = httpx.get(f"{locked.url}/assets/{name}")
            assert answer.status_code == 401
            assert KEY not in answer.text

    def test_wrong_key(self, locked: Served) -> None:
        """A wrong key at the form: 401, the form again saying so, no cookie."""
        for wrong in ("", "nope", KEY + "x", KEY[:-1], KEY.upper()):
            answer = logged_in(locked.url, wrong)
            assert answer.status_code == 401
            assert 'id="login-error"' in answer.text
            assert "set-cookie" not in answer.headers
        assert httpx.post(locked.url + "/login", content=b"\xff\xfe").status_code == 401


class TestOpened:
    """With the key as a bearer, or the cookie the login form sets, the page and its files."""

    def test_bearer(self, locked: Served) -> None:
        """Authorization: Bearer <key> opens the page and its files."""
        headers = {"Authorization": f"Bearer {KEY}"}
        answer = httpx.get(locked.url + "/", headers=headers)
        assert answer.status_code == 200
        assert "spend-chart" in answer.text
        assert KEY not in answer.text
        assert httpx.get(locked.url + "/assets/dashboard.js", headers=headers).status_code == 200

    def test_login(self, locked: Served) -> None:
        """The form's key sets an HttpOnly, SameSite=Strict cookie (not the key) and goes to /."""
        assert httpx.get(locked.url + "/login").status_code == 200
        answer = logged_in(locked.url)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert KEY not in cookie
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in attributes
        assert "samesite=strict" in attributes
        assert "path=/" in attributes
        assert f"max-age={SESSION_SECONDS}" in attributes
        name, _, value = cookie.split(";")[0].partition("=")
        ends, dot, mac = value.partition(".")
        assert dot
        assert len(mac) == 64
        assert 0 <= time.time() + SESSION_SECONDS - int(ends) <= 60
        with httpx.Client(base_url=locked.url, cookies={name: value}) as client:
            page = client.get("/?range=24h")
            assert page.status_code == 200
            assert "spend-chart" in page.text
            assert client.get("/assets/dashboard.css").status_code == 200
            assert client.get("/", headers={"X-Aievents-Fragment": "report"}).status_code == 200
        forged = f"{ends}.{'1' if mac[0] == '0' else '0'}{mac[1:]}"
        later = f"{int(ends) - 1}.{mac}"  # another end under the same signature
        for cookie in (forged, later, ends, mac, f"{ends}.", f".{mac}"):
            assert httpx.get(locked.url + "/", cookies={name: cookie}).status_code == 401

    def test_cookie_is_the_keys(self) -> None:
        """A cookie set under one key opens no dashboard with another."""
        sources = [AggregateSink(), AggregateSink()]
        with (
            Served(Starlette(routes=dashboard_routes(sources[0], key=KEY))) as first,
            Served(Starlette(routes=dashboard_routes(sources[1], key=KEY + "2"))) as second,
        ):
            cookie = logged_in(first.url).cookies
            assert httpx.get(first.url + "/", cookies=cookie).status_code == 200
            assert httpx.get(second.url + "/", cookies=cookie).status_code == 401
        for source in sources:
            source.close(10)


class TestSession:
    """A login lasts SESSION_SECONDS, or until the page's Log out."""

    @pytest.mark.parametrize(
        "shift",
        [-SESSION_SECONDS - 60, 3600],  # ended a minute ago; ends past any login's end
    )
    def test_outside_its_time(self, locked: Served, shift: int) -> None:
        """A cookie signed with the key, ended or ending past a login's end: nothing opens."""
        value = access(KEY, clock=lambda: time.time() + shift)[2]()
        assert httpx.get(locked.url + "/", cookies={"aievents_dashboard": value}).status_code == 401
        fresh = access(KEY)[2]()  # the same, made now: the server takes it
        assert httpx.get(locked.url + "/", cookies={"aievents_dashboard": fresh}).status_code == 200

    @pytest.mark.parametrize(
        "value",
        [b"", b".", b"abc.def", b"9" * 12 + b".x", b"9" * 5000 + b".x", b"\xb2\xb3.x", b"-1.x"],
    )
    def test_not_a_cookie(self, locked: Served, value: bytes) -> None:
        """A cookie of no session's form (superscript digits too): the login form."""
        headers = httpx.Headers([(b"Cookie", b"aievents_dashboard=" + value)])
        assert httpx.get(locked.url + "/", headers=headers).status_code == 401

    def test_log_out(self, locked: Served) -> None:
        """The page has a Log out button; posting it clears the cookie and shows the form."""
        with httpx.Client(base_url=locked.url) as client:
            assert client.post("/login", data={"key": KEY}).status_code == 303
            page = client.get("/")
            assert page.status_code == 200
            assert '<form id="logout" class="logout" method="post" action="/logout">' in page.text
            answer = client.post("/logout")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/login"
            cleared = [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
            assert cleared[0].startswith("aievents_dashboard=")
            assert "max-age=0" in cleared
            assert "aievents_dashboard" not in client.cookies
            assert client.get("/").status_code == 401

    def test_log_out_needs_the_cookie(self, locked: Served) -> None:
        """A POST /logout without the cookie (another site's form) clears nothing."""
        answer = httpx.post(locked.url + "/logout")
        assert answer.status_code == 303
        assert "set-cookie" not in answer.headers

    def test_no_log_out_for_a_bearer(self, locked: Served) -> None:
        """The page opened with the key as a bearer has no session, so no Log out."""
        page = httpx.get(locked.url + "/", headers={"Authorization": f"Bearer {KEY}"})
        assert page.status_code == 200
        assert 'id="log-out"' not in page.text

    def test_no_log_out_without_a_key(self) -> None:
        """A dashboard without a key shows no Log out."""
        source = AggregateSink()
        with Served(Starlette(routes=dashboard_routes(source))) as served:
            page = httpx.get(served.url + "/")
            assert page.status_code == 200
            assert 'id="log-out"' not in page.text
        source.close(10)


class TestKeyKept:
    """The key is checked, and never shown: not in errors, reprs or logs."""

    @pytest.mark.parametrize("key", ["", " padded ", 42])
    def test_refused(self, key: object) -> None:
        """An empty, padded or non-string key is refused, and not repeated."""
        with pytest.raises(ValueError, match="key") as caught:
            dashboard_routes(AggregateSink(), key=key)  # type: ignore[arg-type]
        if isinstance(key, str) and key.strip():
            assert key.strip() not in str(caught.value)

    def test_not_shown(self, caplog: pytest.LogCaptureFixture) -> None:
        """Neither the routes' reprs nor the log of a session hold the key."""
        caplog.set_level(logging.DEBUG)
        source = AggregateSink()
        routes = dashboard_routes(source, key=KEY)
        assert KEY not in repr(routes)
        assert all(KEY not in repr(vars(route)) for route in routes)
        with Served(Starlette(routes=routes)) as served:
            logged_in(served.url)
            logged_in(served.url, "wrong")
            httpx.get(served.url + "/", headers={"Authorization": f"Bearer {KEY}"})
        source.close(10)
        assert KEY not in caplog.text
