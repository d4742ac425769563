"""instrument_litellm: registered once, undone, and one report per call with openai instrumented."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import litellm
import pytest

from aievents import EventClient
from aievents.instrument import image_request, instrument_openai, uninstrument_openai
from aievents.instrument.litellm import CALLBACK_LISTS
from aievents.integrations.litellm import (
    AieventsLogger,
    instrument_litellm,
    is_instrumented,
    uninstrument_litellm,
)
from aievents.testing import ImageServer
from litellm_calls import Received, Witness, agenerate, forget, generate, types
from test_instrument_openai import SEQUENCE


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(name="clean", autouse=True)
def _clean() -> Iterator[None]:
    """Nothing instrumented after each test."""
    yield
    uninstrument_openai()
    for name in CALLBACK_LISTS:
        for item in list(getattr(litellm, name)):
            if isinstance(item, (AieventsLogger, Witness)):
                forget(item)
    uninstrument_litellm()


def steps(client: EventClient, litellm_first: bool) -> list[Callable[[], Any]]:
    both = [lambda: instrument_litellm(events=client), lambda: instrument_openai(events=client)]
    return both if litellm_first else both[::-1]


class TestOneReport:
    """With the openai SDK instrumented too, a LiteLLM call is reported once, by the logger."""

    @pytest.mark.parametrize("litellm_first", [True, False], ids=["litellm-first", "openai-first"])
    def test_sync(self, server: ImageServer, client: EventClient, litellm_first: bool) -> None:
        received = Received(client)
        for step in steps(client, litellm_first):
            step()
        generate(server)
        events = received.wait()
        assert types(events) == SEQUENCE
        # The logger's report: the provider LiteLLM routed to, its call id beside.
        assert {(e.provider, e.correlation_id is not None) for e in events} == {("openai", True)}

    @pytest.mark.parametrize("litellm_first", [True, False], ids=["litellm-first", "openai-first"])
    def test_async(self, server: ImageServer, client: EventClient, litellm_first: bool) -> None:
        received = Received(client)
        for step in steps(client, litellm_first):
            step()

        async def call() -> list[Any]:
            await agenerate(server)
            return await asyncio.to_thread(received.wait)

        events = asyncio.run(call())
        assert types(events) == SEQUENCE
        assert {e.provider for e in events} == {"openai"}

    def test_registered_by_hand(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_openai(events=client)
        litellm.callbacks.append(AieventsLogger(events=client))
        assert is_instrumented()
        generate(server)
        events = received.wait()
        assert types(events) == SEQUENCE
        assert {e.provider for e in events} == {"openai"}

    @pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's, for variations
    def test_variation_left_to_openai(self, server: ImageServer, client: EventClient) -> None:
        """LiteLLM logs image_variation without its facts: the openai wrapper reports it."""
        received = Received(client)
        instrument_litellm(events=client)
        instrument_openai(events=client)
        litellm.image_variation(
            model="openai/dall-e-2", image=b"\x89PNG fake", api_base=server.base_url, api_key="k"
        )
        events = received.wait()
        assert types(events) == SEQUENCE
        assert {(e.operation, e.provider, e.correlation_id) for e in events} == {
            ("image.variation", "127.0.0.1", None)
        }

    def test_outer_request_keeps_it(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        instrument_openai(events=client)
        witness = Witness()
        litellm.callbacks.append(witness)
        with image_request(provider="gateway", model="gpt-image-1", client=client):
            generate(server)
        witness.wait()  # our callback ran before the witness, and left the call alone
        assert types(received.events) == SEQUENCE
        assert {e.provider for e in received.events} == {"gateway"}


class TestUndo:
    """Either side undone, the other reports the call, once."""

    def test_litellm_undone(self, server: ImageServer, client: EventClient) -> None:
        original = litellm.image_generation
        received = Received(client)
        instrument_openai(events=client)
        instrument_litellm(events=client)
        assert litellm.image_generation is not original
        uninstrument_litellm()
        assert litellm.image_generation is original
        assert not is_instrumented()
        witness = Witness()
        litellm.callbacks.append(witness)
        try:
            generate(server)
            # LiteLLM's logging of the call is over: it cannot reach a logger registered later.
            witness.wait()
        finally:
            forget(witness)
        events = received.wait()
        assert types(events) == SEQUENCE
        # The openai wrapper's report: the client's host, no LiteLLM call id.
        assert {(e.provider, e.correlation_id) for e in events} == {("127.0.0.1", None)}

    def test_openai_undone(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        instrument_openai(events=client)
        uninstrument_openai()
        generate(server)
        events = received.wait()
        assert types(events) == SEQUENCE
        assert {e.provider for e in events} == {"openai"}

    def test_twice_is_once(self, client: EventClient) -> None:
        first = instrument_litellm(events=client)
        second = instrument_litellm(events=client, capture_prompts=True)
        assert first is second
        assert second.settings.capture_prompts
        assert [item for item in litellm.callbacks if item is first] == [first]
        uninstrument_litellm()
        uninstrument_litellm()  # harmless
        assert not any(item is first for name in CALLBACK_LISTS for item in getattr(litellm, name))

    def test_hand_registered_keeps_claims(self, client: EventClient) -> None:
        original = litellm.image_generation
        litellm.callbacks.append(AieventsLogger(events=client))
        instrument_litellm(events=client)
        uninstrument_litellm()
        assert is_instrumented()  # the one registered by hand
        assert litellm.image_generation is not original


class TestLateLogging:
    """LiteLLM logs a call after it returned: a logger registered meanwhile does not report it."""

    def test_call_before_the_logger(self, server: ImageServer, client: EventClient) -> None:
        from litellm.litellm_core_utils.thread_pool_executor import MAX_THREADS, executor

        received = Received(client)
        instrument_openai(events=client)  # reports the first call: LiteLLM is not instrumented
        release = threading.Event()
        busy = threading.Barrier(MAX_THREADS + 1)

        def hold() -> None:
            busy.wait()
            release.wait()

        holders = [executor.submit(hold) for _ in range(MAX_THREADS)]
        try:
            busy.wait()  # every logging thread of LiteLLM is taken: the calls' logging waits
            generate(server)
            assert types(received.wait()) == SEQUENCE
            instrument_litellm(events=client)
            witness = Witness()
            litellm.callbacks.append(witness)
            generate(server)  # registers the logger where the first call's logging reads it
            assert types(received.wait(2)) == SEQUENCE * 2
        finally:
            release.set()
        for holder in holders:
            holder.result()
        witness.wait(2)  # both calls were logged, the logger registered
        events = received.wait(2)
        assert types(events) == SEQUENCE * 2  # each call once
        assert [(e.provider, e.correlation_id is None) for e in events] == [
            ("127.0.0.1", True)
        ] * 3 + [("openai", False)] * 3


class TestConcurrency:
    """Calls from many threads at once: each reported once, with its own id."""

    def test_threads(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        instrument_openai(events=client)
        start = threading.Barrier(4)

        def call() -> None:
            start.wait()
            generate(server)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        events = received.wait(4)
        ids = [e.request_id for e in events if e.event_type == "image:usage"]
        assert len(ids) == len(set(ids)) == 4
        assert len(events) == 12

    def test_tasks(self, server: ImageServer, client: EventClient) -> None:
        received = Received(client)
        instrument_litellm(events=client)
        instrument_openai(events=client)

        async def calls() -> list[Any]:
            await asyncio.gather(*(agenerate(server) for _ in range(3)))
            return await asyncio.to_thread(received.wait, 3)

        events = asyncio.run(calls())
        ids = [e.request_id for e in events if e.event_type == "image:usage"]
        assert len(ids) == len(set(ids)) == 3
        assert len(events) == 9


class TestImport:
    """LiteLLM loads only with the integration; without it, the error names the extra."""

    def test_light(self) -> None:
        code = (
            "import sys, aievents, aievents.instrument, aievents.integrations\n"
            "assert 'litellm' not in sys.modules, 'litellm loaded'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_missing_extra(self) -> None:
        code = (
            "import sys\n"
            "sys.modules['litellm'] = None\n"
            "try:\n"
            "    from aievents.integrations import AieventsLogger\n"
            "except ImportError as error:\n"
            "    print(error)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
        assert "aievents.integrations.litellm needs the 'litellm' extra" in done.stdout
        assert "[litellm]" in done.stdout
