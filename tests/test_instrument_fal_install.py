"""instrument_fal: installing, undoing, many calls at once, the SDK untouched, the extra."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import fal_client
import pytest
from fal_client import client as sdk

import fal_calls
from aievents.instrument import fal as fal_instrumentation
from aievents.instrument import image_request
from aievents.instrument.fal import instrument_fal, is_instrumented, uninstrument_fal
from aievents.testing import capture_events
from aievents.usage import Billed
from fal_calls import SEQUENCE, Served, close, close_async, names, point

#: The fixtures, from fal_calls.
served = fal_calls.served_fixture

#: Every attribute instrument_fal replaces: (owner, name).
PATCHED = [
    *((cls, name) for cls in (sdk.SyncClient, sdk.AsyncClient) for name in ("run", "submit")),
    *((fal_client, name) for name in ("run", "submit", "run_async", "submit_async")),
    *(
        (cls, name)
        for cls in (sdk.SyncRequestHandle, sdk.AsyncRequestHandle)
        for name in ("get", "status", "cancel")
    ),
    (sdk, "_maybe_retry_request"),
    (sdk, "_async_maybe_retry_request"),
]


@pytest.fixture(name="pointed", autouse=True)
def _pointed(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from point(served, monkeypatch, instrumented=False)


def _run() -> Any:
    return fal_client.run("fal-ai/flux/dev", {"prompt": "a fox"})


class TestInstall:
    """Instrumenting is idempotent and undoable; it covers clients made before and after."""

    def test_undo_restores_the_sdk(self) -> None:
        """uninstrument_fal puts back every original; later calls emit nothing."""
        before = [vars(owner)[name] for owner, name in PATCHED]
        assert not is_instrumented()
        instrument_fal()
        assert is_instrumented()
        assert all(
            vars(owner)[name] is not was for (owner, name), was in zip(PATCHED, before, strict=True)
        )
        uninstrument_fal()
        assert not is_instrumented()
        assert [vars(owner)[name] for owner, name in PATCHED] == before
        with capture_events() as events:
            _run()
        assert events == []
        uninstrument_fal()  # harmless when not instrumented

    def test_idempotent(self) -> None:
        """Twice is once (the second call's settings apply); racing calls install once."""
        threads = [threading.Thread(target=instrument_fal) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        instrument_fal(capture_prompts=True)
        try:
            with capture_events() as events:
                _run()
        finally:
            uninstrument_fal()
        assert names(events) == SEQUENCE
        assert events[0].prompt == "a fox"  # type: ignore[attr-defined]

    def test_clients_before_and_after(self) -> None:
        """A SyncClient made before instrumenting and one made after are both reported."""
        before = fal_client.SyncClient()
        instrument_fal()
        after = fal_client.SyncClient()
        try:
            with capture_events() as events:
                for client in (before, after):
                    client.run("fal-ai/flux/dev", {"prompt": "a fox"})
                    close(client)
        finally:
            uninstrument_fal()
        assert names(events) == SEQUENCE * 2

    def test_someone_wrapped_ours(self) -> None:
        """A wrapper put over ours stays after undo; ours then passes calls through."""
        instrument_fal()
        ours = fal_client.run

        def theirs(*args: Any, **kwargs: Any) -> Any:
            return ours(*args, **kwargs)

        fal_client.run = theirs
        try:
            uninstrument_fal()
            assert fal_client.run is theirs
            with capture_events() as events:
                _run()
            assert events == []
        finally:
            fal_client.run = fal_client.sync_client.run

    def test_outer_request_reports_once(self) -> None:
        """Inside an ``image_request`` block the block reports; the fal call passes through."""
        instrument_fal()
        try:
            with (
                capture_events() as events,
                image_request(provider="fal", model="fal-ai/flux/dev") as request,
            ):
                request.record(_run())
        finally:
            uninstrument_fal()
        assert names(events) == SEQUENCE


class TestUntouched:
    """What the SDK returns and raises reaches the caller unchanged."""

    def test_same_values(self, served: Served) -> None:
        """The result dict and the handle are the SDK's own; its error too."""
        bare = _run()
        instrument_fal()
        try:
            reported = _run()
            handle = fal_client.submit("fal-ai/flux/dev", {"prompt": "a fox"})
            served.server.fail_next(422, "nope")
            with pytest.raises(fal_client.FalClientHTTPError) as raised:
                _run()
            handle.get()
        finally:
            uninstrument_fal()
        assert type(reported) is dict
        assert reported.keys() == bare.keys()
        assert type(handle) is fal_client.SyncRequestHandle
        assert raised.value.status_code == 422
        assert fal_client.run.__name__ == "run"


class TestConcurrent:
    """Calls at once, in threads or tasks: each reported once, with its own id and billing."""

    def test_threads(self) -> None:
        """Eight threads, run and subscribe, each asking its own number of images."""
        instrument_fal()
        results: dict[int, Any] = {}

        def call(index: int) -> None:
            send = fal_client.run if index % 2 else fal_client.subscribe
            results[index] = send("fal-ai/flux/dev", _asking(index))

        try:
            with capture_events() as events:
                calls = [threading.Thread(target=call, args=(index,)) for index in range(8)]
                for thread in calls:
                    thread.start()
                for thread in calls:
                    thread.join()
        finally:
            uninstrument_fal()
        _each_its_own(events, results)

    def test_tasks(self) -> None:
        """Six tasks on one AsyncClient, run and subscribe, each asking its own number of images."""
        instrument_fal()

        async def go() -> dict[int, Any]:
            client = fal_client.AsyncClient()
            try:
                answers = await asyncio.gather(
                    *(
                        (client.run if index % 2 else client.subscribe)(
                            "fal-ai/flux/dev", _asking(index)
                        )
                        for index in range(6)
                    )
                )
            finally:
                await close_async(client)
            return dict(enumerate(answers))

        try:
            with capture_events() as events:
                results = asyncio.run(go())
        finally:
            uninstrument_fal()
        _each_its_own(events, results)


def _asking(index: int) -> dict[str, Any]:
    """Call ``index``'s arguments: 1 to 4 square_hd images (fal bills one unit each)."""
    return {"prompt": f"fox {index}", "image_size": "square_hd", "num_images": 1 + index % 4}


def _each_its_own(events: list[Any], results: dict[int, Any]) -> None:
    """Each call's events: its own request id (the one in its images' URLs), images and units."""
    assert len(events) == 3 * len(results)
    for index, result in results.items():
        asked = 1 + index % 4
        assert len(result["images"]) == asked
        # The local server names each image after the request: .../{request_id}_{n}.png
        request_id = result["images"][0]["url"].rsplit("/", 1)[1].rsplit("_", 1)[0]
        own = [event for event in events if event.request_id == request_id]
        assert names(own) == SEQUENCE
        usage = own[-1]
        assert usage.images == asked
        # square_hd is one fal megapixel: one billed unit per image.
        assert usage.usage.billed == Billed(asked, "units")


class TestExtra:
    """The fal extra is imported only when used, and named when missing."""

    def test_light(self) -> None:
        """``import aievents.instrument`` (and its fal module) does not load fal_client."""
        code = (
            "import sys, aievents, aievents.instrument, aievents.instrument.fal;"
            " print('fal_client' in sys.modules)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], check=False, capture_output=True, text=True
        )
        assert done.stdout.strip() == "False", done.stderr

    def test_missing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without fal-client, instrument_fal raises ImportError naming the extra."""
        monkeypatch.setitem(sys.modules, "fal_client", None)
        with pytest.raises(ImportError) as raised:
            instrument_fal()
        assert "instrument_fal needs the 'fal' extra: pip install" in str(raised.value)
        assert "[fal]'" in str(raised.value)
        assert not is_instrumented()

    def test_asked_through_the_package(self) -> None:
        """``aievents.instrument.is_instrumented`` of a fal client or module asks fal's."""
        from aievents.instrument import is_instrumented as asked

        client = fal_client.SyncClient()
        assert not asked(client)
        assert not asked(fal_client)
        instrument_fal()
        try:
            assert asked(client)
            assert asked(fal_client.AsyncClient())
            assert asked(fal_client)
        finally:
            uninstrument_fal()

    def test_lazy_export(self) -> None:
        """``aievents.instrument`` exports instrument_fal and uninstrument_fal lazily."""
        from aievents import instrument

        assert instrument.instrument_fal is fal_instrumentation.instrument_fal
        assert instrument.uninstrument_fal is fal_instrumentation.uninstrument_fal
