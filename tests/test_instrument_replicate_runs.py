"""instrument_replicate: run's ``processing`` answers, image files only, what is held open."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import weakref
from decimal import Decimal
from typing import Any

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError
from replicate.helpers import FileOutput

from aievents import ImageRequestErrorEvent, ImageRequestStartedEvent
from aievents.adapters.replicate import read_prediction
from aievents.instrument import _replicate_call as replicate_call
from aievents.instrument import instrument_replicate
from aievents.instrument._replicate_call import open_count
from aievents.testing import ImageServer, capture_events
from aievents.testing._replicate import version_of
from aievents.usage import Billed
from replicate_calls import (  # noqa: F401 - the fixtures
    SEQUENCE,
    TOKEN,
    closing,
    instrumented_client,
    make_client,
    names,
    pid_of,
    replicate_server,
    usage_of,
)

D = Decimal
SCHNELL = "black-forest-labs/flux-schnell"
LLAMA = "meta/meta-llama-3-8b-instruct"
#: A model the instrumentation cannot tell makes images until its output shows it.
PAINTER = "acme/painter"


def run(client: replicate.Client, how: str, model: str, inputs: dict[str, Any]) -> Any:
    """``client.run`` or ``client.async_run`` of ``model``: its output."""
    if how == "run":
        return client.run(model, input=inputs)
    return asyncio.run(closing(client, client.async_run(model, input=inputs)))


class TestWaitAnswer:
    """ImageServer answers Prefer: wait as Replicate does: output there, status 'processing'."""

    def test_processing(self, server: ImageServer) -> None:
        """Asked to wait: processing, its files and metrics; scripted 'succeeded': finished."""
        url = f"{server.url}/v1/models/{SCHNELL}/predictions"
        headers = {"authorization": f"Bearer {TOKEN}", "prefer": "wait"}
        body = {"input": {"prompt": "x", "num_outputs": 2}}
        answer = httpx.post(url, json=body, headers=headers).json()
        assert answer["status"] == "processing"
        assert len(answer["output"]) == 2
        assert answer["metrics"]["predict_time"] == 1.0
        server.answer_next({"status": "succeeded"})
        assert httpx.post(url, json=body, headers=headers).json()["status"] == "succeeded"
        assert httpx.post(url, json=body).json()["status"] == "starting"  # not asked to wait


@pytest.mark.parametrize("how", ["run", "async_run"])
class TestRunProcessing:
    """run returns a 'processing' answer's output: reported as it returns, nothing held."""

    def test_completed_at_once(self, how: str, client: replicate.Client) -> None:
        """Three images, predict_time 0.5 + 3 x 0.25 = 1.25 s; 3 x $0.003 = $0.009."""
        held = open_count()
        with capture_events() as events:
            output = run(client, how, SCHNELL, {"prompt": "a fox", "num_outputs": 3})
        assert names(events) == SEQUENCE
        assert {event.request_id for event in events} == {pid_of(output)}
        assert usage_of(events).images == 3
        assert usage_of(events).usage.billed == Billed(D("1.25"), "seconds")
        assert usage_of(events).cost is not None
        assert usage_of(events).cost.total == D("0.009")
        assert open_count() == held

    def test_no_predict_time(self, how: str, server: ImageServer, client: replicate.Client) -> None:
        """No metrics in the answer: the images, nothing billed ($0.003 for the one image)."""
        server.answer_next({"metrics": {}})
        with capture_events() as events:
            run(client, how, SCHNELL, {"prompt": "a fox"})
        assert names(events) == SEQUENCE
        assert usage_of(events).images == 1
        assert usage_of(events).usage.billed is None
        assert usage_of(events).cost is not None
        assert usage_of(events).cost.total == D("0.003")

    def test_succeeded(self, how: str, server: ImageServer, client: replicate.Client) -> None:
        """An answer already 'succeeded' is reported once as well."""
        server.answer_next({"status": "succeeded"})
        with capture_events() as events:
            run(client, how, SCHNELL, {"prompt": "a fox", "num_outputs": 2})
        assert names(events) == SEQUENCE
        assert usage_of(events).images == 2

    def test_model_known_by_output(self, how: str, client: replicate.Client) -> None:
        """A model not known to make images: reported from the files run returned."""
        held = open_count()
        with capture_events() as events:
            run(client, how, PAINTER, {"prompt": "a fox"})
        assert names(events) == SEQUENCE
        assert {event.model for event in events} == {PAINTER}
        assert usage_of(events).images == 1
        assert open_count() == held

    def test_text_model(self, how: str, client: replicate.Client) -> None:
        """A text model's words: nothing emitted, nothing held."""
        held = open_count()
        with capture_events() as events:
            assert run(client, how, LLAMA, {"prompt": "hello there"}) == ["hello", "there"]
        assert events == []
        assert open_count() == held


@pytest.mark.parametrize("how", ["run", "async_run"])
class TestPinnedVersion:
    """``owner/name:version``: the create names only the version; the model is still known."""

    def test_http_error(self, how: str, server: ImageServer, client: replicate.Client) -> None:
        """A 429 of a pinned flux-schnell: started and error, the model's name, its status."""
        server.fail_next(429, "throttled")
        with capture_events() as events, pytest.raises(ReplicateError):
            run(client, how, f"{SCHNELL}:{version_of(SCHNELL)}", {"prompt": "x"})
        assert names(events) == ["image:request:started", "image:request:error"]
        assert {event.model for event in events} == {SCHNELL}
        error = events[1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == 429

    def test_completed(self, how: str, client: replicate.Client) -> None:
        """A pinned version's images: the model's name and the version."""
        with capture_events() as events:
            run(client, how, f"{SCHNELL}:{version_of(SCHNELL)}", {"num_outputs": 2})
        assert names(events) == SEQUENCE
        for event in events:
            assert event.model == SCHNELL
            assert event.model_options == {"version": version_of(SCHNELL)}
        assert usage_of(events).images == 2


class TestImageFilesOnly:
    """Only image files count: a video's or a sound's output is no image request."""

    @pytest.mark.parametrize(
        "output",
        [
            "https://replicate.delivery/xezq/abc/output.mp4",
            "https://replicate.delivery/xezq/abc/out.wav",
            ["https://replicate.delivery/a/1.mp4", "https://replicate.delivery/a/2.mp4"],
            {"transcription": "hi", "segments": []},
        ],
    )
    def test_not_images(self, output: Any, server: ImageServer, client: replicate.Client) -> None:
        """A video, a sound, a transcription: no events."""
        server.answer_next({"output": output})
        with capture_events() as events:
            run(client, "run", "minimax/video-01", {"prompt": "a cat"})
        assert events == []

    def test_mapping_output(self, server: ImageServer, client: replicate.Client) -> None:
        """``{"image": url, "mask": url}``: two images."""
        files = {"image": f"{server.url}/files/a/0.png", "mask": f"{server.url}/files/a/1.png"}
        server.answer_next({"output": files})
        with capture_events() as events:
            run(client, "run", PAINTER, {"prompt": "a cat"})
        assert names(events) == SEQUENCE
        assert usage_of(events).images == 2

    @pytest.mark.parametrize(
        ("output", "images"),
        [
            ("https://x.test/a/out.PNG?sig=1", 1),
            ("data:image/png;base64,AAAA", 1),
            ("data:video/mp4;base64,AAAA", None),
            ("https://x.test/a/out.mp4", None),
            ({"video": "https://x.test/v.mp4", "poster": "https://x.test/p.jpg"}, 1),
        ],
    )
    def test_reader(self, output: Any, images: int | None) -> None:
        """The reader: image extensions and data:image/ URIs, in a mapping too."""
        answer = read_prediction({"id": "p1", "status": "succeeded", "output": output})
        assert answer is not None
        assert answer.images == images

    def test_file_output(self, server: ImageServer) -> None:
        """run's FileOutput objects: counted by their URLs."""
        client = make_client(server)
        image = FileOutput(f"{server.url}/files/a/0.webp", client)
        video = FileOutput(f"{server.url}/files/a/0.mp4", client)
        answer = read_prediction([image, image])
        assert answer is not None
        assert answer.images == 2
        assert read_prediction(video) is None
        assert read_prediction([image, video]) is None


class TestCounts:
    """The count of images asked for, by any of its names."""

    @pytest.mark.parametrize("key", ["num_outputs", "num_images", "number_of_images"])
    def test_count(self, key: str, client: replicate.Client) -> None:
        """A count under any name: asked for images, its number in started."""
        with capture_events() as events:
            client.predictions.create(model=PAINTER, input={"prompt": "x", key: 2}).wait()
        assert names(events) == SEQUENCE
        started = events[0]
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.number_of_images == 2


class Input(dict[str, Any]):
    """A caller's input that can be watched for being let go of."""


class TestHeld:
    """What is held open: only image calls, and never their input."""

    def test_input_let_go(self, client: replicate.Client) -> None:
        """A prediction held open keeps no reference to the caller's input."""
        inputs = Input(prompt="x" * 100_000, num_outputs=1)
        watched = weakref.ref(inputs)
        held = open_count()
        made = client.predictions.create(model=SCHNELL, input=inputs)
        assert open_count() == held + 1
        del inputs
        gc.collect()
        assert watched() is None
        made.wait()
        assert open_count() == held

    def test_not_held(self, client: replicate.Client) -> None:
        """A text model's create, and a stream's (replicate.stream's), are not held."""
        held = open_count()
        with capture_events() as events:
            client.predictions.create(model=LLAMA, input={"prompt": "x"})
            client.predictions.create(model=SCHNELL, input={"prompt": "x"}, stream=True)
        assert events == []
        assert open_count() == held

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_fork(
        self, server: ImageServer, client: replicate.Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A forked child holds none of the parent's, and its limit still books the oldest."""
        monkeypatch.setattr(replicate_call.OPEN, "cap", 2)
        parent = client.predictions.create(model=SCHNELL, input={"prompt": "x"})
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                sizes = [open_count()]
                own = instrument_replicate(make_client(server))  # not the parent's connections
                for _ in range(5):
                    own.predictions.create(model=SCHNELL, input={"prompt": "x"})
                    sizes.append(open_count())
                os.write(write, json.dumps(sizes).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read) as pipe:
            sizes = json.loads(pipe.read())
        assert os.WEXITSTATUS(status) == 0
        assert sizes == [0, 1, 2, 2, 2, 2]
        with capture_events() as events:
            parent.wait()  # still the parent's to report
        assert names(events) == SEQUENCE[1:]


class TestUndoneWhileHeld:
    """A prediction announced, then the instrumentation undone: it still ends on the books."""

    def test_booked_at_exit(self, server: ImageServer) -> None:
        """Started at create, undone, waited on: completed with the images asked for at exit."""
        code = (
            "import json, replicate, aievents\n"
            "from aievents.instrument import instrument_replicate, uninstrument_replicate\n"
            "aievents.on('*', lambda e: print(json.dumps([e.event_type,"
            " getattr(e, 'images', None)]), flush=True))\n"
            f"c = replicate.Client(api_token='r8_x', base_url={server.url!r})\n"
            "c.poll_interval = 0\n"
            "instrument_replicate(c)\n"
            f"p = c.predictions.create(model={SCHNELL!r}, input={{'num_outputs': 4}})\n"
            "uninstrument_replicate(c)\n"
            "p.wait()\n"
            "print(json.dumps(['waited', len(p.output)]), flush=True)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert lines == [
            ["image:request:started", None],
            ["waited", 4],
            ["image:request:completed", 4],
            ["image:usage", 4],
        ]
