"""instrument_google_genai process-wide and per client: every client, each call once, undone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import models

import aievents
from aievents.instrument import google as google_instrumentation
from aievents.instrument import instrument_google_genai, uninstrument_google_genai
from aievents.instrument.google import is_instrumented
from aievents.testing import ImageServer, capture_events
from google_calls import SEQUENCE, WAYS, Gemini, make_client, names, one_request

#: The SDK's own methods, before anything wraps them.
ORIGINAL = {
    (cls, name): vars(cls)[name]
    for cls in (models.Models, models.AsyncModels)
    for name in ("generate_content", "generate_content_stream")
}


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="process_wide")
def _process_wide() -> Iterator[None]:
    instrument_google_genai()
    try:
        yield
    finally:
        uninstrument_google_genai()


def untouched() -> bool:
    """Whether the SDK's classes hold their own methods again."""
    return all(vars(cls)[name] is method for (cls, name), method in ORIGINAL.items())


def library_factory(server: ImageServer) -> genai.Client:
    """A client made inside another library's code, as LiteLLM or LangChain would."""
    return make_client(server)


def dump(result: Any) -> Any:
    """What a call returned, without what differs from one request to the next."""
    chunks = result if isinstance(result, list) else [result]
    skip = {"sdk_http_response", "response_id"}
    return [type(chunk).__name__ for chunk in chunks], [
        chunk.model_dump(exclude=skip) for chunk in chunks
    ]


class TestProcessWide:
    """No argument: every client's calls, made before or after, sync and aio."""

    @pytest.mark.usefixtures("process_wide")
    @pytest.mark.parametrize("way", WAYS, ids=repr)
    def test_client_made_after(self, way: Gemini, server: ImageServer) -> None:
        """A client made later inside a factory function reports its calls."""
        with capture_events() as events:
            result = way.call(library_factory(server), model="gemini-2.5-flash-image", contents="x")
        assert names(events) == SEQUENCE
        assert {one_request(events)} == way.response_ids(result)

    def test_client_made_before(self, server: ImageServer) -> None:
        """A client made before instrumenting reports too; undone, it reports nothing."""
        client = make_client(server)
        instrument_google_genai()
        try:
            assert is_instrumented()
            assert is_instrumented(client)
            with capture_events() as events:
                client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
            assert names(events) == SEQUENCE
        finally:
            uninstrument_google_genai()
        assert not is_instrumented()
        assert not is_instrumented(client)
        assert untouched()
        with capture_events() as events:
            client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
        assert events == []

    def test_idempotent(self, server: ImageServer) -> None:
        """Twice is once; the second call's settings apply."""
        target = aievents.EventClient()
        client = make_client(server)
        instrument_google_genai()
        instrument_google_genai(events=target)
        try:
            with capture_events(target) as events:
                client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
            assert names(events) == SEQUENCE
        finally:
            uninstrument_google_genai()
        assert untouched()

    @pytest.mark.usefixtures("process_wide")
    def test_threads(self, server: ImageServer) -> None:
        """16 threads calling at once: every call reported once, none lost."""
        client = make_client(server)
        barrier = threading.Barrier(16)
        ids: list[str] = []

        def call() -> None:
            barrier.wait()
            ids.append(
                client.models.generate_content(
                    model="gemini-2.5-flash-image", contents="x"
                ).response_id
            )

        with capture_events() as events:
            threads = [threading.Thread(target=call) for _ in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        completed = [e.request_id for e in events if e.event_type == "image:request:completed"]
        assert sorted(completed) == sorted(ids)
        assert len(set(ids)) == 16
        assert len(events) == 48


class TestPerClient:
    """A client: only its calls; the same guarantees."""

    def test_only_that_client(self, server: ImageServer) -> None:
        """Another client is not reported."""
        ours = instrument_google_genai(make_client(server))
        other = make_client(server)
        assert is_instrumented(ours)
        assert not is_instrumented(other)
        assert not is_instrumented()
        with capture_events() as events:
            other.models.generate_content(model="gemini-2.5-flash-image", contents="x")
            ours.models.generate_content(model="gemini-2.5-flash-image", contents="x")
        assert names(events) == SEQUENCE

    def test_chats(self, server: ImageServer) -> None:
        """A chat's messages go through the client's models: reported."""
        client = instrument_google_genai(make_client(server))
        chat = client.chats.create(model="gemini-2.5-flash-image")
        with capture_events() as events:
            answer = chat.send_message("a fox")
        assert names(events) == SEQUENCE
        assert one_request(events) == answer.response_id

    def test_uninstrument_leaves_no_wrapper(self, server: ImageServer) -> None:
        """Undone, the client's resources hold nothing of ours."""
        client = make_client(server)
        before = (dict(vars(client.models)), dict(vars(client.aio.models)))
        instrument_google_genai(client)
        instrument_google_genai(client)  # twice is once
        assert uninstrument_google_genai(client) is client
        assert (dict(vars(client.models)), dict(vars(client.aio.models))) == before
        assert not is_instrumented(client)
        assert untouched()

    def test_someone_wrapped_ours(self, server: ImageServer) -> None:
        """Wrapped again since: their wrapper stays, ours reports nothing."""
        client = instrument_google_genai(make_client(server))
        ours = client.models.generate_content

        def theirs(**kwargs: Any) -> Any:
            return ours(**kwargs)

        client.models.generate_content = theirs
        uninstrument_google_genai(client)
        with capture_events() as events:
            client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
        assert events == []

    def test_not_a_client(self) -> None:
        """Anything but a genai.Client is refused."""
        with pytest.raises(TypeError, match=r"needs a genai\.Client"):
            instrument_google_genai(object())


class TestNeverDouble:
    """Per client and process-wide together: each call reported once, in either order."""

    @pytest.mark.parametrize("way", WAYS, ids=repr)
    @pytest.mark.parametrize("order", ["client first", "process first"])
    def test_both(self, way: Gemini, order: str, server: ImageServer) -> None:
        """One sequence, one request id."""
        client = make_client(server)
        if order == "client first":
            instrument_google_genai(client)
            instrument_google_genai()
        else:
            instrument_google_genai()
            instrument_google_genai(client)
        try:
            with capture_events() as events:
                result = way.call(client, model="gemini-2.5-flash-image", contents="x")
        finally:
            uninstrument_google_genai(client)
            uninstrument_google_genai()
        assert names(events) == SEQUENCE
        assert {one_request(events)} == way.response_ids(result)
        assert untouched()


class TestUntouched:
    """What the SDK returns is what an uninstrumented client returns."""

    @pytest.mark.parametrize("way", WAYS, ids=repr)
    def test_same_values(self, way: Gemini, server: ImageServer) -> None:
        """The same answer, chunk for chunk, of the same types."""
        plain = way.call(make_client(server), model="gemini-2.5-flash-image", contents="x")
        client = instrument_google_genai(make_client(server))
        with capture_events() as events:
            seen = way.call(client, model="gemini-2.5-flash-image", contents="x")
        assert names(events) == SEQUENCE
        assert dump(seen) == dump(plain)

    def test_stream_is_an_iterator(self, server: ImageServer) -> None:
        """The stream is iterated as the SDK's (a generator; async: an async generator)."""
        client = instrument_google_genai(make_client(server))
        stream = client.models.generate_content_stream(model="gemini-2.5-flash-image", contents="x")
        assert iter(stream) is stream
        with capture_events():
            assert len(list(stream)) == 2

        async def go() -> int:
            try:
                aio = await client.aio.models.generate_content_stream(
                    model="gemini-2.5-flash-image", contents="x"
                )
                assert aio.__aiter__() is aio
                return len([chunk async for chunk in aio])
            finally:
                await client.aio.aclose()

        with capture_events():
            assert asyncio.run(go()) == 2

    def test_lazy_export(self) -> None:
        """The package's names are the module's."""
        assert instrument_google_genai is google_instrumentation.instrument_google_genai


class TestLight:
    """Importing the instrumentation loads google-genai only when it is used."""

    def test_import(self) -> None:
        """``import aievents.instrument`` (and its google module) leaves google-genai unloaded."""
        code = (
            "import sys, aievents.instrument, aievents.instrument.google\n"
            "print(sorted(m for m in sys.modules if m.startswith('google')))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert result.stdout.strip() == "[]"
