"""Credentials in the shapes providers and applications give them, and what is not one.

Each secret is planted where it was seen to slip through (too deep, behind
an ``Authorization: Key``, a Replicate token, JSON inside a string, an
application's own event class) and looked for in what leaves the process;
each value that was mangled though it holds no secret (image data, an
image's URL, token counts, digests, a store's path) is shown to stay whole.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import attr
import attrs
import pytest

from aievents import ImageOutput, ImageUsage, ImageUsageEvent
from aievents.sinks import ForwardSink
from aievents.transports.jsonl import JsonlTransport

from helpers import completed_event, usage_event

SECRET = "PLANTEDsecret7Qx2Lm9Vb4Nc"
#: fal's keys: an id, a colon, a secret; sent as ``Authorization: Key <key>``.
FAL_KEY = f"5f3c9a1e-0b7d-4c2e-9f1a-3d5e7b9c1a2f:{SECRET}"
REPLICATE = "r8_PLANTEDreplicate0123456789abcdef"
DIGEST = "0cc175b9c0f1b6a831c399e269772661"  # md5("a"): 32 hex digits, like an Azure key
USAGE = ImageUsage(input_tokens=12, output_tokens=1290)


def redact() -> Any:
    from aievents import _redact

    return _redact


def text_rule() -> Any:
    """The rule of text, where the screen lives."""
    from aievents._redact import _text

    return _text


def forwarded(tmp_path: Path, *events: Any) -> str:
    """What a JSONL file receives of ``events``, through a ForwardSink."""
    path = tmp_path / "out.jsonl"
    sink = ForwardSink(JsonlTransport(path))
    for event in events:
        sink.handle(event)
    sink.close(10.0)
    return path.read_text()


def nested(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"x": value}
    return value


@attrs.frozen(kw_only=True, slots=True)
class AppUsageEvent(ImageUsageEvent):
    """An application's event class: fields of its own, no validator, any annotation."""

    attempts: int = 0
    extra: Any = None
    note: str = ""


@attr.s(frozen=True, slots=True, kw_only=True, auto_attribs=True, repr=True)
class ClassicUsageEvent(ImageUsageEvent):
    """The same with the classic ``attr.s`` API, asking attrs for a repr of its own."""

    note: str = ""


class TestDepth:
    """A secret deeper than scrub() looks goes with its container: depth never lets it pass."""

    @pytest.mark.parametrize("opaque", [True, False])
    @pytest.mark.parametrize("levels", [19, 20, 21, 40])
    def test_scrub(self, opaque: bool, levels: int) -> None:
        """Mappings and lists nested past the limit: no secret, whatever the renderer."""
        value = nested(levels, {"api_key": SECRET, "note": f"Bearer {SECRET}"})
        listed = nested(levels, [f"key={SECRET}"])
        for planted in (value, listed):
            assert SECRET not in repr(redact().scrub(planted, opaque=opaque))

    def test_forwarded(self, tmp_path: Path) -> None:
        """An application's field holding a deep structure: the file holds no secret."""
        event = AppUsageEvent(
            request_id="r1", model="m", usage=USAGE, extra=nested(30, {"api_key": SECRET})
        )
        text = forwarded(tmp_path, event)
        assert SECRET not in text
        assert "[redacted]" in text


class TestAuthorizationSchemes:
    """An ``Authorization`` value goes whole, whatever its scheme (fal's ``Key`` too)."""

    @pytest.mark.parametrize("scheme", ["Key", "Bearer", "Token", "Basic", "ApiKey"])
    @pytest.mark.parametrize(
        "shape",
        [
            "Authorization: {value}",
            "headers={{'Authorization': '{value}'}}",
            '{{"authorization": "{value}"}}',
            "[('authorization', '{value}')]",
        ],
    )
    def test_in_text(self, scheme: str, shape: str) -> None:
        """As a header line, a dict's repr, JSON and a list of pairs."""
        text = shape.format(value=f"{scheme} {FAL_KEY}")
        scrubbed = redact().scrub_text(text)
        assert SECRET not in scrubbed
        assert "5f3c9a1e" not in scrubbed
        assert "[redacted]" in scrubbed

    @pytest.mark.parametrize(
        "text",
        [
            f"Key {FAL_KEY}",
            "Key fal_live_Zq9sPlm2Xw8rT5yU",
            "sent Token 9Qx2Zq9sPlm2Xw8rT5yU to the server",
            "ApiKey 9Qx2Zq9sPlm2Xw8rT5yU",
            "{'X-Fal': 'Key fal_live_Zq9sPlm2Xw8rT5yU'}",
        ],
    )
    def test_scheme_anywhere(self, text: str) -> None:
        """Credentials after Key, Token or ApiKey go wherever they are, not only after a name."""
        scrubbed = redact().scrub_text(text)
        assert "Zq9sPlm2Xw8rT5yU" not in scrubbed
        assert SECRET not in scrubbed
        assert "[redacted]" in scrubbed

    @pytest.mark.parametrize(
        "text",
        ["the key ingredient of success", "Token count 5", "Key 12", "press the key 2024-11-01"],
    )
    def test_scheme_words_in_prose(self, text: str) -> None:
        """The same words in ordinary text, before no long credential, stay."""
        assert redact().scrub_text(text) == text

    def test_fal_error_forwarded(self, tmp_path: Path) -> None:
        """A fal error message quoting the header: not in the forwarded body."""
        from helpers import error_event

        message = f"401 for request with headers {{'Authorization': 'Key {FAL_KEY}'}}"
        text = forwarded(tmp_path, error_event(provider="fal", error_message=message))
        assert SECRET not in text


class TestProviderKeys:
    """Keys known by their start, Replicate's ``r8_`` among them."""

    @pytest.mark.parametrize(
        "text",
        [
            REPLICATE,
            f"REPLICATE_API_TOKEN was {REPLICATE}.",
            f"Authorization: Bearer {REPLICATE}",
            f"using ({REPLICATE})",
        ],
    )
    def test_replicate(self, text: str) -> None:
        """In any text, by every screen."""
        scrubbed = redact().scrub_text(text)
        assert "PLANTED" not in scrubbed
        assert text_rule()._suspect_py(False, text)
        assert redact().suspect(False, text)


class TestJsonEscaped:
    """JSON inside a string (a request body in an error message) is scrubbed, and stays JSON."""

    def test_one_level(self) -> None:
        """``\\"api_key\\": \\"...\\"``: the value goes, the JSON still reads."""
        body = json.dumps({"api_key": SECRET, "password": f"two {SECRET} words", "n": 1})
        text = json.dumps({"error": "bad request", "body": body})
        scrubbed = redact().scrub_text(text)
        assert SECRET not in scrubbed
        inner = json.loads(json.loads(scrubbed)["body"])
        assert inner == {"api_key": "[redacted]", "password": "[redacted]", "n": 1}

    def test_two_levels(self) -> None:
        """JSON in a string in a string."""
        text = json.dumps(json.dumps({"client_secret": SECRET, "token": SECRET}))
        scrubbed = redact().scrub_text(text)
        assert SECRET not in scrubbed
        assert json.loads(json.loads(scrubbed)) == {
            "client_secret": "[redacted]",
            "token": "[redacted]",
        }

    def test_forwarded(self, tmp_path: Path) -> None:
        """An error message holding a JSON body: not in the file."""
        from helpers import error_event

        body = json.dumps({"headers": {"x-api-key": SECRET}})
        text = forwarded(tmp_path, error_event(error_message=f"400: {json.dumps(body)}"))
        assert SECRET not in text


class TestApplicationClasses:
    """An application's event class: scrubbed by what its fields hold, repr included."""

    def test_forwarded_by_value(self, tmp_path: Path) -> None:
        """A field annotated ``int`` holding text, one of ``Any``: scrubbed as what they hold."""
        only_int = AppUsageEvent(
            request_id="r1",
            model="m",
            usage=USAGE,
            attempts=f"Bearer {SECRET}",  # type: ignore[arg-type]
        )
        others = AppUsageEvent(
            request_id="r2",
            model="m",
            usage=USAGE,
            extra={"headers": {"Authorization": SECRET}},
            note=f"key={SECRET}",
        )
        text = forwarded(tmp_path, only_int, others)
        assert SECRET not in text
        first, second = map(json.loads, text.splitlines())
        assert first["attempts"] == "[redacted]"
        assert second["extra"] == {"headers": {"Authorization": "[redacted]"}}
        assert second["note"] == "key=[redacted]"

    def test_clean_numbers_kept(self, tmp_path: Path) -> None:
        """What holds no secret is written as it is."""
        event = AppUsageEvent(
            request_id="r1", model="m", usage=USAGE, attempts=3, extra={"n": [1, 2]}
        )
        line = json.loads(forwarded(tmp_path, event))
        assert (line["attempts"], line["extra"]) == (3, {"n": [1, 2]})

    @pytest.mark.parametrize("cls", [AppUsageEvent, ClassicUsageEvent])
    def test_repr(self, cls: type) -> None:
        """Fields inherited and added, however attrs was asked to build the class."""
        event = cls(request_id="r1", model=f"sk-{SECRET}", usage=USAGE, note=f"password={SECRET}")
        text = repr(event) + str(event)
        assert SECRET not in text
        assert "note='password=[redacted]'" in text
        assert text.startswith(f"{cls.__name__}(")

    def test_own_repr_left_alone(self) -> None:
        """A repr the class writes itself is its own."""

        @attrs.frozen(kw_only=True, slots=True)
        class Mine(ImageUsageEvent):
            def __repr__(self) -> str:
                return "Mine!"

        assert repr(Mine(request_id="r1", model="m", usage=USAGE)) == "Mine!"


#: Base64 of image bytes, holding by chance what the text rules take for keys:
#: 32 hex digits between ``+`` and ``/``, an ``AKIA`` run, an ``AIza`` run.
IMAGE_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAA+" + DIGEST + "/AKIAABCDEFGHIJKLMNOP+AIzaSyA1b2C3d4E5f6G7h8I9j0K1"
)
IMAGE_B64 += "A" * (-len(IMAGE_B64) % 4)


class TestNotSecrets:
    """What holds no secret is not mangled."""

    def test_image_data(self, tmp_path: Path) -> None:
        """An image's b64_json stays whole: forwarded, logged, scrubbed."""
        assert base64.b64encode(base64.b64decode(IMAGE_B64)).decode() == IMAGE_B64
        output = ImageOutput(b64_json=IMAGE_B64)
        line = json.loads(forwarded(tmp_path, completed_event(images=1, outputs=[output])))
        assert line["outputs"][0]["b64_json"] == IMAGE_B64
        assert redact().scrub({"data": [{"b64_json": IMAGE_B64}]}) == {
            "data": [{"b64_json": IMAGE_B64}]
        }

    def test_image_data_not_base64(self) -> None:
        """Text that is not base64 under b64_json is scrubbed as any text."""
        assert redact().scrub({"b64_json": f"data: key={SECRET}"}) == {
            "b64_json": "data: key=[redacted]"
        }

    def test_image_url_path(self, tmp_path: Path) -> None:
        """An output image's URL keeps its path (where the image is); its signature goes."""
        path = "https://cdn.example/files/2024-11-01/Ab3dEf9hIj2kLm4nOp6qRs8t/img.png"
        output = ImageOutput(url=f"{path}?se=2024-11-01&sig={SECRET}")
        line = json.loads(forwarded(tmp_path, completed_event(images=1, outputs=[output])))
        assert line["outputs"][0]["url"] == f"{path}?se=2024-11-01&sig=[redacted]"

    def test_image_url_logged(self) -> None:
        """LogSink shows the same URL."""
        import structlog

        from aievents.sinks import LogSink

        path = "https://cdn.example/files/Ab3dEf9hIj2kLm4nOp6qRs8t/img.png"
        output = ImageOutput(url=f"{path}?sig={SECRET}", b64_json=IMAGE_B64)
        with structlog.testing.capture_logs() as lines:
            LogSink(include_outputs=True).handle(completed_event(images=1, outputs=[output]))
        assert lines[0]["outputs"] == [{"url": f"{path}?sig=[redacted]", "b64_json": IMAGE_B64}]

    @pytest.mark.parametrize(
        "value",
        [
            {
                "usageMetadata": {
                    "promptTokenCount": 12,
                    "candidatesTokenCount": 1290,
                    "totalTokenCount": 1302,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
                }
            },
            {"input_tokens": 5, "output_tokens_details": {"image_tokens": 1056}},
            {"max_new_tokens": 4096, "max_tokens": 300, "token_count": 3},
        ],
    )
    def test_token_counts(self, value: dict[str, Any]) -> None:
        """Token counts under any spelling are numbers, not secrets."""
        assert redact().scrub(value) == value
        assert redact().scrub_text(repr(value)) == repr(value)

    def test_tokens_still_secret(self) -> None:
        """A token's value is still one."""
        assert redact().scrub({"token": "abc123", "access_token": 12345678}) == {
            "token": "[redacted]",
            "access_token": "[redacted]",
        }

    @pytest.mark.parametrize(
        "text",
        [
            f"md5={DIGEST}",
            f'ETag: "{DIGEST}"',
            f'{{"image_md5": "{DIGEST}"}}',
            f"sha256:{DIGEST}",
            f"Content-MD5: {DIGEST}",
        ],
    )
    def test_digests_in_text(self, text: str) -> None:
        """32 hex digits named as a digest stay; unnamed, they are taken for a key."""
        assert redact().scrub_text(text) == text
        assert redact().scrub_text(f"the key {DIGEST}") == "the [redacted]"

    def test_digests_under_keys(self) -> None:
        """Under a digest's key, too."""
        value = {"image_md5": DIGEST, "sha256": DIGEST, "etag": DIGEST, "checksum": DIGEST}
        assert redact().scrub(value) == value

    def test_store_error_paths(self, tmp_path: Path) -> None:
        """A StoreError names the store's path whole: dates and file names stay."""
        pytest.importorskip("sqlalchemy")
        from aievents.sinks.store import StoreError, StoreSink

        where = tmp_path / "2024-11-01" / "runs_20241101T120000" / "usage.db"
        with pytest.raises(StoreError) as info:
            StoreSink(f"sqlite:///{where}")
        message = str(info.value)
        assert f"{tmp_path.name}/2024-11-01/runs_20241101T120000'" in message
        assert "[redacted]" not in message


def test_usage_event_unchanged() -> None:
    """An ordinary usage event leaves as it is (nothing here is a secret)."""
    from aievents._outbound import outbound

    event = usage_event(usage=USAGE)
    assert outbound(event) is event
