"""The redaction policy's parts, each on its own: names, the URL rule, the rule of text, values."""

from __future__ import annotations

import random
from typing import Any

import attrs
import pytest

from aievents._redact import _names, _text, _urls, _values

AZURE_KEY = "3f9a1c0be47d4a2f9c1e8b7d6a5f4e3c"


def marked(text: str) -> str:
    """A rule of text for the URL rule's tests: ``SECRET`` is the only secret there is."""
    return text.replace("SECRET", "[redacted]")


@pytest.fixture(name="rule")
def fixture_rule() -> _urls.UrlRule:
    return _urls.UrlRule(marked)


class TestKeyWords:
    """A key's words are split at case changes, separators and digits, lower case."""

    @pytest.mark.parametrize(
        ("name", "words"),
        [
            ("promptTokenCount", ["prompt", "token", "count"]),
            ("HTTPAuthHeader", ["http", "auth", "header"]),
            ("x-api-key_2", ["x", "api", "key", "2"]),
            ("input_tokens_details", ["input", "tokens", "details"]),
            ("", []),
        ],
    )
    def test_words(self, name: str, words: list[str]) -> None:
        """Each way of writing a key gives the same words."""
        assert _names.words(name) == words


class TestKeyClassification:
    """Which keys name secrets, identifiers and counts."""

    @pytest.mark.parametrize(
        "name", ["api_key", "x-api-key", "accessToken", "Authorization", "db_password", "apikey"]
    )
    def test_secret(self, name: str) -> None:
        """A secret word anywhere in the key names a secret."""
        assert _names.is_secret_key(name)

    @pytest.mark.parametrize(
        "name",
        ["input_tokens", "promptTokenCount", "token_count", "output_tokens_details", "api_key_id"],
    )
    def test_not_secret(self, name: str) -> None:
        """Counts, their breakdowns and identifiers are not secrets."""
        assert not _names.is_secret_key(name)

    def test_numbers_under_token_keys_are_counts(self) -> None:
        """Under a key whose only secret word is token(s), a number is a count; text is not."""
        assert not _names.secret_item("max_new_tokens", 4096)
        assert _names.secret_item("max_new_tokens", "abc")
        assert _names.secret_item("access_token", 5)  # an access token, whatever it holds
        assert _names.secret_item("api_key", 5)
        assert not _names.secret_item("max_new_tokens", 4096.0)
        assert _names.secret_item("max_new_tokens", True)  # a bool is no count

    def test_token_named(self) -> None:
        """A prefix that makes a token a credential (access, api, refresh...) wins over counting."""
        assert _names.token_named("max_tokens")
        assert not _names.token_named("access_token")
        assert not _names.token_named("token_password")

    @pytest.mark.parametrize("name", ["request_id", "traceId", "image_md5", "sha256", "ETag"])
    def test_identifiers(self, name: str) -> None:
        """Ids and digests are identifiers."""
        assert _names.is_identifier_key(name)

    @pytest.mark.parametrize("name", ["model", "", "idea", "hashes_seen"])
    def test_not_identifiers(self, name: str) -> None:
        """Other keys are not, even those holding the letters."""
        assert not _names.is_identifier_key(name)


class TestSplitUrl:
    """A URL split as its password may be written."""

    def test_password_with_at_slash_colon(self) -> None:
        """The user info ends at the last '@' a host part follows; a query '@' stays put."""
        parts = _urls.split_url(
            "postgresql://me:p@ss:w/rd@db.example:5432/app?application_name=me@host&x=1"
        )
        assert parts == _urls.UrlParts(
            scheme="postgresql",
            user="me",
            password="p@ss:w/rd",
            host="db.example:5432",
            path="/app",
            query="application_name=me@host&x=1",
            fragment=None,
        )

    @pytest.mark.parametrize("text", ["nope", "mailto:x@y", "://host", ""])
    def test_not_a_url(self, text: str) -> None:
        """Without ``scheme://`` there is no URL."""
        assert _urls.split_url(text) is None

    def test_bare_host(self) -> None:
        """No user, no path, no query: empty path, None for the rest."""
        parts = _urls.split_url("http://h:8080")
        assert parts is not None
        assert (parts.user, parts.password, parts.host, parts.path) == (None, None, "h:8080", "")
        assert (parts.query, parts.fragment) == (None, None)

    def test_parameters_keep_ampersands_in_values(self) -> None:
        """An '&' that starts no ``name=`` belongs to the value before it."""
        parts = _urls.UrlParts("h", None, None, "h", "/", "a=1&b=x&y&c=d&flag", None)
        assert parts.parameters() == [("a", "1"), ("b", "x&y"), ("c", "d&flag")]
        assert parts.items()[1] == ("b=x&y", "b", "x&y")

    def test_empty_query(self) -> None:
        """A URL ending in '?' has an empty query, no parameters, and is masked as written."""
        parts = _urls.split_url("http://x/a?")
        assert parts is not None
        assert parts.query == ""
        assert parts.parameters() == []
        assert _urls.UrlRule(marked).masked("http://x/a?") == "http://x/a?"


class TestSafeUrl:
    """A transport's target: scheme, host, port and plain path words only."""

    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            (
                "https://u:p@hooks.example/ingest/T0KENx9QmZ7rPq2Lw8Vn/v2beta1/_events?x=1#f",
                "https://hooks.example/ingest/[redacted]/v2beta1/_events",
            ),
            ("http://127.0.0.1:4318/v1/logs", "http://127.0.0.1:4318/v1/logs"),
            ("http://h/abcdefghijklm/Upper/", "http://h/[redacted]/[redacted]/"),
            ("not a url", "[redacted]"),
        ],
    )
    def test_shown(self, url: str, shown: str) -> None:
        """Long, mixed-case or odd segments go; user info, query and fragment never show."""
        assert _urls.safe_url(url) == shown


class TestUrlRule:
    """The URL rule applies the rule of text it is given to a URL's parts."""

    def test_in_text(self, rule: _urls.UrlRule) -> None:
        """In text: the user, each segment, each parameter and the fragment, by the text rule."""
        shown = rule.in_text("https://SECRET@h/a/SECRET/b?q=SECRET&x=1#SECRET")
        assert shown == "https://[redacted]@h/a/[redacted]/b?q=[redacted]&x=1#[redacted]"

    def test_masked_keeps_the_path(self, rule: _urls.UrlRule) -> None:
        """Masked: the password and secret parameters go; the path and the masks stay."""
        url = "https://user:pw@h/path/abcdefghijklmnop1234?x=1&code=zz&y=***&token=***"
        shown = rule.masked(url)
        assert (
            shown
            == "https://user:[redacted]@h/path/abcdefghijklmnop1234?x=1&code=[redacted]&y=***&token=***"
        )

    def test_masked_text_that_is_no_url(self, rule: _urls.UrlRule) -> None:
        """Text that is not a URL is left to the rule of text."""
        assert rule.masked("not a url SECRET") == "not a url [redacted]"

    @pytest.mark.parametrize(
        ("segment", "token"),
        [
            ("a" * 23, False),
            ("a" * 24, True),
            ("a1" * 8, True),
            ("1" * 20, False),
            ("a" * 15 + "1", True),
            ("2024-11-01", False),
            ("usage.db", False),
            ("SECRET", True),
        ],
    )
    def test_token(self, rule: _urls.UrlRule, segment: str, token: bool) -> None:
        """Runs of 24, or of 16 mixing letters and digits, are tokens; so is what text hides."""
        assert rule.token(segment) is token

    @pytest.mark.parametrize(
        ("name", "value", "secret"),
        [
            ("sslpassword", "x", True),
            ("api%5Fkey", "x", True),
            ("code", "x", True),
            ("zipcode", "x", False),
            ("q", "SECRET", True),
            ("q", "cats", False),
        ],
    )
    def test_secret_parameter(
        self, rule: _urls.UrlRule, name: str, value: str, secret: bool
    ) -> None:
        """By its (decoded) name, or by what its decoded value holds."""
        assert rule.secret_parameter(name, value) is secret

    def test_secrets(self, rule: _urls.UrlRule) -> None:
        """The password and secret parameters, as written, then decoded."""
        secrets = rule.secrets("https://u:S3cr%40t@h/?api_key=a%26b&x=1")
        assert secrets == ("S3cr%40t", "a%26b", "S3cr@t", "a&b")
        assert rule.secrets("no url") == ()


class TestHide:
    """Known secrets are taken out of any text, as written and percent-encoded."""

    def test_forms(self) -> None:
        """Written, quoted and quote_plus-ed forms all go."""
        text = "a S3cr@t b S3cr%40t c pass+word d"
        assert _urls.hide(text, ["S3cr@t", "pass word"]) == (
            "a [redacted] b [redacted] c [redacted] d"
        )

    def test_nothing_to_hide(self) -> None:
        """No secrets: the text as it was."""
        assert _urls.hide("plain", []) == "plain"


class TestTextRule:
    """Each way the rule of text replaces (or keeps) a match."""

    def test_url_goes_through_the_url_rule(self) -> None:
        """A URL in text is shown by the URL rule, its closing punctuation outside."""
        text = "see https://u:pw@h/x?api_key=1 now."
        assert _text.scrub_text(text) == "see https://u:[redacted]@h/x?api_key=[redacted] now."
        assert _text.URLS.in_text("https://u:pw@h/x") == "https://u:[redacted]@h/x"

    def test_digest_before_hex(self) -> None:
        """32 hex digits right after a digest's name stay; elsewhere they go."""
        text = f"md5={AZURE_KEY} and {AZURE_KEY}"
        assert _text.scrub_text(text) == f"md5={AZURE_KEY} and [redacted]"

    def test_token_counts_kept(self) -> None:
        """A number after a token name is a count; anything else after it is a secret."""
        assert _text.scrub_text("token: 1056, token: abc123xyz") == "token: 1056, token: [redacted]"

    def test_identifier_keeps_hex(self) -> None:
        """As an identifier, 32 hex digits stay, a credential still goes."""
        assert _text.scrub_text(AZURE_KEY, identifier=True) == AZURE_KEY
        assert _text.scrub_text("sk-abcdefghijkl", identifier=True) == "[redacted]"

    def test_credentials_by_start(self) -> None:
        """Every credential of the one list is replaced where it starts."""
        for start, _, case in _text.CREDENTIALS:
            rest = "Abc1" * 8 if not start.startswith(("Bearer", "Basic")) else " Abc1Abc1Abc1"
            if start == "eyJ":
                rest = "abcdef.ghijkl.mnop"
            if start == "xox":
                rest = "b-abcdefghijkl"
            if case:
                rest = rest.upper()
            assert "[redacted]" in _text.scrub_text(f"x {start}{rest} y"), start


class TestScreenTwins:
    """The Python screen is exact; the compiled one never answers clean where it is not."""

    FRAGMENTS = (
        "sk", "SK", "\u017fk", "-", "_", "proj", "abcdef", "0123456789", "hf", "Bearer", " ",
        "eyJ", "x.y", "AKIA", "://", "user", ":", "@", "/", "=", "api", "key", "token", "'",
        '"', "password", "f" * 32, "1" * 32, "md5", "count", "a", "hello world", ",", "\u212a",
    )  # fmt: skip

    def texts(self, count: int) -> list[str]:
        rnd = random.Random(13)
        return [
            "".join(rnd.choice(self.FRAGMENTS) for _ in range(rnd.randint(0, 10)))
            for _ in range(count)
        ]

    @pytest.mark.parametrize("identifier", [False, True])
    def test_python_is_exact(self, identifier: bool) -> None:
        """The Python twin says suspect exactly when the expression finds something."""
        pattern = _text._SECRET_IN_ID if identifier else _text._SECRET_VALUE
        for text in self.texts(3000):
            expected = pattern.search(text) is not None
            assert _text._suspect_py(identifier, text) is expected, text

    @pytest.mark.parametrize("identifier", [False, True])
    def test_compiled_never_misses(self, identifier: bool) -> None:
        """Where the Python twin says suspect, so does the compiled screen."""
        if _text._SCREEN is None:
            pytest.skip("the compiled extension is not in use")
        for text in self.texts(3000):
            if _text._suspect_py(identifier, text):
                assert _text._SCREEN(identifier, text), text

    @pytest.mark.parametrize(
        ("values", "suspect"),
        [
            ((None, False, "gpt-image-1", ("a", None)), False),
            ((["x", 3],), True),
            ((True,), True),
            ((object(),), True),
            (("ok", ("fine", "sk-abcdefghijkl")), True),
        ],
    )
    def test_values_agree(self, values: tuple[Any, ...], suspect: bool) -> None:
        """None, False, text and sequences of text are looked at; anything else is suspect."""
        screens = [_text._suspect_py] + ([_text._SCREEN] if _text._SCREEN is not None else [])
        for screen in screens:
            assert screen(False, *values) is suspect, screen


class TestPythonScreenMemory:
    """The Python screen remembers short texts, within a bound."""

    def test_short_texts_remembered(self) -> None:
        """A short text's answer is kept per rule set; a long one is not."""
        _text._SEEN.clear()
        _text._suspect_py(False, "hello there")
        _text._suspect_py(True, "hello there")
        long = "x" * (_text._MAX_SEEN_TEXT + 1)
        _text._suspect_py(False, long)
        assert set(_text._SEEN) == {(False, "hello there"), (True, "hello there")}

    def test_bounded(self) -> None:
        """Past the bound, what was remembered is forgotten at once."""
        _text._SEEN.clear()
        for number in range(_text._MAX_SEEN + 1):
            _text._suspect_py(False, f"label {number}")
        assert len(_text._SEEN) <= _text._MAX_SEEN
        _text._SEEN.clear()

    def test_tiny_texts_clean(self) -> None:
        """Texts shorter than any secret are clean without a look."""
        assert not _text._suspect_py(False, "a=b")


class TestValues:
    """Structures item by item, fields by their own rules, reprs."""

    def test_pairs_and_named_values(self) -> None:
        """A (name, value) pair and a {name, value} mapping hide the value of a secret name."""
        assert _values.scrub(("Authorization", "Bearer abcdefghij")) == (
            "Authorization",
            "[redacted]",
        )
        shown = _values.scrub({"name": "x-api-key", "value": "zzz", "other": 1})
        assert shown == {"name": "x-api-key", "value": "[redacted]", "other": 1}

    def test_depth(self) -> None:
        """Past the depth limit, a container is replaced whole."""
        assert _values.scrub([[[1]]], depth=_values.MAX_DEPTH - 1) == ["[redacted]"]

    def test_opaque(self) -> None:
        """Bytes go for a renderer, stay for an encoder; sets become lists."""
        assert _values.scrub(b"x") == "[redacted]"
        assert _values.scrub(b"x", opaque=False) == b"x"
        assert sorted(_values.scrub({1, 2})) == [1, 2]

    def test_image_data(self) -> None:
        """Base64 is kept whole; anything else is scrubbed as text."""
        assert _values.image_data("QUJD+/==") == "QUJD+/=="
        assert _values.image_data("sk-abcdefghijk data") == "[redacted] data"

    def test_output_url(self) -> None:
        """An output URL keeps its path, loses its signature."""
        url = "https://cdn.example/img/abcdefghijklmnop1234.png?sig=abc&x=1"
        assert _values.output_url(url) == (
            "https://cdn.example/img/abcdefghijklmnop1234.png?sig=[redacted]&x=1"
        )

    def test_repr(self) -> None:
        """A ScrubbedRepr class shows each field scrubbed, ids as ids, hidden fields left out."""

        @attrs.define
        class Thing(_values.ScrubbedRepr):
            note: str = "sk-abcdefghijkl"
            request_id: str = AZURE_KEY
            hidden: str = attrs.field(default="x", repr=False)

        assert repr(Thing()) == f"Thing(note='[redacted]', request_id='{AZURE_KEY}')"
