"""The encoders on their own (JSON lines, devtools messages) and how an HTTP answer is read."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from aievents import Billed, CostDetails, ImageUsage, from_dict
from aievents.encoding.devtools import encode_message, encode_messages, read_message
from aievents.encoding.jsonl import encode_body, encode_lines, encode_texts
from aievents.events import ImageUsageEvent
from aievents.exceptions import UnencodableError
from aievents.money import ImageCost
from aievents.wire import COMPUTED_COST_MARK, from_envelope, to_envelope

from helpers import error_event, priced_cost, usage_event

D = Decimal
#: 50 text tokens in at $5/M and 50 image tokens out at $40/M: 0.00025 + 0.002 = 0.00225.
PRICED = priced_cost(input_text=D("0.00025"), output_image=D("0.002"))


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


class TestDevtoolsCost:
    """The TanStack panel reads usage.cost: the computed cost shows there when none was reported."""

    def test_computed_cost_shown_and_marked(self) -> None:
        """No reported cost, a complete computed one: usage.cost shows it; reading undoes it."""
        event = usage_event("a", cost=PRICED)
        payload = read_message(encode_message(event))["payload"]
        assert payload["usage"]["cost"] == 0.00225
        assert payload[COMPUTED_COST_MARK] is True
        assert payload["cost"]["total"] == 0.00225
        back = from_envelope(read_message(encode_message(event)))
        assert back == event
        assert isinstance(back, ImageUsageEvent)
        assert back.usage.cost is None  # still nothing reported

    def test_reported_cost_kept(self) -> None:
        """A cost the provider reported is what usage.cost shows, unmarked."""
        usage = ImageUsage(input_tokens=50, output_tokens=50, cost="0.0026")
        event = usage_event("a", usage=usage, cost=PRICED)
        payload = read_message(encode_message(event))["payload"]
        assert payload["usage"]["cost"] == 0.0026
        assert COMPUTED_COST_MARK not in payload
        assert from_envelope(read_message(encode_message(event))) == event

    def test_incomplete_cost_not_shown(self) -> None:
        """A computed cost that left tokens unpriced is not passed off as the request's cost."""
        partial = ImageCost(
            total=D("0.00025"),
            basis="tokens",
            input_text=D("0.00025"),
            price_version="t",
            priced_model="m",
            unpriced=("output_image",),
        )
        payload = read_message(encode_message(usage_event("a", cost=partial)))["payload"]
        assert "cost" not in payload["usage"]
        assert COMPUTED_COST_MARK not in payload

    def test_unpriced_not_shown(self) -> None:
        """No computed cost, none reported: no usage.cost (unknown, never 0)."""
        payload = read_message(encode_message(usage_event("a")))["payload"]
        assert "cost" not in payload["usage"]
        assert COMPUTED_COST_MARK not in payload

    def test_devtools_only(self) -> None:
        """JSON Lines envelopes and to_envelope keep usage.cost the provider's."""
        event = usage_event("a", cost=PRICED)
        (line,) = encode_texts([event], "envelope")
        for payload in (json.loads(line)["payload"], to_envelope(event)["payload"]):
            assert "cost" not in payload["usage"]
            assert COMPUTED_COST_MARK not in payload

    def test_billed_and_cost_details_camel_case(self) -> None:
        """billed and costDetails are TanStack's names and shapes; numbers as numbers."""
        usage = ImageUsage(
            billed=Billed("3.008", "units"),
            cost_details=CostDetails(upstream_cost="0.09024", upstream_output_cost="0.09024"),
        )
        event = usage_event("a", usage=usage)
        payload = read_message(encode_message(event))["payload"]
        assert payload["usage"] == {
            "billed": {"quantity": 3.008, "unit": "units"},
            "costDetails": {"upstreamCost": 0.09024, "upstreamOutputCost": 0.09024},
        }
        assert from_envelope(read_message(encode_message(event))) == event


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
