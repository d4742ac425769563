"""instrument_replicate: the real replicate SDK against ImageServer's Replicate endpoints."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import replicate
from replicate.exceptions import ModelError, ReplicateError

from aievents import ImageRequestCompletedEvent, ImageRequestErrorEvent, ImageRequestStartedEvent
from aievents.instrument import instrument_replicate, uninstrument_replicate
from aievents.testing import ImageServer, capture_events
from aievents.testing._replicate import version_of
from aievents.usage import Billed
from replicate_calls import (  # noqa: F401 - the fixtures
    PRICES,
    SEQUENCE,
    WAYS,
    Way,
    closing,
    cost,
    instrumented_client,
    make_client,
    names,
    replicate_server,
    usage_of,
)

D = Decimal
SCHNELL = "black-forest-labs/flux-schnell"
LLAMA = "meta/meta-llama-3-8b-instruct"


@pytest.fixture(name="way", params=WAYS, ids=repr)
def _way(request: pytest.FixtureRequest) -> Way:
    return request.param  # type: ignore[no-any-return]


class TestImages:
    """A prediction of an image model: started, completed, usage; its id; the cost by hand."""

    def test_flux_schnell(self, way: Way, client: replicate.Client) -> None:
        """Two images of flux-schnell: $0.003 each; predict_time 1.0 s billed."""
        inputs = {"prompt": "a fox", "num_outputs": 2}
        with capture_events() as events:
            pid = way.call(client, SCHNELL, inputs)
        assert names(events) == SEQUENCE
        assert {event.request_id for event in events} == {pid}
        started, completed, _usage = events
        for event in events:
            assert event.provider == "replicate"
            assert event.model == SCHNELL
            assert event.model_options == {"version": version_of(SCHNELL)}
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.number_of_images == 2
        assert started.prompt is None  # not captured unless asked
        assert isinstance(completed, ImageRequestCompletedEvent)
        assert completed.images == 2
        assert completed.outputs is None
        assert started.timestamp <= completed.timestamp
        assert usage_of(events).images == 2
        # predict_time: 0.5 s + 0.25 s a image = 1.0 s, billed in seconds.
        assert usage_of(events).usage.billed == Billed(D("1.0"), "seconds")
        assert cost(usage_of(events)) == D("0.006")  # 2 images x $0.003

    def test_priced_by_the_second(self, client: replicate.Client) -> None:
        """sdxl priced per second: 4 images ran 1.5 s, 1.5 x $0.000725 = $0.0010875."""
        with capture_events() as events:
            client.run("stability-ai/sdxl", input={"prompt": "a fox", "num_outputs": 4})
        usage = usage_of(events)
        assert usage.images == 4
        assert usage.usage.billed == Billed(D("1.5"), "seconds")
        assert usage.cost is not None
        assert usage.cost.basis == "billed"
        assert usage.cost.total == D("0.0010875")

    def test_no_price_is_unknown(self, server: ImageServer) -> None:
        """The bundled table has no Replicate price: the cost is None, never 0."""
        client = instrument_replicate(make_client(server))
        try:
            with capture_events() as events:
                client.run("black-forest-labs/flux-dev", input={"prompt": "a fox"})
        finally:
            uninstrument_replicate(client)
        assert names(events) == SEQUENCE
        assert usage_of(events).images == 1
        assert usage_of(events).cost is None

    def test_captured(self, server: ImageServer) -> None:
        """capture_prompts and capture_outputs: the prompt, and the files' URLs."""
        client = make_client(server)
        instrument_replicate(client, capture_prompts=True, capture_outputs=True)
        try:
            with capture_events() as events:
                output = client.run(SCHNELL, input={"prompt": "a fox", "num_outputs": 2})
        finally:
            uninstrument_replicate(client)
        started, completed, _ = events
        assert isinstance(started, ImageRequestStartedEvent)
        assert started.prompt == "a fox"
        assert isinstance(completed, ImageRequestCompletedEvent)
        assert completed.outputs is not None
        assert [each.url for each in completed.outputs] == output

    def test_size_from_width_and_height(self, client: replicate.Client) -> None:
        """An input's width and height are the size."""
        with capture_events() as events:
            client.run("stability-ai/sdxl", input={"prompt": "x", "width": 768, "height": 512})
        assert {event.size for event in events} == {"768x512"}  # type: ignore[attr-defined]

    def test_version_reference(self, client: replicate.Client) -> None:
        """``owner/name:version``: the model and its version."""
        with capture_events() as events:
            client.run(f"{SCHNELL}:{version_of(SCHNELL)}", input={"prompt": "x"})
        assert names(events) == SEQUENCE
        assert {event.model for event in events} == {SCHNELL}

    def test_deployment(self, client: replicate.Client) -> None:
        """``deployments.predictions.create``: the deployment, and the model it runs."""
        with capture_events() as events:
            prediction = client.deployments.predictions.create(
                "acme/flux-schnell", input={"prompt": "x"}
            )
            prediction.wait()
        assert names(events) == SEQUENCE
        assert {event.request_id for event in events} == {prediction.id}
        for event in events:
            assert event.model == "acme/flux-schnell"
            assert event.model_options == {
                "deployment": "acme/flux-schnell",
                "version": version_of("acme/flux-schnell"),
            }


class TestFailures:
    """A provider error, a failed or canceled prediction: image:request:error, raised unchanged."""

    @pytest.mark.parametrize("status", [401, 422, 429, 500])
    def test_http_error(self, status: int, server: ImageServer, client: replicate.Client) -> None:
        """An HTTP error of the create call: its status; the caller gets the SDK's error."""
        server.fail_next(status, "no such luck")
        with capture_events() as events, pytest.raises(ReplicateError) as info:
            client.run(SCHNELL, input={"prompt": "x"})
        assert info.value.status == status
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.status_code == status
        assert error.error_type == "ReplicateError"
        assert error.error_message is not None
        assert "no such luck" in error.error_message
        assert error.model == SCHNELL
        assert events[0].request_id == error.request_id

    def test_async_http_error(self, server: ImageServer, client: replicate.Client) -> None:
        """The same through async_run."""
        server.fail_next(500)
        with capture_events() as events, pytest.raises(ReplicateError):
            asyncio.run(closing(client, client.async_run(SCHNELL, input={"prompt": "x"})))
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[1].status_code == 500  # type: ignore[attr-defined]

    def test_failed_by_run(self, server: ImageServer, client: replicate.Client) -> None:
        """run raises ModelError; the error event has the prediction's error text, scrubbed."""
        server.answer_next({"status": "failed", "error": "NSFW content; key sk-PLANTEDsecret123"})
        with capture_events() as events, pytest.raises(ModelError) as info:
            client.run(SCHNELL, input={"prompt": "x"})
        assert names(events) == ["image:request:started", "image:request:error"]
        error = events[1]
        assert isinstance(error, ImageRequestErrorEvent)
        assert error.request_id == info.value.prediction.id
        assert error.error_type == "ModelError"
        assert error.status_code is None
        assert error.error_message is not None
        assert error.error_message.startswith("NSFW content")
        assert "PLANTED" not in error.error_message

    def test_failed_when_waited(self, server: ImageServer, client: replicate.Client) -> None:
        """create, then wait sees it failed: the error then."""
        server.answer_next({"status": "failed", "error": "out of memory"})
        with capture_events() as events:
            prediction = client.predictions.create(model=SCHNELL, input={"prompt": "x"})
            assert names(events) == ["image:request:started"]
            prediction.wait()
        assert prediction.status == "failed"
        assert names(events) == ["image:request:started", "image:request:error"]
        assert {event.request_id for event in events} == {prediction.id}
        assert events[1].error_message == "out of memory"  # type: ignore[attr-defined]

    def test_canceled(self, client: replicate.Client) -> None:
        """A prediction canceled: an error, PredictionCanceled."""
        with capture_events() as events:
            prediction = client.predictions.create(model=SCHNELL, input={"prompt": "x"})
            prediction.cancel()
        assert prediction.status == "canceled"
        assert names(events) == ["image:request:started", "image:request:error"]
        assert events[1].error_type == "PredictionCanceled"  # type: ignore[attr-defined]


class TestNotImages:
    """A model whose output holds no file (a text model) is untouched: no events."""

    def test_text_model(self, way: Way, client: replicate.Client) -> None:
        """llama's words: the SDK's answer, nothing emitted."""
        with capture_events() as events:
            way.call(client, LLAMA, {"prompt": "hello there"})
            assert client.run(LLAMA, input={"prompt": "hello there"}) == ["hello", "there"]
        assert events == []

    def test_text_model_failed(self, server: ImageServer, client: replicate.Client) -> None:
        """A text model's failure, or HTTP error: nothing emitted."""
        server.answer_next({"status": "failed", "error": "boom"})
        server.fail_next(500)
        with capture_events() as events:
            for _ in range(2):
                with pytest.raises((ModelError, ReplicateError)):
                    client.run(LLAMA, input={"prompt": "hi"})
        assert events == []

    def test_image_model_without_files(self, server: ImageServer, client: replicate.Client) -> None:
        """An image model that answers no file: completed with no image, its seconds billed."""
        server.answer_next({"output": []})
        with capture_events() as events:
            assert client.run(SCHNELL, input={"prompt": "x"}) == []
        assert names(events) == SEQUENCE
        assert usage_of(events).images == 0
        assert cost(usage_of(events)) == D("0")  # no image x $0.003


class TestUntouched:
    """The SDK's values reach the caller as they were, FileOutput never fetched."""

    def test_same_output(self, server: ImageServer) -> None:
        """run's output is the same instrumented or not; no file was read."""
        plain = make_client(server).run(SCHNELL, input={"prompt": "x", "num_outputs": 2})
        client = instrument_replicate(make_client(server))
        try:
            before = len(server.requests)
            output = client.run(SCHNELL, input={"prompt": "x", "num_outputs": 2})
        finally:
            uninstrument_replicate(client)
        assert [url.rsplit("/", 1)[1] for url in output] == [url.rsplit("/", 1)[1] for url in plain]
        assert not [path for path, _, _ in server.requests[before:] if "/files/" in path]
