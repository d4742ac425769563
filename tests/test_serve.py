"""The usage API over real HTTP on 127.0.0.1: OpenAI's pages, parameters and errors.

The server is :func:`aievents.serve.serving` (uvicorn in a thread, on a free
port); the client is httpx. Every page is checked against OpenAI's schema
and against the same query asked of the AggregateSink in Python.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.query import Page
from aievents.serve import COSTS_PATH, SPEND_PATH, USAGE_PATH, create_app, is_loopback, serving
from aievents.sinks import AggregateSink, StoreSink

DAY = 86_400
T0 = 1_730_419_200  # 2024-11-01 00:00:00 UTC
#: The sinks' clock: a week and a half after T0 ("now" for a query without end_time).
NOW = T0 + 10 * DAY + 3_333
SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "openai_usage_response.schema.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
#: Models: two priced by tokens, one per image, one without a price.
MODELS = ("gpt-image-1", "gpt-image-2", "dall-e-2", "acme-unpriced")
SIZES = ("1024x1024", "1024x1536", "512x512")
SOURCES = ("image.generation", "image.edit", "image.variation")


def stream(seed: int, count: int = 400) -> list[ImageUsageEvent]:
    """``count`` events at random over ten days from T0, some without a price."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        model = rng.choice(MODELS)
        text, output = rng.randrange(1, 60), rng.randrange(100, 5000)
        if model == "dall-e-2":  # billed per image: no tokens
            text = output = 0
        usage = ImageUsage(
            input_tokens=text,
            output_tokens=output,
            input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=0),
        )
        events.append(
            ImageUsageEvent(
                request_id=f"s{seed}-{index}",
                timestamp=(T0 + rng.randrange(10 * DAY)) * 1000 + rng.randrange(1000),
                provider="openai",
                model=model,
                size=rng.choice(SIZES),
                operation=rng.choice(SOURCES),
                project_id=rng.choice(("proj_a", "proj_b")),
                user_id=rng.choice(("u1", "u2", "u3", None)),
                api_key_id=rng.choice(("key_1", "key_2")),
                images=rng.randrange(1, 4),
                usage=usage,
            )
        )
    return events


def summed(events: list[ImageUsageEvent]) -> AggregateSink:
    """An AggregateSink of ``events`` keeping minute detail for the whole window."""
    sink = AggregateSink(
        minute_detail=400 * DAY, hour_detail=400 * DAY, retention=400 * DAY, clock=lambda: NOW
    )
    for item in events:
        sink.handle(item)
    return sink


@pytest.fixture(name="sink", scope="module")
def _sink() -> AggregateSink:
    """The seeded random stream, summed."""
    return summed(stream(18))


@pytest.fixture(name="api", scope="module")
def _api(sink: AggregateSink) -> Iterator[httpx.Client]:
    """An HTTP client of the sink served on 127.0.0.1 (a free port)."""
    with serving(sink) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert url.startswith("http://127.0.0.1:")
        yield client


def page_of(response: httpx.Response) -> dict[str, Any]:
    """A 200 answer's page, checked against OpenAI's schema."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    page: dict[str, Any] = response.json()
    VALIDATOR.validate(page)
    return page


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """An error answer's object: OpenAI's four fields, and nothing else."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in response.text
    return error


#: (kind, query as sent, the same query in Python).
CASES = [
    ("usage", [], {}),
    ("usage", [("group_by", "model"), ("group_by", "size")], {"group_by": ["model", "size"]}),
    (
        "usage",
        [("group_by[]", "user_id"), ("group_by[]", "project_id"), ("group_by", "source")],
        {"group_by": ["user_id", "project_id", "source"]},
    ),
    (
        "usage",
        [("models[]", "gpt-image-1"), ("models", "acme-unpriced"), ("sizes", "1024x1024")],
        {"models": ["gpt-image-1", "acme-unpriced"], "sizes": ["1024x1024"]},
    ),
    (
        "usage",
        [
            ("sources[]", "image.edit"),
            ("user_ids", "u1"),
            ("user_ids", "u2"),
            ("group_by", "model"),
        ],
        {"sources": ["image.edit"], "user_ids": ["u1", "u2"], "group_by": ["model"]},
    ),
    (
        "usage",
        [("api_key_ids[]", "key_2"), ("project_ids", "proj_b"), ("bucket_width", "1h")],
        {"api_key_ids": ["key_2"], "project_ids": ["proj_b"], "bucket_width": "1h"},
    ),
    (
        "usage",
        [("bucket_width", "1m"), ("end_time", str(T0 + 2 * DAY)), ("limit", "700")],
        {"bucket_width": "1m", "end_time": T0 + 2 * DAY, "limit": 700},
    ),
    (
        "usage",
        [("end_time", str(T0 + 9 * DAY + 77)), ("limit", "2"), ("cost", "reported")],
        {"end_time": T0 + 9 * DAY + 77, "limit": 2, "cost": "reported"},
    ),
    ("costs", [], {}),
    ("costs", [("group_by", "line_item"), ("limit", "3")], {"group_by": ["line_item"], "limit": 3}),
    (
        "costs",
        [("group_by[]", "project_id"), ("group_by[]", "api_key_id"), ("project_ids[]", "proj_a")],
        {"group_by": ["project_id", "api_key_id"], "project_ids": ["proj_a"]},
    ),
    ("costs", [("api_key_ids", "key_1"), ("limit", "4")], {"api_key_ids": ["key_1"], "limit": 4}),
    # Extensions: costs by model, user and provider, and their filters.
    (
        "costs",
        [("group_by", "model"), ("group_by", "user_id"), ("user_ids[]", "u1")],
        {"group_by": ["model", "user_id"], "user_ids": ["u1"]},
    ),
    (
        "costs",
        [("group_by[]", "provider"), ("group_by[]", "line_item"), ("models", "gpt-image-2")],
        {"group_by": ["provider", "line_item"], "models": ["gpt-image-2"]},
    ),
    ("costs", [("providers", "openai")], {"providers": ["openai"]}),
]


def pages(
    api: httpx.Client, sink: AggregateSink, kind: str, query: list[tuple[str, str]], asked: Any
) -> int:
    """Every page of a query over HTTP, each equal to the sink's; how many there were."""
    path = USAGE_PATH if kind == "usage" else COSTS_PATH
    cursor = None
    count = 0
    while True:
        sent = [("start_time", str(T0 + 1234)), *query]
        sent += [] if cursor is None else [("page", cursor)]
        got = page_of(api.get(path, params=sent))
        ask = sink.usage if kind == "usage" else sink.costs
        expected: Page = ask(T0 + 1234, **asked, **({} if cursor is None else {"page": cursor}))
        assert got == expected.to_dict()
        count += 1
        cursor = got["next_page"]
        if cursor is None:
            return count


class TestPages:
    """Each page is OpenAI's shape and the AggregateSink's own page, cursors followed."""

    @pytest.mark.parametrize(("kind", "query", "asked"), CASES)
    def test_same_as_python(
        self,
        api: httpx.Client,
        sink: AggregateSink,
        kind: str,
        query: list[tuple[str, str]],
        asked: dict[str, Any],
    ) -> None:
        """The HTTP pages equal ``sink.usage``/``sink.costs`` with the same parameters."""
        assert pages(api, sink, kind, query, asked) >= 1

    def test_cursors_cover_the_window(self, api: httpx.Client, sink: AggregateSink) -> None:
        """Following ``next_page`` at limit 2 gives every day of the window once."""
        assert pages(api, sink, "usage", [("limit", "2")], {"limit": 2}) == 6  # 11 days
        starts = []
        cursor = None
        while True:
            params = {"start_time": T0, "limit": 2, **({} if cursor is None else {"page": cursor})}
            page = page_of(api.get(USAGE_PATH, params=params))
            starts += [bucket["start_time"] for bucket in page["data"]]
            cursor = page["next_page"]
            if cursor is None:
                break
        assert starts == [T0 + day * DAY for day in range(11)]

    def test_unpriced_is_null(self, api: httpx.Client) -> None:
        """A model without a price is counted, its cost null (never 0)."""
        params = {"start_time": T0, "models": "acme-unpriced", "limit": 31}
        page = page_of(api.get(USAGE_PATH, params=params))
        results = [r for bucket in page["data"] for r in bucket["results"]]
        assert results
        assert all(r["cost"] is None and r["unpriced_requests"] > 0 for r in results)

    def test_head(self, api: httpx.Client) -> None:
        """HEAD answers as GET does, without a body."""
        response = api.head(USAGE_PATH, params={"start_time": T0})
        assert response.status_code == 200
        assert response.content == b""


#: (kind, query, the parameter named, OpenAI's code).
BAD = [
    ("usage", [], "start_time", "missing_required_parameter"),
    ("usage", [("limit", "3")], "start_time", "missing_required_parameter"),
    ("usage", [("start_time", "abc")], "start_time", "invalid_type"),
    ("usage", [("start_time", "1730419200.5")], "start_time", "invalid_type"),
    ("usage", [("start_time", "")], "start_time", "invalid_type"),
    ("usage", [("start_time", "-5")], "start_time", "invalid_value"),
    ("usage", [("start_time", "1730419200000")], "start_time", "invalid_value"),
    ("usage", [("start_time", "1"), ("start_time", "2")], "start_time", "invalid_type"),
    ("usage", [("start_time[]", "1")], "start_time", "invalid_type"),
    ("usage", [("end_time", "soon")], "end_time", "invalid_type"),
    # OpenAI's times are integers only: no ISO 8601 there (the spend extension takes it)
    ("usage", [("start_time", "2024-11-01")], "start_time", "invalid_type"),
    ("usage", [("start_time", "2024-W44-5")], "start_time", "invalid_type"),
    ("costs", [("start_time", "2024-11-01T00:00Z")], "start_time", "invalid_type"),
    ("costs", [("end_time", "2024-11-08")], "end_time", "invalid_type"),
    ("usage", [("end_time", str(T0))], "end_time", "invalid_value"),
    ("usage", [("bucket_width", "2d")], "bucket_width", "invalid_value"),
    ("usage", [("group_by", "colour")], "group_by", "invalid_value"),
    ("usage", [("group_by", "model,size")], "group_by", "invalid_value"),
    ("usage", [("group_by[]", "line_item")], "group_by", "invalid_value"),
    ("usage", [("sources", "image.upscale")], "sources", "invalid_value"),
    ("usage", [("models[]", "")], "models", "invalid_value"),
    ("usage", [("sizes", "")], "sizes", "invalid_value"),
    ("usage", [("user_ids[]", "u1\x00")], "user_ids", "invalid_value"),
    ("usage", [("page", "\x00")], "page", "invalid_value"),
    ("usage", [("limit", "0")], "limit", "invalid_value"),
    ("usage", [("limit", "32")], "limit", "invalid_value"),
    ("usage", [("limit", "ten")], "limit", "invalid_type"),
    ("usage", [("bucket_width", "1h"), ("limit", "169")], "limit", "invalid_value"),
    ("usage", [("bucket_width", "1m"), ("limit", "1441")], "limit", "invalid_value"),
    ("usage", [("page", "not-a-cursor")], "page", "invalid_value"),
    ("usage", [("cost", "free")], "cost", "invalid_value"),
    ("usage", [("model", "gpt-image-1")], "model", "unknown_parameter"),
    ("usage", [("foo[]", "1")], "foo", "unknown_parameter"),
    ("usage", [("model[]", "gpt-image-1")], "model", "unknown_parameter"),
    ("costs", [("bucket_width", "1h")], "bucket_width", "invalid_value"),
    ("costs", [("group_by", "source")], "group_by", "invalid_value"),
    ("costs", [("limit", "181")], "limit", "invalid_value"),
    ("costs", [("sources", "image.edit")], "sources", "unknown_parameter"),
]


class TestBadRequests:
    """A request the query cannot take is a 400 naming the parameter, as OpenAI's are."""

    @pytest.mark.parametrize(("kind", "query", "param", "code"), BAD)
    def test_named(
        self, api: httpx.Client, kind: str, query: list[tuple[str, str]], param: str, code: str
    ) -> None:
        """400, ``invalid_request_error``, ``param`` the field, OpenAI's code."""
        needs_start = all(name not in ("start_time", "start_time[]") for name, _ in query)
        sent = ([("start_time", str(T0))] if needs_start and param != "start_time" else []) + query
        path = USAGE_PATH if kind == "usage" else COSTS_PATH
        error = error_of(api.get(path, params=sent), 400)
        assert (error["param"], error["code"], error["type"]) == (
            param,
            code,
            "invalid_request_error",
        )

    def test_cursor_of_another_query(self, api: httpx.Client) -> None:
        """A ``page`` cursor is refused for a query with other parameters."""
        first = page_of(api.get(USAGE_PATH, params={"start_time": T0, "limit": 1}))
        params = {"start_time": T0, "limit": 1, "page": first["next_page"], "group_by": "model"}
        error = error_of(api.get(USAGE_PATH, params=params), 400)
        assert error["param"] == "page"
        assert "other parameters" in error["message"]

    def test_message_says_what(self, api: httpx.Client) -> None:
        """The message names the parameter and the value as sent."""
        error = error_of(api.get(USAGE_PATH, params={"start_time": T0, "limit": 99}), 400)
        assert "'limit'" in error["message"]
        assert "99" in error["message"]
        assert "from 1 to 31" in error["message"]

    def test_secret_not_repeated(self, api: httpx.Client) -> None:
        """A value that looks like a key is not echoed back."""
        secret = "sk-proj-" + "A1b2C3d4" * 6
        response = api.get(USAGE_PATH, params={"start_time": T0, "models": [""], secret: "1"})
        assert secret not in response.text
        response = api.get(USAGE_PATH, params={"start_time": T0, "sources": secret})
        error_of(response, 400)
        assert secret not in response.text


class TestOtherErrors:
    """404 and 405 are JSON error objects too."""

    def test_not_found(self, api: httpx.Client) -> None:
        """An unknown path: 404, naming it."""
        error = error_of(api.get("/v1/organization/usage/completions"), 404)
        assert error["message"] == "Invalid URL (GET /v1/organization/usage/completions)."

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
    def test_method(self, api: httpx.Client, method: str) -> None:
        """Another method than GET: 405, with the Allow header."""
        response = api.request(method, COSTS_PATH, params={"start_time": T0})
        error = error_of(response, 405)
        assert error["code"] == "method_not_allowed"
        assert "GET" in response.headers["allow"]
        assert error["message"].endswith(f"use {response.headers['allow']}.")

    def test_method_of_logout(self, api: httpx.Client) -> None:
        """GET /logout (the dashboard's, POST only): 405 saying to use POST."""
        response = api.get("/logout")
        error = error_of(response, 405)
        assert response.headers["allow"] == "POST"
        assert error["message"] == "Method not allowed (GET /logout): use POST."

    def test_no_iso_in_openai_messages(self, api: httpx.Client) -> None:
        """OpenAI's start_time says what OpenAI's says: an integer, nothing of ISO 8601."""
        error = error_of(api.get(USAGE_PATH, params={"start_time": "2024-11-01"}), 400)
        assert error["message"] == (
            "Invalid type for 'start_time': expected an integer, but got '2024-11-01' instead."
        )


class TestKey:
    """With a key, every request carries it as a bearer token, or gets 401."""

    KEY = "k3y-" + "x" * 28

    @pytest.fixture(name="locked")
    def _locked(self, sink: AggregateSink) -> Iterator[str]:
        with serving(sink, key=self.KEY) as url:
            yield url

    @pytest.mark.parametrize(
        "header",
        [
            None,
            "Bearer wrong",
            f"Bearer {KEY}x",
            f"Basic {KEY}",
            KEY,
            "Bearer",
            f"Bearer {KEY[:-1]}",
        ],
    )
    def test_refused(self, locked: str, header: str | None) -> None:
        """No key, a wrong one, another scheme: 401 with OpenAI's error, on every path."""
        headers = {} if header is None else {"Authorization": header}
        for path in (USAGE_PATH, COSTS_PATH, SPEND_PATH, "/nowhere"):
            response = httpx.get(locked + path, params={"start_time": T0}, headers=headers)
            error = error_of(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
            assert error["code"] == (None if header is None else "invalid_api_key")
            assert self.KEY not in response.text

    def test_accepted(self, locked: str, sink: AggregateSink) -> None:
        """The right key (any case of the scheme) gets the page."""
        for scheme in ("Bearer", "bearer"):
            headers = {"Authorization": f"{scheme} {self.KEY}"}
            response = httpx.get(locked + USAGE_PATH, params={"start_time": T0}, headers=headers)
            assert page_of(response) == sink.usage(T0).to_dict()
            spent = httpx.get(locked + SPEND_PATH, headers=headers)
            assert spent.json() == sink.spend().to_dict()

    def test_dashboard_login(self, locked: str, sink: AggregateSink) -> None:
        """The dashboard asks for the key in its form, then the cookie opens it; not the API."""
        with httpx.Client(base_url=locked) as browser:
            assert browser.get("/").status_code == 401  # its login page
            assert browser.get("/assets/dashboard.css").status_code == 401
            answer = browser.post("/login", data={"key": self.KEY})
            assert answer.status_code == 303
            page = browser.get("/")
            assert page.status_code == 200
            assert "data-total-requests" in page.text
            assert self.KEY not in page.text + str(browser.cookies.jar)
            error_of(browser.get(USAGE_PATH, params={"start_time": T0}), 401)
        with httpx.Client(base_url=locked) as browser:
            assert browser.post("/login", data={"key": self.KEY + "x"}).status_code == 401
            assert browser.get("/").status_code == 401

    def test_never_shown(self, sink: AggregateSink) -> None:
        """The app, its middleware and its routes never show the key."""
        app = create_app(sink, key=self.KEY)
        shown = repr(app) + repr(app.user_middleware) + repr(vars(app)) + repr(app.routes)
        assert self.KEY not in shown

    @pytest.mark.parametrize("key", ["", "with space", "t\u00e9l\u00e9", "line\nbreak"])
    def test_bad_key(self, sink: AggregateSink, key: str) -> None:
        """A key that cannot be sent in a header is refused, and not quoted."""
        with pytest.raises(ValueError, match="printable ASCII") as info:
            create_app(sink, key=key)
        assert key not in str(info.value) or not key


class TestAddress:
    """Loopback only without a key."""

    @pytest.mark.parametrize(
        ("host", "loopback"),
        [
            ("127.0.0.1", True),
            ("127.8.9.10", True),
            ("::1", True),
            ("[::1]", True),
            ("localhost", True),
            ("0.0.0.0", False),
            ("::", False),
            ("", False),
            ("10.1.2.3", False),
            ("example.com", False),
        ],
    )
    def test_is_loopback(self, host: str, loopback: bool) -> None:
        """Loopback addresses and ``localhost``; nothing else, whatever it resolves to."""
        assert is_loopback(host) is loopback

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
    def test_refused_without_key(self, sink: AggregateSink, host: str) -> None:
        """serving() refuses another address without a key, before binding anything."""
        with pytest.raises(ValueError, match="needs a bearer key"), serving(sink, host=host):
            pytest.fail("served")


class Broken:
    """Reports whose every query fails as a bug would."""

    def usage(self, *args: Any, **kwargs: Any) -> Page:
        """Fails."""
        raise RuntimeError("a bug in the source (password=hunter2)")

    costs = spend = usage


class TestSpend:
    """GET /v1/aievents/spend: the extension answers spend() as Python does, errors named."""

    @pytest.mark.parametrize(
        ("query", "python"),
        [
            ({}, {}),  # this month, by the sink's clock
            ({"since": "week"}, {"since": "week"}),
            ({"user_id": "u1", "since": str(T0 + 90)}, {"user_id": "u1", "since": T0 + 90}),
            (
                {"model": "acme-unpriced", "since": "month", "until": str(NOW - DAY)},
                {"model": "acme-unpriced", "since": "month", "until": NOW - DAY},
            ),
            (
                {"project_id": "proj_b", "cost": "reported"},
                {"project_id": "proj_b", "cost": "reported"},
            ),
            # ISO 8601 since and until, read as the command reads them
            ({"since": "2024-11-01T00:01:30Z"}, {"since": T0 + 90}),
            ({"since": "2024-11-01T02:01:30+02:00"}, {"since": T0 + 90}),  # the + sent as %2B
            (
                {"since": "2024-11-03", "until": "2024-W45-3"},
                {"since": T0 + 2 * DAY, "until": T0 + 5 * DAY},
            ),
            ({"until": "2024-11-10T00:00:00.25"}, {"until": NOW - DAY - 3_333 + 1}),
        ],
    )
    def test_same_as_python(
        self, api: httpx.Client, sink: AggregateSink, query: dict[str, str], python: dict[str, Any]
    ) -> None:
        """The JSON is Spend.to_dict() of the same query in Python."""
        response = api.get(SPEND_PATH, params=query)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == sink.spend(**python).to_dict()
        assert response.json()["object"] == "aievents.spend"

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            (
                {"until": "2024-11-31"},
                "Invalid value for 'until': '2024-11-31' is not an ISO 8601 date or date-time "
                "(day is out of range for month).",
            ),
            (
                {"since": "2024-11-01T08:00 02:00"},
                "Invalid value for 'since': '2024-11-01T08:00 02:00' is not an ISO 8601 date or "
                "date-time (not a form listed; write an offset's + as %2B).",
            ),
        ],
    )
    def test_iso_reason(self, api: httpx.Client, query: dict[str, str], message: str) -> None:
        """A time begun as an ISO 8601 date but not one: why, for since and until alike."""
        error = error_of(api.get(SPEND_PATH, params=query), 400)
        assert (error["code"], error["message"]) == ("invalid_value", message)

    def test_iso_in_the_error(self, api: httpx.Client) -> None:
        """An until that is no time says both forms it takes."""
        error = error_of(api.get(SPEND_PATH, params={"until": "next week"}), 400)
        assert error["message"] == (
            "Invalid type for 'until': expected an integer or an ISO 8601 time, "
            "but got 'next week' instead."
        )

    def test_unknown_is_null(self, api: httpx.Client) -> None:
        """A cost not known is null, never 0."""
        data = api.get(SPEND_PATH, params={"model": "acme-unpriced", "since": str(T0)}).json()
        assert data["amount"] is None
        assert data["requests"] == data["unpriced_requests"] > 0

    @pytest.mark.parametrize(
        ("query", "param", "code"),
        [
            ({"since": "fortnight"}, "since", "invalid_value"),
            ({"since": str(T0), "until": str(T0)}, "until", "invalid_value"),
            ({"until": "tomorrow"}, "until", "invalid_type"),
            ({"until": "2024-11-31"}, "until", "invalid_value"),
            ({"since": "2024-02-30"}, "since", "invalid_value"),
            ({"since": "2024-11-01T08:00 02:00"}, "since", "invalid_value"),  # an unescaped +
            ({"user_id": ""}, "user_id", "invalid_value"),
            ({"cost": "billed"}, "cost", "invalid_value"),
            ({"start_time": str(T0)}, "start_time", "unknown_parameter"),
            ({"since[]": "week"}, "since", "invalid_type"),
        ],
    )
    def test_bad(self, api: httpx.Client, query: dict[str, str], param: str, code: str) -> None:
        """A bad value is OpenAI's 400 error object naming the parameter."""
        error = error_of(api.get(SPEND_PATH, params=query), 400)
        assert (error["param"], error["code"], error["type"]) == (
            param,
            code,
            "invalid_request_error",
        )


class TestFailures:
    """A store that cannot be read is a 503, a bug a 500: JSON, no traceback, no secret."""

    def test_store_gone(self, tmp_path: Path) -> None:
        """A SQLite store deleted under the server: 503 ``store_unavailable``."""
        path = tmp_path / "usage.db"
        writer = StoreSink(f"sqlite:///{path}", clock=lambda: NOW)
        for item in stream(5, 20):
            writer.handle(item)
        assert writer.flush(30)
        writer.close(30)
        store = StoreSink(f"sqlite:///{path}", create=False, clock=lambda: NOW)
        try:
            with serving(store) as url:
                assert page_of(httpx.get(url + USAGE_PATH, params={"start_time": T0}))
                path.unlink()
                response = httpx.get(url + USAGE_PATH, params={"start_time": T0})
                error = error_of(response, 503)
                assert (error["type"], error["code"]) == ("server_error", "store_unavailable")
                assert str(tmp_path) not in response.text
        finally:
            store.close(30)

    def test_bug(self, caplog: pytest.LogCaptureFixture) -> None:
        """Anything else: 500 ``internal_error``, logged scrubbed, nothing of it in the answer."""
        with serving(Broken()) as url:
            response = httpx.get(url + COSTS_PATH, params={"start_time": T0})
        error = error_of(response, 500)
        assert (error["type"], error["code"]) == ("server_error", "internal_error")
        assert "hunter2" not in response.text
        assert "bug" not in response.text
        logged = [r.getMessage() for r in caplog.records if r.name == "aievents.serve"]
        assert any("serve_failed" in line and "RuntimeError" in line for line in logged)
        assert not any("hunter2" in line for line in logged)
