"""capture_events, CapturingSink, ImageServer and MemoryTransport: the helpers for users' tests."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import openai
import pytest

import aievents
from aievents import BaseEvent, EventClient, ImageUsageEvent
from aievents.sinks import ForwardSink
from aievents.testing import CapturingSink, ImageServer, MemoryTransport, capture_events
from aievents.transports import Transport, TransportError
from throwaway_tls import tls_contexts

from helpers import started_event, usage_event


class TestCaptureEvents:
    """capture_events collects what its block emits, then leaves the client as it was."""

    def test_default_client(self) -> None:
        """Events emitted on the default client inside the block are captured in order."""
        before = aievents.get_client().subscriptions
        first, second = started_event(), usage_event()
        aievents.emit(usage_event("outside-before"))
        with capture_events() as events:
            aievents.emit(first)
            aievents.emit(second)
        aievents.emit(usage_event("outside-after"))
        assert events == [first, second]
        assert aievents.get_client().subscriptions == before
        assert aievents.get_client().sinks == ()

    def test_restores_on_error(self, client: EventClient) -> None:
        """The capturing sink is detached even when the block raises."""

        def body() -> list[BaseEvent]:
            with capture_events(client) as events:
                client.emit(usage_event())
                captured.append(events)
                raise RuntimeError("test body failed")

        captured: list[list[BaseEvent]] = []
        with pytest.raises(RuntimeError):
            body()
        (events,) = captured
        client.emit(usage_event())
        assert len(events) == 1
        assert client.subscriptions == ()

    def test_filter(self, client: EventClient) -> None:
        """events= limits what is captured."""
        with capture_events(client, events=ImageUsageEvent) as events:
            client.emit(started_event())
            client.emit(usage_event())
        assert [e.event_type for e in events] == ["image:usage"]

    def test_nested(self, client: EventClient) -> None:
        """Nested captures each see what was emitted inside them."""
        with capture_events(client) as outer:
            client.emit(usage_event("a"))
            with capture_events(client) as inner:
                client.emit(usage_event("b"))
        assert [e.request_id for e in outer] == ["a", "b"]
        assert [e.request_id for e in inner] == ["b"]


class TestCapturingSink:
    """CapturingSink keeps events until closed and can be filtered."""

    def test_lifecycle(self, client: EventClient) -> None:
        """It keeps events, counts flushes, and ignores events after close."""
        sink = CapturingSink()
        client.add_sink(sink)
        client.emit(started_event())
        client.emit(usage_event())
        client.flush()
        assert [e.event_type for e in sink.of_type("image:usage")] == ["image:usage"]
        assert len(sink.of_type(ImageUsageEvent)) == 1
        assert sink.flushes == 1
        sink.clear()
        assert sink.events == []
        sink.close()
        sink.handle(usage_event())
        assert sink.events == []


@pytest.fixture(name="server")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def sdk(server: ImageServer) -> openai.OpenAI:
    """The real openai client, pointed at ``server``, without retries."""
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


class TestImportLight:
    """Importing aievents.testing loads only aievents and the standard library."""

    def test_nothing_else(self) -> None:
        """The modules it adds to those of ``import aievents`` are aievents' or the stdlib's."""
        code = (
            "import sys, aievents; before = set(sys.modules); import aievents.testing; "
            "print('\\n'.join(sorted(set(sys.modules) - before)))"
        )
        added = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
        assert "aievents.testing" in added
        foreign = [
            name
            for name in added
            if name.split(".")[0] not in sys.stdlib_module_names
            and name.split(".")[0] not in ("aievents", "_distutils_hack")
        ]
        assert foreign == []


class TestImageServer:
    """ImageServer answers the real openai SDK on 127.0.0.1, playing what it is told first."""

    def test_base_url(self, server: ImageServer) -> None:
        """The base URL is an http URL of 127.0.0.1 ending in /v1, on the port it listens on."""
        parts = urlsplit(server.base_url)
        assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/v1")
        with socket.create_connection(("127.0.0.1", parts.port or 0), timeout=5):
            pass

    def test_answers_like_openai(self, server: ImageServer) -> None:
        """GPT image models get base64 images and usage; DALL-E models get URLs without usage."""
        client = sdk(server)
        gpt = client.images.generate(model="gpt-image-1", prompt="a fox", n=2, size="1024x1024")
        assert len(gpt.data or []) == 2
        assert gpt.data
        assert gpt.data[0].b64_json
        assert gpt.usage is not None
        assert gpt.usage.output_tokens == 100
        dalle = client.images.generate(model="dall-e-3", prompt="a fox")
        assert dalle.usage is None
        assert dalle.data
        assert dalle.data[0].url
        raw = client.images.with_raw_response.generate(model="dall-e-2", prompt="a fox")
        assert raw.headers["x-request-id"].startswith("req_local_")

    def test_requests_recorded(self, server: ImageServer) -> None:
        """Each request is kept with its path, its body and its headers, in order."""
        client = sdk(server)
        client.images.generate(model="dall-e-2", prompt="first")
        client.images.edit(image=("a.png", b"\x89PNG" + bytes(10), "image/png"), prompt="second")
        (path1, body1, headers1), (path2, body2, _) = server.requests
        assert (path1, body1["prompt"]) == ("/v1/images/generations", "first")
        assert {k.lower(): v for k, v in headers1.items()}["authorization"] == "Bearer [redacted]"
        assert (path2, body2["prompt"], body2["image"]) == ("/v1/images/edits", "second", [14])

    def test_secret_headers_masked(self, server: ImageServer) -> None:
        """Headers naming a secret are recorded masked: no key in the requests or their repr."""
        client = openai.OpenAI(
            api_key="sk-live-0123456789abcdef",
            base_url=server.base_url,
            default_headers={"X-Api-Key": "k3y-hunter2", "Cookie": "session=hunter2"},
            max_retries=0,
        )
        client.images.generate(model="dall-e-2", prompt="a fox")
        ((_, _, headers),) = server.requests
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["authorization"] == "Bearer [redacted]"
        assert lowered["x-api-key"] == lowered["cookie"] == "[redacted]"
        assert lowered["content-type"] == "application/json"
        assert "sk-live" not in repr(server.requests)
        assert "hunter2" not in repr(server.requests)

    def test_fail_next(self, server: ImageServer) -> None:
        """A queued failure answers the next request with its status, message and headers."""
        server.fail_next(429, "slow down", headers={"retry-after": "7"})
        server.fail_next(400, "bad size")
        client = sdk(server)
        with pytest.raises(openai.RateLimitError, match="slow down") as limited:
            client.images.generate(model="gpt-image-1", prompt="x")
        assert limited.value.response.headers["retry-after"] == "7"
        with pytest.raises(openai.BadRequestError, match="bad size"):
            client.images.generate(model="gpt-image-1", prompt="x")
        assert client.images.generate(model="gpt-image-1", prompt="x").usage is not None

    def test_answer_next(self, server: ImageServer) -> None:
        """A queued answer is sent as it is, with its status and headers, once."""
        server.answer_next({"created": 5, "data": [{"url": "http://127.0.0.1/x.png"}]})
        server.answer_next({"anything": True}, status=202, headers={"x-extra": "1"})
        request = urllib.request.Request(
            f"{server.base_url}/images/generations", data=b"{}", method="POST",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as first:
            assert json.load(first) == {"created": 5, "data": [{"url": "http://127.0.0.1/x.png"}]}
        with urllib.request.urlopen(request, timeout=10) as second:
            assert (second.status, second.headers["x-extra"]) == (202, "1")
            assert json.load(second) == {"anything": True}
        with urllib.request.urlopen(request, timeout=10) as third:
            assert "data" in json.load(third)

    @pytest.mark.parametrize("kind", [None, "application/json"])
    def test_not_json(self, server: ImageServer, kind: str | None) -> None:
        """A POST whose body is not JSON (typed or not, as boto3 sends) gets 400; it answers on."""
        host, port = urlsplit(server.url).hostname or "", urlsplit(server.url).port or 0
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            headers = {} if kind is None else {"content-type": kind}
            connection.request("POST", "/model/amazon.nova-canvas-v1:0/invoke", b"\xffnot", headers)
            answer = connection.getresponse()
            assert answer.status == 400
            assert json.load(answer)["message"] == "The request body is not JSON."
        finally:
            connection.close()
        request = urllib.request.Request(
            f"{server.base_url}/images/generations", data=b"{}", method="POST",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert "data" in json.load(answer)

    def test_delay_next(self, server: ImageServer) -> None:
        """A held answer waits for its release; the SDK's timeout fires meanwhile."""
        release = server.delay_next(60)
        client = openai.OpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=0.2
        )
        with pytest.raises(openai.APITimeoutError):
            client.images.generate(model="dall-e-2", prompt="x")
        release.set()
        assert client.images.generate(model="dall-e-2", prompt="x").data

    @pytest.mark.parametrize(
        ("size", "quality", "tokens"),
        [
            # OpenAI's per-image figures at 30.00/1M: 0.211, 0.053, 0.006 (1024x1024) and
            # 0.165, 0.041, 0.005 (1536x1024, 1024x1536), as billed tokens.
            ("1024x1024", "high", 7024),
            ("1024x1024", "medium", 1756),
            ("1024x1024", "low", 196),
            ("1536x1024", "high", 5488),
            ("1024x1536", "medium", 1372),
            ("1536x1024", "low", 172),
            ("2048x2048", "medium", 4 * 1756),  # another size: by its area
        ],
    )
    def test_gpt_image_2_usage(
        self, server: ImageServer, size: str, quality: str, tokens: int
    ) -> None:
        """The gpt-image-2 family reports the image tokens of its size and quality, per image."""
        client = sdk(server)
        for model in ("gpt-image-2", "gpt-image-2.5-flare"):
            answer = client.images.generate(
                model=model,
                prompt="a red fox in snow",
                size=size,
                quality=quality,
                n=2,  # type: ignore[arg-type]
            )
            assert answer.usage is not None
            assert answer.usage.output_tokens == 2 * tokens
            assert answer.usage.input_tokens == 5  # a token per word of the prompt
            assert answer.usage.input_tokens_details.text_tokens == 5
            assert answer.usage.output_tokens_details is None  # as OpenAI's Images endpoints
            assert (answer.size, answer.quality) == (size, quality)

    def test_azure_deployments(self) -> None:
        """An Azure client's deployment is answered as the model the server maps it to."""
        with ImageServer(deployments={"prod-images": "gpt-image-2"}) as server:
            azure = openai.AzureOpenAI(
                azure_endpoint=server.url, api_key="k", api_version="2025-04-01-preview",
                max_retries=0,
            )  # fmt: skip
            mapped = azure.images.generate(model="prod-images", prompt="a fox", quality="low")
            named = azure.images.generate(model="dall-e-3", prompt="a fox")
            azure.close()
        assert mapped.usage is not None
        assert mapped.usage.output_tokens == 196  # a low 1024x1024 gpt-image-2 image
        assert named.usage is None  # a deployment not listed: its name is the model
        assert [path for path, _, _ in server.requests] == [
            "/openai/deployments/prod-images/images/generations?api-version=2025-04-01-preview",
            "/openai/deployments/dall-e-3/images/generations?api-version=2025-04-01-preview",
        ]
        assert server.base_url == f"{server.url}/v1"

    @pytest.mark.parametrize(
        ("model", "tier", "tokens"),
        [
            ("gemini-3.1-flash-image", None, 1120),  # 1K by default: 1120 x 60.00/1M = 0.067
            ("gemini-3.1-flash-image", "512", 747),
            ("gemini-3.1-flash-image", "4K", 2520),
            ("gemini-3-pro-image", "4K", 2000),  # 2000 x 120.00/1M = 0.24
            ("gemini-2.5-flash-image", None, 1290),
        ],
    )
    def test_gemini(self, server: ImageServer, model: str, tier: str | None, tokens: int) -> None:
        """generateContent: an inline image, and usage by modality (text in, image out)."""
        config = {"responseModalities": ["IMAGE"]}
        if tier is not None:
            config["imageConfig"] = {"imageSize": tier}  # type: ignore[assignment]
        body = {
            "contents": [{"parts": [{"text": "a map of the harbour"}]}],
            "generationConfig": config,
        }
        request = urllib.request.Request(
            f"{server.url}/v1beta/models/{model}:generateContent", data=json.dumps(body).encode(),
            method="POST", headers={"content-type": "application/json", "x-goog-api-key": "k"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            payload = json.load(answer)
        (candidate,) = payload["candidates"]
        assert candidate["content"]["parts"][0]["inlineData"]["mimeType"] == "image/png"
        assert payload["usageMetadata"] == {
            "promptTokenCount": 5,
            "candidatesTokenCount": tokens,
            "totalTokenCount": 5 + tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": tokens}],
        }
        assert payload["modelVersion"] == model
        usage = aievents.adapters.from_gemini(payload["usageMetadata"])
        assert (usage.input_text_tokens, usage.output_image_tokens) == (5, tokens)

    def test_stopped_after_the_block(self) -> None:
        """Leaving the block closes the port."""
        with ImageServer() as server:
            port = urlsplit(server.base_url).port or 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


class TestMemoryTransport:
    """MemoryTransport keeps what it is sent, fails when told, and can be waited on."""

    def test_a_transport(self) -> None:
        """It satisfies the Transport protocol."""
        assert isinstance(MemoryTransport(), Transport)

    def test_keeps_batches(self) -> None:
        """Each batch is kept (a copy), in order; events flattens them."""
        transport = MemoryTransport()
        batch = [usage_event("a"), usage_event("b")]
        transport.send(batch)
        batch.clear()
        transport.send([usage_event("c")])
        assert [[e.request_id for e in b] for b in transport.batches] == [["a", "b"], ["c"]]
        assert [e.request_id for e in transport.events] == ["a", "b", "c"]
        assert transport.sends == 2
        transport.clear()
        assert transport.events == []
        assert not transport.wait_for(1, timeout=0)

    def test_fail_with_status(self) -> None:
        """A status fails as an HTTP target would: retryable for 429 and 503, not for 401."""
        transport = MemoryTransport()
        transport.fail_next(2, status=503, retry_after=3.0)
        transport.fail_next(status=401)
        transport.fail_next(status=429, retryable=False)
        seen = []
        for _ in range(4):
            with pytest.raises(TransportError) as failed:
                transport.send([usage_event()])
            seen.append((failed.value.status, failed.value.retryable, failed.value.retry_after))
        assert seen == [(503, True, 3.0), (503, True, 3.0), (401, False, None), (429, False, None)]
        transport.send([usage_event("kept")])
        assert [e.request_id for e in transport.events] == ["kept"]
        assert transport.sends == 5

    def test_fail_with_error(self) -> None:
        """A given exception is raised as it is; without one, a retryable TransportError."""
        transport = MemoryTransport()
        boom = ConnectionResetError("reset")
        transport.fail_next(error=boom)
        transport.fail_next()
        with pytest.raises(ConnectionResetError) as raised:
            transport.send([usage_event()])
        assert raised.value is boom
        with pytest.raises(TransportError) as default:
            transport.send([usage_event()])
        assert default.value.retryable
        assert transport.events == []

    def test_wrong_arguments(self) -> None:
        """An error together with a status, or a negative count, is refused."""
        transport = MemoryTransport()
        with pytest.raises(ValueError, match="not both"):
            transport.fail_next(error=RuntimeError(), status=500)
        with pytest.raises(ValueError, match="0 or more"):
            transport.fail_next(-1)

    def test_wait_for_across_threads(self) -> None:
        """wait_for wakes when senders on other threads have delivered enough events."""
        transport = MemoryTransport()
        transport.fail_next(3)
        start = threading.Event()

        def sender(name: str) -> None:
            start.wait(10)
            for index in range(50):
                for _ in range(4):  # three failures in all: a send is tried at most four times
                    try:
                        transport.send([usage_event(f"{name}-{index}")])
                        break
                    except TransportError:
                        pass

        threads = [threading.Thread(target=sender, args=(str(n),)) for n in range(4)]
        for thread in threads:
            thread.start()
        assert not transport.wait_for(1, timeout=0)
        start.set()
        assert transport.wait_for(200, timeout=30)
        for thread in threads:
            thread.join(10)
        assert len({e.request_id for e in transport.events}) == 200
        assert transport.sends == 203

    def test_behind_a_forward_sink(self) -> None:
        """A ForwardSink retries a retryable failure, drops a refusal for good, and closes it."""
        transport = MemoryTransport()
        transport.fail_next(status=503)
        with EventClient() as client:
            sink = ForwardSink(transport)
            client.add_sink(sink)
            client.emit(usage_event("retried"))
            assert transport.wait_for(1, timeout=30)
            transport.fail_next(status=401)
            client.emit(usage_event("refused"))
            assert sink.flush(30)
            report = sink.stats()
        assert [e.request_id for e in transport.events] == ["retried"]
        assert (report.sent, report.retried, report.dropped) == (1, 1, {"rejected": 1})
        assert transport.closed


class TestImageServerTls:
    """With a ``tls`` context the server speaks HTTPS; GETs to no route are refused."""

    def test_https(self) -> None:
        """A client that trusts the throwaway authority gets answers over HTTPS."""
        served, trusted = tls_contexts()
        with ImageServer(tls=served) as server:
            assert server.url.startswith("https://127.0.0.1:")
            with httpx.Client(verify=trusted) as http:
                sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-test", http_client=http)
                answer = sdk.images.generate(model="gpt-image-1", prompt="a fox")
        assert len(answer.data or []) == 1

    def test_get_without_route(self, server: ImageServer) -> None:
        """OpenAI's image paths take POST only: a GET is a 404 with an OpenAI error body."""
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.base_url}/images/generations")
        assert refused.value.code == 404
        assert json.loads(refused.value.read())["error"]["type"] == "not_found"
