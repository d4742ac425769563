"""The encoders on their own (JSON lines, devtools messages) and how an HTTP answer is read."""

from __future__ import annotations

import json

import pytest

from aievents import from_dict
from aievents.encoding.devtools import encode_message, encode_messages, read_message
from aievents.encoding.jsonl import encode_body, encode_lines, encode_texts
from aievents.exceptions import UnencodableError
from aievents.wire import from_envelope

from helpers import error_event, usage_event


class TestJsonLines:
    """One line of compact JSON per event, secrets scrubbed, bodies made of them."""

    def test_lines(self) -> None:
        """Each line ends in a newline and reads back as the event."""
        events = [usage_event("a"), error_event("b")]
        lines = encode_lines(events, "dict")
        assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
        assert [from_dict(json.loads(line)) for line in lines] == events

    def test_bodies(self) -> None:
        """``json`` is one array; ``ndjson`` is the same texts, one a line."""
        events = [usage_event("a"), usage_event("b")]
        texts = encode_texts(events, "envelope")
        array = encode_body(events, "envelope", "json")
        assert json.loads(array) == [json.loads(text) for text in texts]
        ndjson = encode_body(events, "envelope", "ndjson")
        assert ndjson.decode().splitlines() == texts

    def test_lone_surrogate(self) -> None:
        """A lone surrogate is written as its escape: the body is UTF-8, the text the same."""
        event = usage_event("a", model="m\ud800")
        body = encode_body([event], "dict", "ndjson")
        assert b"\\ud800" in body
        assert json.loads(body)["model"] == "m\ud800"

    def test_unencodable_named(self) -> None:
        """An event JSON cannot write is named; nothing is returned for the batch."""
        bad = usage_event("bad", options={"x": 1})
        bad.options["x"] = float("nan")  # a container changed after the event was built
        with pytest.raises(UnencodableError) as info:
            encode_texts([usage_event("a"), bad], "dict")
        assert info.value.events == [bad]


class TestDevtoolsMessages:
    """Envelopes of JSON text, both ways."""

    def test_round_trip(self) -> None:
        """A message reads back as the envelope of the event."""
        event = usage_event("a")
        envelope = read_message(encode_message(event, plugin_id="mine"))
        assert envelope["type"] == "mine:image:usage"
        assert from_envelope(envelope, plugin_id="mine") == event

    def test_batch(self) -> None:
        """One message per event, in order."""
        messages = encode_messages([usage_event("a"), usage_event("b")])
        assert [read_message(m)["payload"]["requestId"] for m in messages] == ["a", "b"]

    @pytest.mark.parametrize(
        "message",
        ["not json", "[1]", '{"type": 3}', '{"type": "x", "payload": []}', "[" * 100_000],
    )
    def test_not_an_envelope(self, message: str) -> None:
        """Text that is not an envelope (or nests past what JSON reads) is a ValueError."""
        with pytest.raises(ValueError, match=r"."):
            read_message(message)


class TestAnswers:
    """What an HTTP answer means for a batch."""

    @pytest.mark.parametrize(
        ("status", "retryable"),
        [
            (408, True),
            (425, True),
            (429, True),
            (500, True),
            (503, True),
            (400, False),
            (404, False),
        ],
    )
    def test_status(self, status: int, retryable: bool) -> None:
        """408, 425, 429 and 5xx may succeed on a retry; other statuses will not."""
        pytest.importorskip("httpx")
        from aievents._http import answer_error

        error = answer_error("http://h/x", status, 7.0)
        assert (error.retryable, error.status, error.retry_after) == (retryable, status, 7.0)
        assert str(error) == f"http://h/x answered {status}"
