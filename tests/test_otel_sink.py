"""OtelSink's spans: the real openai SDK at the local image server, the real OpenTelemetry SDK."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import openai
import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, StatusCode

from aievents import (
    BaseEvent,
    EventClient,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
)
from aievents.sinks.otel import DEFAULT_OPERATION_NAME, OtelSink
from aievents.testing import ImageServer, capture_events
from otel_sdk import Sdk
from test_instrument_openai import Api

from helpers import (
    ImageUsageLookalike,
    TextUsageEvent,
    completed_event,
    error_event,
    started_event,
    usage_event,
)

MS = 1_000_000
TESTS = Path(__file__).parent
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="sdk")
def _sdk() -> Iterator[Sdk]:
    sdk = Sdk()
    yield sdk
    sdk.shutdown()


def call(sdk: Sdk, mode: str, server: ImageServer, **kwargs: Any) -> tuple[list[BaseEvent], Any]:
    """One instrumented images.generate inside the application's span ``app``."""
    client, sink = sdk.client()
    api = Api(mode, server.base_url, events=client)
    with (
        capture_events(client) as events,
        sdk.tracer.start_as_current_span("app") as app,
        contextlib.suppress(openai.APIStatusError),
    ):
        api.call("generate", model="gpt-image-1", prompt="a red fox", **kwargs)
    assert sink.failures == 0
    assert sink.open_spans == 0
    return events, app


def fields_of(event: BaseEvent) -> dict[str, Any]:
    """The fields an event was made with."""
    return {f.name: getattr(event, f.name) for f in attrs.fields(type(event)) if f.init}


def one_request_span(sdk: Sdk) -> ReadableSpan:
    (span,) = sdk.named(DEFAULT_OPERATION_NAME)
    return span


class TestSpanTree:
    """An instrumented call in an application span becomes its child, timed by the events."""

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_completed_call(self, sdk: Sdk, server: ImageServer, mode: str) -> None:
        """Parent, kind, name, times and attributes of a completed call."""
        events, app = call(sdk, mode, server, n=2, size="1024x1024", quality="low")
        started, completed, usage = events
        assert isinstance(usage, ImageUsageEvent)
        span = one_request_span(sdk)
        assert span.name == "generate_content gpt-image-1"
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == app.get_span_context().span_id
        assert span.context.trace_id == app.get_span_context().trace_id
        assert span.start_time // MS == started.timestamp  # the request's ns, in its ms
        assert span.end_time // MS == completed.timestamp
        assert span.status.status_code is StatusCode.UNSET
        attributes = dict(span.attributes or {})
        tokens = usage.usage
        assert tokens.input_tokens_details is not None
        assert usage.cost is not None
        expected = {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.provider.name": started.provider,
            "gen_ai.request.model": "gpt-image-1",
            "gen_ai.output.type": "image",
            "gen_ai.request.choice.count": 2,
            "gen_ai.usage.input_tokens": tokens.input_tokens,
            "gen_ai.usage.output_tokens": tokens.output_tokens,
            "gen_ai.usage.text.input_tokens": tokens.input_tokens_details.text_tokens,
            "gen_ai.usage.image.input_tokens": tokens.input_tokens_details.image_tokens,
            "gen_ai.usage.cost": float(usage.cost.total),
            "aievents.cost_usd": float(usage.cost.total),
            "aievents.priced": True,
            "aievents.priced_as": "gpt-image-1",
            "aievents.request_id": started.request_id,
            "aievents.operation": "image.generation",
            "aievents.size": "1024x1024",
            "aievents.quality": "low",
            "aievents.images": usage.images,
        }
        assert {key: attributes.get(key) for key in expected} == expected
        assert "gen_ai.response.model" not in attributes  # the model asked for answered
        # The request id is aievents' own: only the provider's id is the response's.
        assert attributes.get("gen_ai.response.id") == usage.correlation_id

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_later_events_carry_the_span(self, sdk: Sdk, server: ImageServer, mode: str) -> None:
        """The started event carries the app's span as traceparent; the later ones the request's."""
        events, app = call(sdk, mode, server)
        span = one_request_span(sdk)
        context = app.get_span_context()
        flags = int(context.trace_flags)
        traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
        assert [e.traceparent for e in events] == [traceparent] * 3
        assert (events[0].trace_id, events[0].span_id) == (None, None)
        ids = (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")
        assert [(e.trace_id, e.span_id) for e in events[1:]] == [ids, ids]

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test_failing_call(self, sdk: Sdk, server: ImageServer, mode: str) -> None:
        """A refused call: status ERROR, error.type, the message, ended at the error event."""
        server.fail_next(429, "slow down, key sk-proj-abcdefghijklmnopqrstuvwx1234")
        events, app = call(sdk, mode, server)
        started, error = events
        assert isinstance(error, ImageRequestErrorEvent)
        span = one_request_span(sdk)
        assert span.parent is not None
        assert span.parent.span_id == app.get_span_context().span_id
        assert span.start_time // MS == started.timestamp
        assert span.end_time // MS == error.timestamp
        assert span.status.status_code is StatusCode.ERROR
        assert "slow down" in (span.status.description or "")
        assert "abcdefghijklmnop" not in (span.status.description or "")
        attributes = span.attributes or {}
        assert attributes["error.type"] == "RateLimitError"
        assert attributes["http.response.status_code"] == 429
        assert (error.trace_id, error.span_id) == (
            f"{span.context.trace_id:032x}",
            f"{span.context.span_id:016x}",
        )

    def test_no_application_span(self, sdk: Sdk, server: ImageServer) -> None:
        """Without an application span the request's span is a root, and still carried."""
        client, _ = sdk.client()
        with capture_events(client) as events:
            Api("sync", server.base_url, events=client).call(
                "generate", model="gpt-image-1", prompt="x"
            )
        span = one_request_span(sdk)
        assert span.parent is None
        assert events[0].traceparent is None
        assert events[-1].span_id == f"{span.context.span_id:016x}"

    def test_operation_name_setting(self, sdk: Sdk) -> None:
        """operation_name names the span and gen_ai.operation.name."""
        client, _ = sdk.client(operation_name="image_generation")
        client.emit(started_event("r1", model="dall-e-3"))
        client.emit(completed_event("r1", model="dall-e-3"))
        client.emit(usage_event("r1", model="dall-e-3"))
        (span,) = sdk.spans
        assert span.name == "image_generation dall-e-3"
        assert (span.attributes or {})["gen_ai.operation.name"] == "image_generation"

    def test_response_model(self, sdk: Sdk) -> None:
        """A more exact model in the answer is gen_ai.response.model."""
        client, _ = sdk.client()
        client.emit(started_event("r1", model="gpt-image-1"))
        client.emit(completed_event("r1", model="gpt-image-1-2025"))
        client.emit(usage_event("r1", model="gpt-image-1-2025", correlation_id="prov-1"))
        attributes = sdk.spans[0].attributes or {}
        assert attributes["gen_ai.request.model"] == "gpt-image-1"
        assert attributes["gen_ai.response.model"] == "gpt-image-1-2025"
        assert attributes["gen_ai.response.id"] == "prov-1"

    def test_unpriced(self, sdk: Sdk) -> None:
        """A request without a price: aievents.priced false, no cost attribute (never 0)."""
        client, _ = sdk.client()
        client.emit(started_event("r1", model="mystery"))
        client.emit(completed_event("r1", model="mystery"))
        client.emit(usage_event("r1", model="mystery"))
        attributes = sdk.spans[0].attributes or {}
        assert attributes["aievents.priced"] is False
        assert "gen_ai.usage.cost" not in attributes
        assert "aievents.cost_usd" not in attributes


class TestLoneEvents:
    """Events of a request the sink never saw start become whole spans with their times."""

    def test_completed_and_usage_from_the_wire(self, sdk: Sdk) -> None:
        """Start = timestamp - duration, end = timestamp, parented to the traceparent."""
        client, sink = sdk.client()
        at = 1_767_225_600_000
        client.emit(completed_event("w1", timestamp=at, duration=1500.0, traceparent=PARENT))
        client.emit(usage_event("w1", timestamp=at, traceparent=PARENT, images=1))
        (span,) = sdk.spans
        assert span.start_time == (at - 1500) * MS
        assert span.end_time == at * MS
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
        assert span.parent.is_remote
        assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
        assert (span.attributes or {})["gen_ai.usage.output_tokens"] == 50
        assert sink.open_spans == 0

    def test_lone_usage(self, sdk: Sdk) -> None:
        """A usage event alone has no duration: a span of no length at its timestamp."""
        client, _ = sdk.client()
        client.emit(usage_event("w2", timestamp=1_767_225_600_000, traceparent=PARENT))
        (span,) = sdk.spans
        assert span.start_time == span.end_time == 1_767_225_600_000 * MS

    def test_lone_error(self, sdk: Sdk) -> None:
        """An error event alone: its duration before its timestamp, status ERROR."""
        client, _ = sdk.client()
        client.emit(error_event("w3", timestamp=1_767_225_600_000, duration=250.0))
        (span,) = sdk.spans
        assert span.start_time == (1_767_225_600_000 - 250) * MS
        assert span.status.status_code is StatusCode.ERROR
        assert span.parent is None

    def test_lone_event_in_an_active_span(self, sdk: Sdk) -> None:
        """Without a traceparent, the span active where the sink handles the event is the parent."""
        client, _ = sdk.client()
        with sdk.tracer.start_as_current_span("receiver") as receiver:
            client.emit(usage_event("w4"))
        (span,) = sdk.named(DEFAULT_OPERATION_NAME)
        assert span.parent is not None
        assert span.parent.span_id == receiver.get_span_context().span_id

    def test_event_that_names_its_span(self, sdk: Sdk) -> None:
        """An event whose span was made where it was emitted makes no second span."""
        client, _ = sdk.client()
        ids = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "00f067aa0ba902b7"}
        client.emit(completed_event("w5", **ids))
        client.emit(usage_event("w5", **ids))
        assert sdk.spans == []
        assert sdk.total("aievents.requests") == 1

    def test_completed_without_usage(self, sdk: Sdk) -> None:
        """A completed request waits for its usage; flush ends it at its completion; no second."""
        client, sink = sdk.client()
        client.emit(started_event("a", timestamp=1_767_225_600_000))
        client.emit(completed_event("a", timestamp=1_767_225_601_000))
        client.emit(started_event("b"))
        assert sdk.spans == []
        assert sink.open_spans == 2
        sink.flush(5)
        (span,) = sdk.spans
        assert span.end_time == 1_767_225_601_000 * MS
        client.emit(usage_event("a"))  # late: counted, no second span
        assert len(sdk.spans) == 1
        assert sdk.total("aievents.requests") == 1


class TestInterleaved:
    """Events of several requests interleaved (another process, the wire): one span each."""

    def test_completed_then_usages(self, sdk: Sdk) -> None:
        """completed A, completed B, usage A, usage B: two whole spans with their usage."""
        _, sink = sdk.client()
        at = 1_767_225_600_000
        for event in (
            completed_event("A", timestamp=at, duration=1000.0),
            completed_event("B", timestamp=at, duration=1000.0),
            usage_event("A", timestamp=at, images=1),
            usage_event("B", timestamp=at, images=1),
        ):
            sink.handle(event)
        spans = sdk.spans
        assert sorted((s.attributes or {})["aievents.request_id"] for s in spans) == ["A", "B"]
        for span in spans:
            assert span.end_time - span.start_time == 1000 * MS
            assert (span.attributes or {})["gen_ai.usage.output_tokens"] == 50
            assert "aievents.unfinished" not in (span.attributes or {})
        assert sink.open_spans == 0
        assert sdk.total("aievents.requests") == 2

    def test_started_requests_interleaved(self, sdk: Sdk) -> None:
        """Two started requests ending in the other order: each span gets its own usage."""
        _, sink = sdk.client()
        sink.handle(started_event("A", timestamp=1_767_225_600_000))
        sink.handle(started_event("B", timestamp=1_767_225_600_001))
        sink.handle(completed_event("A", timestamp=1_767_225_600_010))
        sink.handle(completed_event("B", timestamp=1_767_225_600_020))
        sink.handle(usage_event("B", timestamp=1_767_225_600_020, images=2))
        sink.handle(usage_event("A", timestamp=1_767_225_600_010, images=1))
        found = {(s.attributes or {})["aievents.request_id"]: s for s in sdk.spans}
        assert sorted(found) == ["A", "B"]
        assert (found["A"].attributes or {})["aievents.images"] == 1
        assert (found["B"].attributes or {})["aievents.images"] == 2
        assert found["A"].end_time == 1_767_225_600_010 * MS
        assert found["B"].end_time == 1_767_225_600_020 * MS

    def test_late_usage_after_eviction(self, sdk: Sdk) -> None:
        """A usage after its span was evicted is counted and makes no second span."""
        _, sink = sdk.client(max_open_spans=1)
        sink.handle(started_event("a", timestamp=1_767_225_599_000))
        sink.handle(completed_event("a", timestamp=1_767_225_600_000))
        sink.handle(started_event("b"))  # evicts a, ended at its completion
        (span,) = sdk.spans
        assert (span.attributes or {})["aievents.unfinished"] == "evicted"
        assert span.end_time == 1_767_225_600_000 * MS
        sink.handle(usage_event("a"))
        assert len(sdk.spans) == 1
        assert sdk.total("aievents.requests") == 1

    def test_repeated_started(self, sdk: Sdk) -> None:
        """A second started event for an open request keeps its span: one span, ended once."""
        _, sink = sdk.client()
        sink.handle(started_event("a", timestamp=1_767_225_600_000))
        sink.handle(started_event("a", timestamp=1_767_225_600_005))
        assert sink.open_spans == 1
        sink.handle(completed_event("a", timestamp=1_767_225_600_010))
        sink.handle(usage_event("a"))
        (span,) = sdk.spans
        assert span.start_time == 1_767_225_600_000 * MS
        assert sink.open_spans == 0

    def test_never_ends_before_it_starts(self, sdk: Sdk) -> None:
        """An end stamped before the start (a clock stepped back) ends the span at its start."""
        _, sink = sdk.client()
        sink.handle(started_event("a", timestamp=1_767_225_600_010))
        sink.handle(error_event("a", timestamp=1_767_225_600_000))
        (span,) = sdk.spans
        assert span.end_time == span.start_time == 1_767_225_600_010 * MS


class TestSampling:
    """A sampler that drops the span: nothing recorded, nothing breaks, metrics still counted."""

    def test_always_off(self, server: ImageServer) -> None:
        """ALWAYS_OFF: no span; the events carry no span ids; the call and metrics as usual."""
        sdk = Sdk(sampler=ALWAYS_OFF)
        events, _ = call(sdk, "sync", server)
        assert sdk.spans == []
        assert [(e.trace_id, e.span_id) for e in events] == [(None, None)] * 3
        assert sdk.total("aievents.requests") == 1

    def test_parent_not_sampled(self) -> None:
        """A parent-based sampler follows the traceparent's flags: 00 drops, 01 keeps."""
        sdk = Sdk(sampler=ParentBased(ALWAYS_OFF))
        client, _ = sdk.client()
        for request_id, traceparent in (("u", UNSAMPLED), ("s", PARENT)):
            client.emit(started_event(request_id, traceparent=traceparent))
            client.emit(completed_event(request_id, traceparent=traceparent))
            client.emit(usage_event(request_id, traceparent=traceparent))
        (span,) = sdk.spans
        assert (span.attributes or {})["aievents.request_id"] == "s"
        assert sdk.total("aievents.requests") == 2

    def test_parent_sampled_by_the_application(self) -> None:
        """ParentBased(ALWAYS_ON) with an unsampled parent records nothing either."""
        sdk = Sdk(sampler=ParentBased(ALWAYS_ON))
        client, _ = sdk.client()
        client.emit(usage_event("u", traceparent=UNSAMPLED))
        assert sdk.spans == []


#: Run in a fresh interpreter: OpenTelemetry sets each global provider once per process.
GIVEN_NOT_GLOBAL = """
mine, world = Sdk(), Sdk()
trace.set_tracer_provider(world.tracer_provider)
metrics.set_meter_provider(world.meter_provider)
client, _ = mine.client()
client.emit(usage_event("r1"))
found = [len(mine.spans), len(world.spans), mine.total("aievents.requests"),
         len(world.points("aievents.requests"))]
"""
GLOBAL_SET_AFTER = """
client = EventClient(strict=True)
sink = OtelSink()
client.add_sink(sink)
client.emit(usage_event("before"))  # no provider yet: no-op, no error
world = Sdk()
trace.set_tracer_provider(world.tracer_provider)
metrics.set_meter_provider(world.meter_provider)
client.emit(started_event("r1"))
client.emit(completed_event("r1"))
client.emit(usage_event("r1"))
found = [[s.attributes["aievents.request_id"] for s in world.spans],
         world.total("aievents.requests"), sink.failures]
"""


def fresh(code: str) -> Any:
    """What ``code`` leaves in ``found``, run in a fresh interpreter (its own global providers)."""
    program = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from opentelemetry import metrics, trace\n"
        "from aievents import EventClient\n"
        "from aievents.sinks.otel import OtelSink\n"
        "from otel_sdk import Sdk\n"
        "from helpers import completed_event, started_event, usage_event\n"
        f"{code}\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(result.stdout)


class TestProviders:
    """Given providers are used; otherwise the global ones, even when set after the sink."""

    def test_given_not_global(self) -> None:
        """A sink given providers records there, not in the global ones."""
        assert fresh(GIVEN_NOT_GLOBAL) == [1, 0, 1, 0]

    def test_global_set_after_the_sink(self) -> None:
        """A sink made before the application sets its global providers uses them once set."""
        assert fresh(GLOBAL_SET_AFTER) == [["r1"], 1, 0]


class FailingProcessor(SpanProcessor):
    """A span processor that raises when a span starts (a broken exporter setup)."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("processor down")


class TestLifecycle:
    """Failures are counted, the open table is bounded, flush and close end what is left."""

    def test_event_classes(self, sdk: Sdk) -> None:
        """An application's subclass of an event is handled as its base; other events not."""

        @attrs.frozen(kw_only=True, slots=True)
        class Started(ImageRequestStartedEvent):
            pass

        @attrs.frozen(kw_only=True, slots=True)
        class Used(ImageUsageEvent):
            pass

        sink = sdk.sink()
        for other in (TextUsageEvent(tokens=3), ImageUsageLookalike(), BaseEvent()):
            sink.handle(other)
        assert sink.open_spans == 0
        sink.handle(Started(**fields_of(started_event("s1"))))
        assert sink.open_spans == 1
        sink.handle(Used(**fields_of(usage_event("s1"))))
        (span,) = sdk.spans
        assert (span.attributes or {})["aievents.request_id"] == "s1"
        assert sink.open_spans == 0

    def test_sdk_failure_never_raises(self, sdk: Sdk) -> None:
        """A processor that raises: counted and logged, the emit goes on."""
        sdk.tracer_provider.add_span_processor(FailingProcessor())
        client = EventClient()
        sink = sdk.sink()
        client.add_sink(sink)
        with structlog.testing.capture_logs():
            client.emit(started_event("r1"))
        assert sink.failures == 1
        assert client.handler_errors == 0

    def test_cap(self, sdk: Sdk) -> None:
        """Over max_open_spans the oldest is ended, marked evicted."""
        client, sink = sdk.client(max_open_spans=2)
        for request_id in ("a", "b", "c"):
            client.emit(started_event(request_id))
        (span,) = sdk.spans
        attributes = span.attributes or {}
        assert attributes["aievents.request_id"] == "a"
        assert attributes["aievents.unfinished"] == "evicted"
        assert (sink.evicted, sink.open_spans) == (1, 2)

    def test_close_ends_open_spans(self, sdk: Sdk) -> None:
        """close() ends the spans still open, marked closed, status unset; later events ignored."""
        client, sink = sdk.client()
        client.emit(started_event("a"))
        assert sink.close(5) is True
        (span,) = sdk.spans
        assert (span.attributes or {})["aievents.unfinished"] == "closed"
        assert span.status.status_code is StatusCode.UNSET
        client.emit(started_event("b"))
        assert len(sdk.spans) == 1

    def test_flush_ends_completed_requests_only(self, sdk: Sdk) -> None:
        """flush() ends a completed request still waiting for its usage; in-flight ones stay."""
        client, sink = sdk.client()
        client.emit(started_event("a"))
        client.emit(started_event("b", timestamp=1_767_225_599_000))
        client.emit(completed_event("b", timestamp=1_767_225_600_000))
        assert sink.flush(5) is True
        (span,) = sdk.spans
        assert (span.attributes or {})["aievents.request_id"] == "b"
        assert span.end_time == 1_767_225_600_000 * MS
        assert sink.open_spans == 1
        client.emit(usage_event("b"))  # its usage, late: metrics only, no second span
        assert len(sdk.spans) == 1

    def test_not_an_image_event(self, sdk: Sdk) -> None:
        """Other events are ignored."""
        client, sink = sdk.client()
        client.emit(BaseEvent())
        assert sdk.spans == []
        assert sink.failures == 0

    @pytest.mark.parametrize(
        ("options", "named"),
        [
            ({"label_cap": 0}, "label_cap"),
            ({"max_open_spans": -1}, "max_open_spans"),
            ({"max_request_ids": 0}, "max_request_ids"),
            ({"operation_name": ""}, "operation_name"),
            ({"metric_names": {"request": "x"}}, "metric_names['request']"),
            ({"metric_names": {"requests": 3}}, "metric_names['requests']"),
        ],
    )
    def test_bad_settings(self, options: dict[str, Any], named: str) -> None:
        """A bad setting is a ValueError naming it."""
        with pytest.raises(ValueError, match=named.replace("[", r"\[")):
            OtelSink(**options)
