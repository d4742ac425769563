"""Answers collected unread, or still unread when the process ends: reported on a normal path.

The garbage collector may finalize a response on a thread that holds a
sink's lock: nothing is emitted there, the request is reported at the next
instrumented call, flush, close, or at exit, before the sinks drain. Real
subprocesses, the real openai SDK against the local image server.
"""

from __future__ import annotations

import gc
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from aievents import EventClient, ImageUsageEvent
from aievents.instrument import instrument_openai
from aievents.sinks import AggregateSink
from aievents.testing import CapturingSink, ImageServer
from children import run_child

SEQUENCE = ["image:request:started", "image:request:completed", "image:usage"]

#: A child that lets the collector finalize unread answers while it holds the
#: AggregateSink's lock (as when the collector runs at an allocation inside
#: the sink): an unread body, and a stream read in part, both in a cycle.
IN_THE_COLLECTOR = """
import gc, sys, openai
from aievents import EventClient
from aievents.sinks import AggregateSink
from aievents.testing import ImageServer
from aievents.instrument import instrument_openai

events = EventClient()
sink = AggregateSink()
events.add_sink(sink)
seen = []
events.on_all(lambda event: seen.append(event.event_type))
with ImageServer() as server:
    client = instrument_openai(
        openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0),
        events=events,
    )
    response = client.images.with_streaming_response.generate(
        model="dall-e-3", prompt="x"
    ).__enter__()
    stream = client.images.generate(
        model="gpt-image-1", prompt="x", stream=True, partial_images=1
    )
    next(stream)  # read in part
    cycle = {{"response": response, "stream": stream}}
    cycle["self"] = cycle
    del response, stream, cycle
    before = list(seen)
    with sink._table.lock:
        gc.collect()
    print("collected", before == seen, flush=True)
    events.flush()
    print(",".join(seen), flush=True)
"""

#: A child that ends with answers never read: kept, dropped in a cycle and
#: collected, and a stream never read; its events go to a JSONL file.
AT_EXIT = """
import gc, sys, openai
from aievents import get_client
from aievents.testing import ImageServer
from aievents.instrument import instrument_openai
from aievents.sinks import ForwardSink
from aievents.transports.jsonl import JsonlTransport

server = ImageServer().__enter__()
client = instrument_openai(
    openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
)
get_client().add_sink(ForwardSink(JsonlTransport({path!r})))
client.images.generate(model="dall-e-3", prompt="plain")
kept = client.images.with_streaming_response.generate(
    model="dall-e-3", prompt="kept", n=2
).__enter__()
dropped = client.images.with_streaming_response.generate(
    model="dall-e-2", prompt="dropped"
).__enter__()
cycle = [dropped]
cycle.append(cycle)
del dropped, cycle
gc.collect()
stream = client.images.generate(model="gpt-image-1", prompt="x", stream=True)
print("exiting", flush=True)
"""

#: A child whose sink is made after its answer was left unread: the sinks'
#: exit hook, registered last, runs first, and still gets the request.
SINK_MADE_LATE = """
import openai
from aievents import get_client
from aievents.testing import ImageServer
from aievents.instrument import instrument_openai
from aievents.sinks import ForwardSink
from aievents.transports.jsonl import JsonlTransport

server = ImageServer().__enter__()
client = instrument_openai(
    openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
)
kept = client.images.with_streaming_response.generate(
    model="dall-e-3", prompt="kept", n=3
).__enter__()
get_client().add_sink(ForwardSink(JsonlTransport({path!r})))
print("exiting", flush=True)
"""

#: A multiprocessing child (it ends with os._exit: no atexit hook runs) that
#: leaves an answer unread; the JSONL sink it inherited drains it.
IN_A_CHILD = """
import multiprocessing, openai
from aievents import get_client
from aievents.testing import ImageServer
from aievents.instrument import instrument_openai
from aievents.sinks import ForwardSink
from aievents.transports.jsonl import JsonlTransport

KEPT = []

def work(base_url):
    client = instrument_openai(
        openai.OpenAI(api_key="sk-test", base_url=base_url, max_retries=0)
    )
    KEPT.append(
        client.images.with_streaming_response.generate(
            model="dall-e-3", prompt="child", n=3
        ).__enter__()
    )

get_client().add_sink(ForwardSink(JsonlTransport({path!r})))
with ImageServer() as server:
    child = multiprocessing.get_context("fork").Process(target=work, args=(server.base_url,))
    child.start()
    child.join()
print("exiting", child.exitcode, flush=True)
"""


def by_request(path: Path) -> dict[str, list[str]]:
    """The event types in a JSONL file, by request id."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        found.setdefault(event["request_id"], []).append(event["type"])
    return found


class TestInsideTheCollector:
    """An answer finalized by the garbage collector emits nothing there: reported on flush."""

    def test_no_deadlock_on_a_sink_lock(self) -> None:
        """Collected while the sink's lock is held: no emit then; the flush reports both."""
        out, _ = run_child(IN_THE_COLLECTOR)
        collected, seen = out.splitlines()
        assert collected == "collected True"
        assert Counter(seen.split(",")) == Counter(
            {
                "image:request:started": 2,
                "image:request:completed": 2,  # the stream read in part counts too
                "image:usage": 2,
            }
        )


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


class TestReportedOnANormalPath:
    """Answers collected unread are reported by the next call, flush or close of the client."""

    def make(self, server: ImageServer, events: EventClient) -> openai.OpenAI:
        return instrument_openai(
            openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0),
            events=events,
        )

    def drop_unread(self, client: openai.OpenAI) -> None:
        """An unread body in a cycle, collected."""
        response = client.images.with_streaming_response.generate(
            model="dall-e-3", prompt="x"
        ).__enter__()
        cycle: list[Any] = [response]
        cycle.append(cycle)
        del response, cycle
        gc.collect()

    @pytest.mark.parametrize("by", ["call", "flush", "close"])
    def test_reported(self, server: ImageServer, by: str) -> None:
        """Nothing emitted by the collector; the request is on the books after the next step."""
        events = EventClient()
        sink = CapturingSink()
        events.add_sink(sink)
        client = self.make(server, events)
        self.drop_unread(client)
        assert sink.events == []
        if by == "call":
            client.images.generate(model="dall-e-2", prompt="next")
        else:
            getattr(events, by)()
        assert [e.event_type for e in sink.events][:3] == SEQUENCE
        usage = sink.events[2]
        assert isinstance(usage, ImageUsageEvent)
        assert usage.model == "dall-e-3"
        assert usage.images == 1
        client.close()

    def test_aggregated(self, server: ImageServer) -> None:
        """An AggregateSink counts the collected request once the client flushes."""
        events = EventClient()
        sink = AggregateSink()
        events.add_sink(sink)
        client = self.make(server, events)
        self.drop_unread(client)
        assert events.flush()
        page = sink.usage(start_time=int(time.time()) - 86400, bucket_width="1d")
        (bucket,) = [b for b in page.data if b.results]
        (result,) = bucket.results
        assert result.num_model_requests == 1
        assert result.images == 1
        client.close()


class TestAtExit:
    """Answers never read when the process ends reach the sinks before they drain."""

    def test_jsonl(self, tmp_path: Path) -> None:
        """Kept unread, collected unread, a stream never read: each on the books at exit."""
        path = tmp_path / "events.jsonl"
        out, err = run_child(AT_EXIT, path=str(path))
        assert out == "exiting\n"
        assert "events_dropped" not in err
        requests = by_request(path)
        assert len(requests) == 4
        assert all(types == SEQUENCE for types in requests.values()), requests
        usage = [json.loads(line) for line in path.read_text().splitlines()]
        images = sorted(e["images"] for e in usage if e["type"] == "image:usage")
        assert images == [1, 1, 1, 2]

    @pytest.mark.parametrize(
        ("script", "said"),
        [(SINK_MADE_LATE, "exiting\n"), (IN_A_CHILD, "exiting 0\n")],
        ids=["sink-made-late", "multiprocessing-child"],
    )
    def test_reported_before_the_drain(self, tmp_path: Path, script: str, said: str) -> None:
        """The sinks' exit drain reports what is unread itself, before it drains."""
        path = tmp_path / "events.jsonl"
        out, err = run_child(script, path=str(path))
        assert out == said, err
        (types,) = by_request(path).values()
        assert types == SEQUENCE
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        (usage,) = (e for e in lines if e["type"] == "image:usage")
        assert usage["images"] == 3
