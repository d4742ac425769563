"""OtelSink's spans in the application's trace: parents, times, threads, forks, response ids."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from aievents._trace import take, timed
from aievents.instrument import image_request
from aievents.sinks.otel import DEFAULT_OPERATION_NAME, OtelSink
from otel_sdk import Sdk

from helpers import completed_event, started_event, usage_event

MS = 1_000_000
AT = 1_767_225_600_000  # 2026-01-01, ms
TESTS = Path(__file__).parent
ANSWER = {
    "created": 1767225600,
    "data": [{"b64_json": "aGVsbG8="}],
    "usage": {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282},
}


@pytest.fixture(name="sdk")
def _sdk() -> Iterator[Sdk]:
    sdk = Sdk()
    yield sdk
    sdk.shutdown()


class Baggage(SpanProcessor):
    """Keeps the baggage of the context each span starts in (as a baggage processor reads it)."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, object]] = {}

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.seen[span.name] = dict(baggage.get_all(parent_context))


class TestParent:
    """In the process that made the call, the request's span is a local child of the app's."""

    def test_local_parent_for_the_sampler(self) -> None:
        """A sampler that drops children of remote parents keeps the request's span."""
        sdk = Sdk(sampler=ParentBased(ALWAYS_ON, remote_parent_sampled=ALWAYS_OFF))
        client, _ = sdk.client()
        with (
            sdk.tracer.start_as_current_span("app") as app,
            image_request(provider="openai", model="gpt-image-1", client=client) as request,
        ):
            request.record(ANSWER)
        (span,) = sdk.named(DEFAULT_OPERATION_NAME)
        assert span.parent is not None
        assert span.parent.span_id == app.get_span_context().span_id
        assert not span.parent.is_remote

    def test_tracestate_and_baggage(self, sdk: Sdk) -> None:
        """The app span's tracestate goes on the request's span; its context keeps the baggage."""
        seen = Baggage()
        sdk.tracer_provider.add_span_processor(seen)
        client, _ = sdk.client()
        state = TraceState([("vendor", "th:8")])
        upstream = SpanContext(
            0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=state
        )
        start = baggage.set_baggage(
            "tenant", "shop", trace.set_span_in_context(NonRecordingSpan(upstream))
        )
        token = context.attach(start)
        try:
            with (
                sdk.tracer.start_as_current_span("app"),
                image_request(provider="openai", model="gpt-image-1", client=client) as request,
            ):
                request.record(ANSWER)
        finally:
            context.detach(token)
        (span,) = sdk.named(DEFAULT_OPERATION_NAME)
        assert span.context.trace_state == state
        assert seen.seen[span.name] == {"tenant": "shop"}

    def test_traceparent_of_another_span(self, sdk: Sdk) -> None:
        """An event whose traceparent is not the current span: a remote parent with its flags."""
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        client, _ = sdk.client()
        with sdk.tracer.start_as_current_span("receiver"):
            client.emit(completed_event("w", traceparent=traceparent))
            client.emit(usage_event("w", traceparent=traceparent))
        (span,) = sdk.named(DEFAULT_OPERATION_NAME)
        assert span.parent is not None
        assert span.parent.is_remote
        assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"


class TestTimes:
    """The request's spans start and end within their parent, at the request's nanoseconds."""

    @pytest.mark.parametrize("ending", ["complete", "fail"])
    def test_within_the_parent(self, sdk: Sdk, ending: str) -> None:
        """Every request span lies within its application span; its ms are the events'."""
        client, sink = sdk.client(metrics=False)
        for _ in range(100):
            with (
                sdk.tracer.start_as_current_span("app"),
                image_request(
                    provider="openai", model="gpt-image-1", client=client, prices=None
                ) as request,
            ):
                if ending == "fail":
                    request.fail(RuntimeError("refused"))
                else:
                    request.record(ANSWER)
        apps = {s.context.span_id: s for s in sdk.spans if s.name == "app"}
        requests = sdk.named(DEFAULT_OPERATION_NAME)
        assert len(requests) == 100
        for span in requests:
            assert span.parent is not None
            parent = apps[span.parent.span_id]
            assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time
        assert sink.open_spans == 0

    @pytest.mark.parametrize(
        ("told", "expected"),
        [
            ("req-1", (AT * MS + 123, (AT + 5) * MS + 456)),  # its own: to the nanosecond
            ("req-2", (AT * MS, (AT + 5) * MS)),  # another request's: the events' ms
        ],
    )
    def test_told_nanoseconds(self, sdk: Sdk, told: str, expected: tuple[int, int]) -> None:
        """The span takes the times the request told for its own id, and no other's."""
        sink = sdk.sink(metrics=False)
        timed(told, AT * MS + 123, None)
        try:
            sink.handle(started_event(timestamp=AT))
        finally:
            timed(None)
        take("req-1")
        timed(told, AT * MS + 123, (AT + 5) * MS + 456)
        try:
            sink.handle(completed_event(timestamp=AT + 5))
        finally:
            timed(None)
        sink.handle(usage_event(timestamp=AT + 5))
        (span,) = sdk.named(DEFAULT_OPERATION_NAME)
        assert (span.start_time, span.end_time) == expected


class TestResponseId:
    """gen_ai.response.id is the provider's id, never one aievents made up."""

    def test_made_up_request_id(self, sdk: Sdk) -> None:
        """A request whose id aievents made: no response id."""
        client, _ = sdk.client()
        with image_request(provider="openai", model="gpt-image-1", client=client) as request:
            request.record(ANSWER)
        (span,) = sdk.spans
        assert (span.attributes or {})["aievents.request_id"].startswith("req_")
        assert "gen_ai.response.id" not in (span.attributes or {})

    def test_provider_id(self, sdk: Sdk) -> None:
        """The provider's id, kept as correlation_id, is the response id."""
        client, _ = sdk.client()
        client.emit(started_event("r1"))
        client.emit(completed_event("r1", correlation_id="gen-42"))
        client.emit(usage_event("r1", correlation_id="gen-42"))
        (span,) = sdk.spans
        assert (span.attributes or {})["gen_ai.response.id"] == "gen-42"


class TestThreads:
    """flush and eviction while other threads handle events: nothing raises, nothing is lost."""

    def test_flush_while_handling(self, sdk: Sdk) -> None:
        """flush() on one thread while two others open and end spans."""
        sink = sdk.sink(metrics=False, max_open_spans=50_000)
        for index in range(20_000):
            sink.handle(started_event(f"pre-{index}"))
        stop, running = threading.Event(), [threading.Event(), threading.Event()]
        ended = [0, 0]

        def work(worker: int) -> None:
            index = 0
            while not stop.is_set():
                request_id = f"{worker}-{index}"
                sink.handle(started_event(request_id))
                sink.handle(completed_event(request_id))
                sink.handle(usage_event(request_id))
                index += 1
                ended[worker] = index
                running[worker].set()

        threads = [threading.Thread(target=work, args=(worker,)) for worker in (0, 1)]
        for thread in threads:
            thread.start()
        errors: list[BaseException] = []
        try:
            for event in running:
                event.wait()
            for _ in range(200):
                try:
                    sink.flush(0)
                except RuntimeError as exc:  # pragma: no cover - the failure looked for
                    errors.append(exc)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert errors == []
        assert sink.failures == 0
        assert len(sdk.spans) == sum(ended)
        assert sink.open_spans == 20_000

    def test_eviction_while_handling(self, sdk: Sdk) -> None:
        """Eight threads over a small cap: every span ended once, no failure."""
        sink = sdk.sink(metrics=False, max_open_spans=4)
        go = threading.Event()

        def work(worker: int) -> None:
            go.wait()
            for index in range(500):
                request_id = f"{worker}-{index}"
                sink.handle(started_event(request_id))
                sink.handle(completed_event(request_id))
                sink.handle(usage_event(request_id))

        threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
        for thread in threads:
            thread.start()
        go.set()
        for thread in threads:
            thread.join()
        assert sink.failures == 0
        assert sink.open_spans == 0
        ids = [(s.attributes or {})["aievents.request_id"] for s in sdk.spans]
        assert len(ids) == len(set(ids)) == 4000


FORK = """
import json, os, sys
sys.path.insert(0, {tests!r})
from otel_sdk import Sdk
from helpers import completed_event, started_event, usage_event

sdk = Sdk()
sink = sdk.sink()
sink.handle(started_event("in-flight"))
sink._lock.acquire()  # held at the fork, as by a thread in the middle of handle
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    sink.handle(started_event("child"))
    sink.handle(completed_event("child"))
    sink.handle(usage_event("child"))
    sink.close(1)
    names = [s.attributes["aievents.request_id"] for s in sdk.spans]
    os.write(write, json.dumps(names).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as pipe:
    child = json.loads(pipe.read())
os.waitpid(pid, 0)
sink._lock.release()
parent_open = sink.open_spans
sink.close(1)
print(json.dumps({{"child": child, "parent_open": parent_open,
                  "parent": [s.attributes["aievents.request_id"] for s in sdk.spans]}}))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork only")
class TestFork:
    """A forked child forgets the parent's open spans: the parent ends them, once."""

    def test_child_exports_no_copy(self) -> None:
        """The child's close ends only its own spans; the parent still ends its in-flight one."""
        out = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(FORK.format(tests=str(TESTS)))],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        found = json.loads(out)
        assert found == {"child": ["child"], "parent_open": 1, "parent": ["in-flight"]}


class Stuck(SpanProcessor):
    """A processor whose exporter never answers: force_flush spends all the time it is given."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        threading.Event().wait(timeout_millis / 1000)
        return False


class Meters(MeterProvider):
    """A meter provider that keeps the time each force_flush was given."""

    given: list[float]

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        self.given.append(timeout_millis)
        return super().force_flush(timeout_millis)


class TestFlushDeadline:
    """flush(timeout) is one budget for both providers, not one each."""

    @pytest.mark.parametrize("method", ["flush", "close"])
    def test_one_budget(self, method: str) -> None:
        """The tracer provider spends the budget: the meter provider gets what is left."""
        tracers = TracerProvider()
        tracers.add_span_processor(Stuck())
        meters = Meters(metric_readers=[InMemoryMetricReader()])
        meters.given = []
        sink = OtelSink(tracers, meters)
        assert getattr(sink, method)(0.05) is False
        (given,) = meters.given
        assert given < 50
        meters.shutdown()
