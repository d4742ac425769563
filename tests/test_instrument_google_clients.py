"""instrument_google_genai from threads at once; which clients it takes, which it refuses."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google import genai
from google.genai import types

import aievents.instrument
from aievents.instrument import google as google_instrumentation
from aievents.instrument import instrument_google_genai, uninstrument_google_genai
from aievents.testing import ImageServer, capture_events
from google_calls import SEQUENCE, make_client, names
from test_instrument_google_install import ORIGINAL, untouched


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="switching")
def _switching() -> Iterator[None]:
    """Threads switch as often as the interpreter allows, so that a race shows."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def at_once(step: Callable[[], Any], count: int = 8) -> None:
    """``step`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            step()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def depth(method: Any) -> int:
    """How many wrappers (``__wrapped__``) stand before the SDK's method."""
    found = 0
    while hasattr(method, "__wrapped__"):
        method = method.__wrapped__
        found += 1
    return found


@pytest.mark.usefixtures("switching")
class TestConcurrentInstrumenting:
    """8 threads instrumenting at once wrap once; undoing leaves no wrapper."""

    def test_process_wide(self, server: ImageServer) -> None:
        """The SDK's classes: one wrapper each, one report a call, the SDK's own after undo."""
        try:
            at_once(instrument_google_genai)
            for (cls, name), method in ORIGINAL.items():
                assert depth(vars(cls)[name]) == 1
                assert vars(cls)[name].__wrapped__ is method
            client = make_client(server)
            with capture_events() as events:
                client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
            assert names(events) == SEQUENCE
        finally:
            at_once(uninstrument_google_genai)
        assert untouched()

    def test_one_client(self, server: ImageServer) -> None:
        """One client: one wrapper on its models, none left after undo."""
        client = make_client(server)
        at_once(lambda: instrument_google_genai(client))
        for resource in (client.models, client.aio.models):
            assert depth(vars(resource)["generate_content"]) == 1
        at_once(lambda: uninstrument_google_genai(client))
        for resource in (client.models, client.aio.models):
            assert "generate_content" not in vars(resource)
            assert "generate_content_stream" not in vars(resource)
        assert not google_instrumentation.is_instrumented(client)


class MyClient(genai.Client):
    """A subclass of the SDK's client, defined outside google-genai."""


class TestWhichClient:
    """Clients told by their class: subclasses taken, ``client.aio`` refused everywhere alike."""

    def test_subclass(self, server: ImageServer) -> None:
        """A subclass of ``genai.Client`` is google-genai's, to every function."""
        client = MyClient(api_key="test", http_options=types.HttpOptions(base_url=server.url))
        assert not aievents.instrument.is_instrumented(client)
        instrument_google_genai(client)
        assert aievents.instrument.is_instrumented(client)
        uninstrument_google_genai(client)
        assert not aievents.instrument.is_instrumented(client)

    @pytest.mark.parametrize(
        "function",
        [
            instrument_google_genai,
            uninstrument_google_genai,
            google_instrumentation.is_instrumented,
            aievents.instrument.is_instrumented,
        ],
        ids=lambda function: f"{function.__module__}.{function.__name__}",
    )
    def test_aio_refused(self, function: Callable[[Any], Any], server: ImageServer) -> None:
        """``client.aio`` does not know its client: a clear TypeError, nothing done."""
        client = make_client(server)
        with pytest.raises(TypeError, match=r"genai\.Client, not its client\.aio"):
            function(client.aio)
        assert "generate_content" not in vars(client.aio.models)
