"""The scrubbing policy: what counts as a secret, what stays, and the compiled screen."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_wire import EVENT_STRATEGIES

from helpers import error_event, started_event, usage_event

AZURE_KEY = "3f9a1c0be47d4a2f9c1e8b7d6a5f4e3c"  # 32 hex digits, as Azure hands them out


def redact() -> Any:
    from aievents import _redact

    return _redact


def text_rule() -> Any:
    """The rule of text, where the screen and its expressions live."""
    from aievents._redact import _text

    return _text


class TestAzureKeys:
    """32 hexadecimal digits are a key in text, and an id where an id is expected."""

    @pytest.mark.parametrize(
        "text",
        [
            AZURE_KEY,
            f"Access denied: api-key {AZURE_KEY} is invalid",
            f"headers={{'api-key': '{AZURE_KEY}'}}",
            AZURE_KEY.upper(),
            f"https://res.openai.azure.com/openai?api-key={AZURE_KEY}",
        ],
    )
    def test_scrubbed_in_text(self, text: str) -> None:
        """In free text, a word of 32 hex digits goes, whatever surrounds it."""
        scrubbed = redact().scrub_text(text)
        assert AZURE_KEY not in scrubbed.lower()
        assert "[redacted]" in scrubbed

    @pytest.mark.parametrize(
        "text",
        [
            "req_" + AZURE_KEY,  # the request ids the instrumentation makes
            "a1b2c3d4e5f60718-1f",  # the event ids the client makes
            "12345678901234567890123456789012",  # 32 decimal digits: a number
            AZURE_KEY + "00",  # 34 digits: a digest, not a key
            "input_tokens: 1056, max_tokens: 4096",  # token counts
        ],
    )
    def test_ids_and_counts_kept_in_text(self, text: str) -> None:
        """Prefixed ids, event ids, numbers, longer digests and token counts stay."""
        assert redact().scrub_text(text) == text

    def test_identifiers_keep_their_digits(self) -> None:
        """Under an identifier key (trace ids, uuid request ids) the 32 digits stay."""
        r = redact()
        assert r.scrub_text(AZURE_KEY, identifier=True) == AZURE_KEY
        data = {"trace_id": AZURE_KEY, "spanIds": [AZURE_KEY], "note": AZURE_KEY, "n": 1056}
        assert r.scrub(data) == {
            "trace_id": AZURE_KEY,
            "spanIds": [AZURE_KEY],
            "note": "[redacted]",
            "n": 1056,
        }

    def test_identifiers_still_lose_other_secrets(self) -> None:
        """An id holding a provider key is scrubbed all the same."""
        assert redact().scrub_text("sk-proj-abcdefghijkl", identifier=True) == "[redacted]"

    def test_event_fields(self) -> None:
        """An event's request id of 32 digits stays; its error message loses the key."""
        from aievents._outbound import outbound

        event = error_event(AZURE_KEY, error_message=f"invalid key {AZURE_KEY}")
        out = outbound(event)
        assert out.request_id == AZURE_KEY
        assert out.error_message == "invalid [redacted]"
        assert event.error_message == f"invalid key {AZURE_KEY}"  # the event is untouched


class TestTextRules:
    """Credentials in text, in the shapes they take in messages and reprs."""

    @pytest.mark.parametrize(
        ("text", "kept"),
        [
            ("Authorization: Bearer abc.def-123", "Authorization: "),
            ("{'api_key': 'short1'}", "{'api_key': '"),
            ('{"client_secret":"s3cr3t"}', '{"client_secret":"'),
            ("password=hunter2 host=db", "password="),
            ("https://h.example/x?token=abc123&page=2", "&page=2"),
            ("accessToken: abc123", "accessToken: "),
        ],
    )
    def test_name_value(self, text: str, kept: str) -> None:
        """The value after a secret-named ``name=``/``name:`` goes; the name stays."""
        scrubbed = redact().scrub_text(text)
        assert kept in scrubbed
        assert "[redacted]" in scrubbed
        for secret in ("abc.def-123", "short1", "s3cr3t", "hunter2", "abc123"):
            assert secret not in scrubbed

    @pytest.mark.parametrize(
        ("text", "scrubbed"),
        [
            (
                "[['x-api-key', 'abc123'], {'name': 'Cookie', 'value': 'abc123'}]",
                "[['x-api-key', '[redacted]'], {'name': 'Cookie', 'value': '[redacted]'}]",
            ),
            (
                "{'key': 'Authorization', 'value': 'Bearer abc123'}",
                "{'key': 'Authorization', 'value': '[redacted]'}",
            ),
            ('password: "a whole abc123 phrase" ok', 'password: "[redacted]" ok'),
        ],
    )
    def test_reprs_of_pairs(self, text: str, scrubbed: str) -> None:
        """The shapes scrub() knows, as their reprs show them in messages."""
        assert redact().scrub_text(text) == scrubbed

    @pytest.mark.parametrize(
        ("text", "scrubbed"),
        [
            (
                "POST https://hooks.example/ingest/T0KENx9QmZ7rPq2Lw8Vn failed.",
                "POST https://hooks.example/ingest/[redacted] failed.",
            ),
            (
                "see https://images.example/launch-poster.png?sig=abc123&w=2#top",
                "see https://images.example/launch-poster.png?sig=[redacted]&w=2#top",
            ),
            ("(https://api.example/v1/images)", "(https://api.example/v1/images)"),
        ],
    )
    def test_urls_in_text(self, text: str, scrubbed: str) -> None:
        """In a URL in text: token-like path segments and secret parameters go."""
        assert redact().scrub_text(text) == scrubbed

    @pytest.mark.parametrize(
        ("text", "scrubbed"),
        [
            ("mysql://bob:***@db/x?password=***", "mysql://bob:***@db/x?password=***"),
            ("postgresql://bob@db/x", "postgresql://bob@db/x"),
            (
                "https://ghp_0123456789abcdefABCDEF@git.example/r",
                "https://[redacted]@git.example/r",
            ),
            ("sqlite:////tmp/run_1/usage.db", "sqlite:////tmp/run_1/usage.db"),
        ],
    )
    def test_url_forms_kept(self, text: str, scrubbed: str) -> None:
        """A user name and what is masked already stay; a token as the user goes."""
        assert redact().scrub_text(text) == scrubbed

    @pytest.mark.parametrize(
        "url",
        [
            "postgresql://app:p@ss@word@db.example/usage",
            "postgresql://app:s3cret@db.example:5432/usage",
            "redis://:only-a-password@cache.example/0",
        ],
    )
    def test_url_password_whole(self, url: str) -> None:
        """A URL's password goes whole, even when it holds ``@``."""
        scrubbed = redact().scrub_text(f"cannot connect to {url}")
        for part in ("p@ss", "word", "s3cret", "only-a-password"):
            assert part not in scrubbed
        assert "db.example" in scrubbed or "cache.example" in scrubbed


class TestSafeUrl:
    """What a transport shows of its URL: no credentials, no token in the path."""

    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            ("http://127.0.0.1:4318/v1/logs", "http://127.0.0.1:4318/v1/logs"),
            ("ws://localhost:4206/__devtools/ws", "ws://localhost:4206/__devtools/ws"),
            (
                "https://hooks.example/ingest/T0KENx9QmZ7rPq2Lw8Vn",
                "https://hooks.example/ingest/[redacted]",
            ),
            (
                "https://hooks.example/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX",
                "https://hooks.example/services/[redacted]/[redacted]/[redacted]",
            ),
            (
                f"https://u:pw@collector.example/api/{AZURE_KEY}/events?key=abc#x",
                "https://collector.example/api/[redacted]/events",
            ),
            ("https://[::1]:8080/ingest", "https://[::1]:8080/ingest"),
            (
                "https://api.example/v2beta1/images/generations",
                "https://api.example/v2beta1/images/generations",
            ),
            ("https://hooks.example/api/abcdefghijklmnop", "https://hooks.example/api/[redacted]"),
            ("https://hooks.example/Hooks/Incoming", "https://hooks.example/[redacted]/[redacted]"),
            ("https://hooks.example/hooks/1234", "https://hooks.example/hooks/[redacted]"),
            ("https://hooks.example/in/a.b", "https://hooks.example/in/[redacted]"),
        ],
    )
    def test_shown(self, url: str, shown: str) -> None:
        """One rule: short lowercase words and versions stay; any other segment goes.

        User info, query and fragment go whole.
        """
        assert redact().safe_url(url) == shown


#: URLs whose password (or secret parameter) holds what ends user info or a
#: value elsewhere, or sits where only its name tells; the secret is "S3cr" or
#: "hunter2" and its pieces.
HARD_URLS = [
    "postgresql://bob:S3cr@t@host.example/db",
    "postgresql://bob:S3cr/t@host.example/db",
    "postgresql://bob:S3cr#t@host.example/db",
    "postgresql://bob:S3cr?t@host.example/db",
    "postgresql://bob:S3cr@t/P4ss:W0rd@host.example:5432/db",
    "postgresql://bob@host.example/db?sslpassword=hunter2",
    "postgresql://bob@host.example/db?password=hunter2&more&sslmode=disable",
    "postgresql://bob@host.example/db?options=-c%20password%3Dhunter2",
    "redis://:hunter2@host.example",
    "postgresql://bob:hunter2@host.example/db?application_name=me@host",
]
HARD_PIECES = ("S3cr", "P4ss", "W0rd", "hunter2", "&more")


class TestUrls:
    """One reading of URLs serves text, transports and the store: the whole password goes."""

    @pytest.mark.parametrize("url", HARD_URLS)
    def test_in_text(self, url: str) -> None:
        """In any text (every log line), no piece of the secret; the host stays."""
        scrubbed = redact().scrub_text(f"could not connect to {url} (refused)")
        assert [piece for piece in HARD_PIECES if piece in scrubbed] == []
        assert "host.example" in scrubbed
        assert scrubbed.endswith(" (refused)")

    @pytest.mark.parametrize("url", HARD_URLS)
    def test_shown_by_transports(self, url: str) -> None:
        """safe_url: the host and the path, nothing of the secret."""
        shown = redact().safe_url(url)
        assert [piece for piece in HARD_PIECES if piece in shown] == []
        assert shown.startswith(url.partition("://")[0] + "://host.example")

    @pytest.mark.parametrize("url", HARD_URLS)
    def test_shown_by_the_store(self, url: str) -> None:
        """masked_url (a store's name): the path and plain parameters stay as written."""
        masked = redact().masked_url(url)
        assert [piece for piece in HARD_PIECES if piece in masked] == []
        assert "host.example" in masked
        assert "/db" in masked or url.startswith("redis")

    def test_function_key(self) -> None:
        """A ``code`` parameter (an Azure Functions key) goes; a ``code`` field elsewhere stays."""
        url = "https://fn.azurewebsites.net/api/gen?code=aBcD1234efGH5678ijKL==&n=2"
        scrubbed = redact().scrub_text(f"failed: {url}")
        assert scrubbed == "failed: https://fn.azurewebsites.net/api/gen?code=[redacted]&n=2"
        assert redact().scrub({"code": "content_policy_violation"}) == {
            "code": "content_policy_violation"
        }

    def test_at_in_a_query_value(self) -> None:
        """An '@' in a query value is not taken for the end of a password."""
        url = "postgresql://bob:hunter2@host.example/db?application_name=me@host"
        assert redact().masked_url(url) == (
            "postgresql://bob:[redacted]@host.example/db?application_name=me@host"
        )
        parts = redact().split_url(url)
        assert (parts.user, parts.password, parts.host) == ("bob", "hunter2", "host.example")

    def test_secrets_listed(self) -> None:
        """url_secrets: the password and secret parameters, as written and decoded."""
        url = "postgresql://bob:S3cr%40t@host.example/db?sslpassword=a%26b&x=1"
        assert set(redact().url_secrets(url)) == {"S3cr%40t", "S3cr@t", "a%26b", "a&b"}

    def test_the_store_reads_it_so(self) -> None:
        """StoreSink shows its URL as masked_url does."""
        from aievents.sinks.store import StoreError, StoreSink

        url = "postgresql://bob:S3cr@t@127.0.0.1:1/db"  # refused: the '@' is not encoded
        with pytest.raises(StoreError) as caught:
            StoreSink(url)
        assert caught.value.value == redact().masked_url(url)


class TestScreen:
    """The compiled screen never misses what the expression finds; clean text passes."""

    FRAGMENTS = st.sampled_from(
        [
            "sk", "SK", "\u017fk", "-", "_", "proj", "abcdef", "0123456789", "hf", "gh", "p",
            "Bearer", "BASIC", " ", "\u00a0", "\t", "eyJ", "x.y", "AKIA", "ASIA", "AIza",
            "xox", "b", "://", "user", ":", "@", "/", "=", "api", "key", "\u212a", "\u0131",
            "\u0130", "token", "'", '"', "\u00e9", "password", "auth", "sig", "A" * 12, "9",
            "f" * 32, "1" * 32, "abcdef0123456789" * 2, "req_", ",", "name", "value", "{",
            "https", "hooks.example", "?", "&", "#", "r8_", "Key", "\\", '\\"', "md5",
            "count", "ApiKey", "A" * 20,
        ]
    )  # fmt: skip

    def screens(self) -> list[Any]:
        r = text_rule()
        found = [r._suspect_py]
        if r._SCREEN is not None:
            found.append(r._SCREEN)
        return found

    @settings(max_examples=1500)
    @given(text=st.lists(FRAGMENTS, max_size=12).map("".join), identifier=st.booleans())
    def test_never_misses(self, text: str, identifier: bool) -> None:
        """Whatever the expression would scrub, every screen calls suspect."""
        r = text_rule()
        pattern = r._SECRET_IN_ID if identifier else r._SECRET_VALUE
        if pattern.search(text):
            for screen in self.screens():
                assert screen(identifier, text), (screen, text)

    @settings(max_examples=500)
    @given(text=st.text(max_size=80), identifier=st.booleans())
    def test_never_misses_any_text(self, text: str, identifier: bool) -> None:
        """The same over any Unicode text."""
        r = text_rule()
        pattern = r._SECRET_IN_ID if identifier else r._SECRET_VALUE
        if pattern.search(text):
            for screen in self.screens():
                assert screen(identifier, text)

    @pytest.mark.parametrize(
        "values",
        [
            ("openai", "gpt-image-1", "1024x1024", "image.generation", None, False),
            (("a tool", "another"), ["x", None]),
            ("req_" + AZURE_KEY,),
        ],
    )
    def test_clean_values(self, values: tuple[Any, ...]) -> None:
        """Labels, lists of them, None and prefixed ids are clean."""
        for screen in self.screens():
            assert not screen(False, *values)

    @pytest.mark.parametrize("value", [True, {"a": 1}, ("ok", 3), object()])
    def test_objects_are_suspect(self, value: Any) -> None:
        """What is not text is for a closer look."""
        for screen in self.screens():
            assert screen(False, "clean", value)

    def test_remembered_per_rule_set(self) -> None:
        """A text found clean as an identifier is still a key in text (and asked again)."""
        key = "".join(AZURE_KEY)  # an object of its own
        for screen in self.screens():
            for _ in range(2):
                assert not screen(True, key)
                assert screen(False, key)

    @settings(max_examples=15)
    @given(data=st.data())
    def test_every_credential_start(self, data: st.DataObject) -> None:
        """Each credential of the one list: found by the expression, suspect to every screen."""
        r = text_rule()
        for start, rest, case in r.CREDENTIALS:
            written = start if case else data.draw(st.sampled_from([start, start.upper()]))
            tail = data.draw(st.from_regex(f"(?a){rest}", fullmatch=True))
            before = data.draw(st.sampled_from(["", " ", "(", "'", "token "]))
            text = f"{before}{written}{tail}"
            assert r._SECRET_VALUE.search(text), text
            for screen in self.screens():
                assert screen(False, text), (screen, text)
                assert screen(True, text), (screen, text)

    def test_compiled_list_is_the_python_list(self) -> None:
        """The compiled screen knows what it is given: a start added is suspect, then not."""
        r = text_rule()
        if r._SPEEDUPS is None:
            pytest.skip("the compiled extension is not in use")
        starts = tuple((start, case) for start, _, case in r.CREDENTIALS)
        text = "zq9_abcdefghijklmnop"
        assert not r._SCREEN(False, text)
        try:
            r._SPEEDUPS.configure((*starts, ("zq9_", False)), r.NAME_WORDS)
            assert r._SCREEN(False, text)
            assert r._SCREEN(False, "ZQ9_abcdefghijklmnop")
        finally:
            r._SPEEDUPS.configure(starts, r.NAME_WORDS)
        assert not r._SCREEN(False, text)

    @pytest.mark.parametrize(
        "starts",
        [(("x" * 30, False),), (("\u00e9t\u00e9", False),), ((b"sk-", False),), (("sk-",),)],
    )
    def test_configure_refuses(self, starts: Any) -> None:
        """Words the compiled screen cannot hold are refused; what it knew stays."""
        r = text_rule()
        if r._SPEEDUPS is None:
            pytest.skip("the compiled extension is not in use")
        with pytest.raises((TypeError, ValueError)):
            r._SPEEDUPS.configure(starts, r.NAME_WORDS)
        assert r._SCREEN(False, "sk-proj-abcdefghijkl")

    def test_compiled_when_built(self) -> None:
        """The build makes the compiled screen (unless told to stay pure Python)."""
        import os

        r = text_rule()
        if os.environ.get("AIEVENTS_PURE_PYTHON"):
            pytest.skip("pure Python asked for")
        try:
            import aievents._speedups  # noqa: F401
        except ImportError:
            pytest.skip("the compiled extension is not built here")
        assert r._SCREEN is not None
        assert r.suspect is r._SCREEN


class TestOutbound:
    """An event leaves the process scrubbed; the application's event stays as built."""

    def test_clean_event_is_itself(self) -> None:
        """Nothing to scrub: the very same object, no copy."""
        from aievents._outbound import outbound

        event = usage_event(user_id="user-1", project_id="proj_1", size="1024x1024")
        assert outbound(event) is event

    def test_priced_event_takes_the_quick_path(self) -> None:
        """A priced event (its cost's basis is 'tokens') is let through without a closer look."""
        from aievents._outbound import _check_of

        from helpers import priced_cost

        event = usage_event(user_id="user-1", api_key_id="key_2", size="1024x1024")
        event = attrs.evolve(event, cost=priced_cost(output_image="0.04"))
        assert _check_of(type(event))(event) is False
        told = attrs.evolve(event, user_id="Token 9Qx2Zq9sPlm2Xw8rT5yU")
        assert _check_of(type(told))(told) is True

    def test_scrubbed_copy(self) -> None:
        """A copy with the secrets replaced; the same id, stamp and usage."""
        from aievents._outbound import outbound

        event = started_event(
            prompt="draw sk-proj-abcdefghijkl",
            options={"api_key": "plain", "nested": {"Authorization": "x"}, "n": 2},
            user_id="Bearer abcdefghij",
        )
        out = outbound(event)
        assert out is not event
        assert out.prompt == "draw [redacted]"
        assert out.options == {
            "api_key": "[redacted]",
            "nested": {"Authorization": "[redacted]"},
            "n": 2,
        }
        assert out.user_id == "[redacted]"
        assert (out.event_id, out.timestamp, out.model) == (
            event.event_id,
            event.timestamp,
            event.model,
        )
        assert event.options == {"api_key": "plain", "nested": {"Authorization": "x"}, "n": 2}


def test_no_secret_word_in_count_names() -> None:
    """Token counts and their breakdowns are not secret-named keys; keys are."""
    r = redact()
    for name in ("input_tokens", "inputTokensDetails", "output_tokens_details", "api_key_id"):
        assert not r.is_secret_key(name), name
    for name in ("api_key", "x-api-key", "accessToken", "Authorization", "db_password"):
        assert r.is_secret_key(name), name
    assert re.fullmatch(r"\[redacted\]", r.REDACTED)


class TestCompiledCheck:
    """The compiled check of an event's text slots answers as the generated Python one."""

    CHECKS: dict[tuple[type, bool], Any] = {}  # noqa: RUF012

    def check(self, cls: type, compiled: bool) -> Any:
        import aievents._outbound as ob

        key = (cls, compiled)
        if key not in self.CHECKS:
            saved = ob._SCREEN
            ob._SCREEN = saved if compiled else None  # type: ignore[misc]
            try:
                self.CHECKS[key] = ob._compile(cls)
            finally:
                ob._SCREEN = saved  # type: ignore[misc]
        return self.CHECKS[key]

    @pytest.mark.parametrize("name", ["started", "completed", "usage", "error"])
    @settings(max_examples=60)
    @given(data=st.data(), planted=st.sampled_from([None, "sk-proj-abcdefghij", AZURE_KEY]))
    def test_same_answers(self, name: str, data: st.DataObject, planted: str | None) -> None:
        """On events with every field drawn, secrets planted now and then."""
        import aievents._outbound as ob

        if ob._SCREEN is None:
            pytest.skip("the compiled extension is not in use")
        cls = {c.event_type.split(":")[-1]: c for c in EVENT_STRATEGIES}[name]
        event = data.draw(EVENT_STRATEGIES[cls])
        if planted is not None:
            event = attrs.evolve(event, user_id=planted, request_id=planted)
        compiled, pure = self.check(cls, True), self.check(cls, False)
        assert compiled is not pure
        assert compiled(event) == pure(event)


class TestExtension:
    """The C extension builds without a warning; a Screen is set up once, and misuse is safe."""

    def screen_class(self) -> Any:
        found = redact().SCREEN_CLASS
        if found is None:
            pytest.skip("the compiled extension is not in use")
        return found

    def test_no_compiler_warnings(self) -> None:
        """Both C files of the module, with every warning an error."""
        import os
        import shutil
        import subprocess
        import sysconfig
        from pathlib import Path

        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if cc is None:
            if os.environ.get("CI"):
                pytest.fail("a C compiler is needed in CI")
            pytest.skip("no C compiler here")
        src = Path(__file__).parent.parent / "src" / "aievents"
        flags = ["-fsyntax-only", "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
        include = f"-I{sysconfig.get_paths()['include']}"
        for name in ("_speedups.c", "_screen.c"):
            done = subprocess.run(
                [cc, *flags, include, str(src / name)], capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, done.stderr

    def test_init_twice(self) -> None:
        """A second __init__ is refused; the Screen answers as before."""
        from aievents import ImageOutput

        screen = self.screen_class()(ImageOutput, ("revised_prompt",), ())
        for _ in range(3):
            with pytest.raises(TypeError, match="set up once"):
                screen.__init__(ImageOutput, ("revised_prompt", "url"), ())
        assert screen.check(ImageOutput(revised_prompt="sk-proj-abcdefghijkl"))
        assert not screen.check(ImageOutput(revised_prompt="a poster"))

    def test_not_set_up(self) -> None:
        """A Screen never set up calls everything suspect."""
        from aievents import ImageOutput

        cls = self.screen_class()
        assert cls.__new__(cls).check(ImageOutput())

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"texts": ("no_such_field",)},
            {"nested": (("url", "not a Screen"),)},
            {"kinds": ("int",)},
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any]) -> None:
        """Wrong fields or arguments: TypeError, then a Screen that still works when set up."""
        from aievents import ImageOutput

        cls = self.screen_class()
        screen = cls.__new__(cls)
        args = {"texts": ("revised_prompt",), "ids": (), **kwargs}
        with pytest.raises((TypeError, AttributeError)):
            screen.__init__(ImageOutput, args.pop("texts"), args.pop("ids"), **args)
        screen.__init__(ImageOutput, ("revised_prompt",), ())
        assert not screen.check(ImageOutput(revised_prompt="a poster"))


class TestUrlsThatHoldNoSecret:
    """The URL reader garbles no URL without a secret; a password still goes."""

    @pytest.mark.parametrize(
        "url",
        [
            "sqlite:///:memory:",
            "sqlite+pysqlite:///:memory:",
            "sqlite:///file::memory:?cache=shared",
            "sqlite:///a/b:c/d.db",
            "sqlite:////tmp/x:y@z.db",
            "postgresql://host:5432/db",
            "postgresql://user@host:5432/db",
            "postgresql://[::1]:5432/db",
        ],
    )
    def test_shown_as_written(self, url: str) -> None:
        """In text, and as a store's name, the URL stays as written."""
        from aievents._redact import masked_url, scrub_text

        assert scrub_text(f"got '{url}' (str)") == f"got '{url}' (str)"
        assert masked_url(url) == url

    def test_password_still_masked(self) -> None:
        """A password with '@' or ':' is still masked whole."""
        from aievents._redact import masked_url

        for url in ("postgresql://u:p@ss@h/db", "postgresql://u:a:b@h:5432/db"):
            assert masked_url(url).startswith("postgresql://u:[redacted]@h")

    def test_command_names_the_memory_store(self, cli: Any) -> None:
        """--store sqlite:///:memory: is refused, the URL shown as given."""
        result = cli("usage", "--store", "sqlite:///:memory:")
        assert result.returncode == 1
        assert "got 'sqlite:///:memory:'" in result.stderr
        assert "[redacted]" not in result.stderr
