"""instrument_bedrock process-wide and per client: every client, each call once, undone."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import botocore
import botocore.client
import botocore.exceptions
import pytest

import aievents
import aievents.instrument
from aievents.instrument import bedrock as bedrock_instrumentation
from aievents.instrument import instrument_bedrock, uninstrument_bedrock
from aievents.instrument.bedrock import is_instrumented
from aievents.testing import CapturingSink, ImageServer, capture_events
from aievents.wire import to_json
from bedrock_calls import (
    ACCESS_KEY,
    SECRET_KEY,
    SEQUENCE,
    SESSION_TOKEN,
    amazon_body,
    invoke,
    make_client,
    names,
    one_request,
)
from test_instrument_google_clients import at_once

NOVA = "amazon.nova-canvas-v1:0"
#: botocore's own method, before anything wraps it.
ORIGINAL = vars(botocore.client.BaseClient)["_make_api_call"]


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


def untouched() -> bool:
    """Whether botocore's class holds its own method again."""
    return vars(botocore.client.BaseClient)["_make_api_call"] is ORIGINAL


@pytest.fixture(name="process_wide")
def _process_wide() -> Iterator[None]:
    """Every client instrumented for the test; botocore its own again after it."""
    instrument_bedrock()
    yield
    uninstrument_bedrock()
    assert untouched()


def one_call(client: Any) -> list[Any]:
    """The events of one Nova Canvas call of ``client``."""
    with capture_events() as events:
        invoke(client, NOVA, amazon_body())
    return events


def library_factory(url: str) -> Any:
    """A client made inside another library's code."""
    return make_client(url)


class TestProcessWide:
    """No argument: every bedrock-runtime client's calls, made before or after."""

    @pytest.mark.usefixtures("process_wide")
    def test_client_made_after(self, server: ImageServer) -> None:
        """A client made later inside a factory function reports its calls."""
        with capture_events() as events:
            response, _ = invoke(library_factory(server.url), NOVA, amazon_body())
        assert names(events) == SEQUENCE
        assert one_request(events) == response["ResponseMetadata"]["RequestId"]

    def test_client_made_before(self, server: ImageServer) -> None:
        """A client made before instrumenting reports too; undone, it reports nothing."""
        client = make_client(server.url)
        instrument_bedrock()
        try:
            assert is_instrumented()
            assert is_instrumented(client)
            assert names(one_call(client)) == SEQUENCE
        finally:
            uninstrument_bedrock()
        assert not is_instrumented()
        assert not is_instrumented(client)
        assert untouched()
        assert one_call(client) == []

    def test_idempotent(self, server: ImageServer) -> None:
        """A second instrument_bedrock() wraps nothing more: only its events= applies."""
        target = aievents.EventClient()
        client = make_client(server.url)
        instrument_bedrock()
        instrument_bedrock(events=target)
        try:
            with capture_events(target) as events:
                invoke(client, NOVA, amazon_body())
            assert names(events) == SEQUENCE
        finally:
            uninstrument_bedrock()
        assert untouched()

    @pytest.mark.usefixtures("process_wide")
    def test_other_services(self, server: ImageServer) -> None:
        """Another service's call (S3 here) goes through untouched, its error its own."""
        s3 = make_client(server.url, "s3")
        with capture_events() as events, pytest.raises(botocore.exceptions.ClientError) as caught:
            s3.list_buckets()
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert events == []

    @pytest.mark.usefixtures("process_wide")
    def test_threads(self, server: ImageServer) -> None:
        """16 threads calling at once: every call reported once with its own id, none lost."""
        client = make_client(server.url)
        ids: list[str] = []

        def call() -> None:
            response, _ = invoke(client, NOVA, amazon_body())
            ids.append(response["ResponseMetadata"]["RequestId"])

        with capture_events() as events:
            at_once(call, 16)
        assert len(events) == 3 * 16
        usage_ids = [e.request_id for e in events if e.event_type == "image:usage"]
        assert sorted(usage_ids) == sorted(ids) == sorted(set(ids))

    def test_racing_instrument_calls(self, server: ImageServer) -> None:
        """Instrumenting from 8 threads at once wraps botocore once."""
        at_once(instrument_bedrock)
        try:
            ours = vars(botocore.client.BaseClient)["_make_api_call"]
            assert ours.__wrapped__ is ORIGINAL
            with capture_events() as events:
                invoke(make_client(server.url), NOVA, amazon_body())
            assert names(events) == SEQUENCE
        finally:
            uninstrument_bedrock()
        assert untouched()


class TestPerClient:
    """instrument_bedrock(client): that client's calls only, undone by identity."""

    def test_only_that_client(self, server: ImageServer) -> None:
        """A second client of the same service reports nothing."""
        ours = instrument_bedrock(make_client(server.url))
        other = make_client(server.url)
        try:
            assert (is_instrumented(ours), is_instrumented(other)) == (True, False)
            assert not is_instrumented()
            with capture_events() as events:
                invoke(other, NOVA, amazon_body())
                invoke(ours, NOVA, amazon_body())
            assert names(events) == SEQUENCE
        finally:
            uninstrument_bedrock(ours)

    def test_uninstrument_leaves_nothing(self, server: ImageServer) -> None:
        """Undone, the client holds nothing of ours."""
        client = make_client(server.url)
        before = dict(vars(client))
        instrument_bedrock(client)
        instrument_bedrock(client)  # twice is once
        assert uninstrument_bedrock(client) is client
        assert dict(vars(client)) == before
        assert not is_instrumented(client)
        assert untouched()
        assert one_call(client) == []

    def test_someone_wrapped_ours(self, server: ImageServer) -> None:
        """Wrapped again since: their wrapper stays, ours reports nothing."""
        client = instrument_bedrock(make_client(server.url))
        ours = client._make_api_call

        def theirs(operation_name: str, api_params: Any) -> Any:
            return ours(operation_name, api_params)

        client._make_api_call = theirs
        uninstrument_bedrock(client)
        assert client._make_api_call is theirs
        assert one_call(client) == []

    def test_package_is_instrumented(self, server: ImageServer) -> None:
        """``aievents.instrument.is_instrumented`` asks a boto3 client of this instrumentation."""
        client = make_client(server.url)
        assert not aievents.instrument.is_instrumented(client)
        instrument_bedrock(client)
        assert aievents.instrument.is_instrumented(client)
        uninstrument_bedrock(client)
        assert not aievents.instrument.is_instrumented(client)

    def test_not_a_bedrock_client(self) -> None:
        """Another service's client, or anything else, is refused."""
        s3 = boto3.client("s3", region_name="us-east-1")
        with pytest.raises(TypeError, match=r"needs a boto3 client of 'bedrock-runtime'.*s3"):
            instrument_bedrock(s3)
        with pytest.raises(TypeError, match=r"needs a boto3 client of 'bedrock-runtime'"):
            instrument_bedrock(object())


class TestIsInstrumented:
    """Anything but a bedrock-runtime client: False; boto3 or botocore: the process-wide one."""

    @pytest.mark.usefixtures("process_wide")
    def test_other_service(self, server: ImageServer) -> None:
        """Every client's on: an S3 client (or any object) still has no Bedrock calls reported."""
        s3 = make_client(server.url, "s3")
        assert is_instrumented(make_client(server.url))
        assert not is_instrumented(s3)
        assert not aievents.instrument.is_instrumented(s3)
        assert not is_instrumented(object())

    def test_modules(self) -> None:
        """The boto3 and botocore modules (botocore holds the patch) tell the process-wide one."""
        for module in (boto3, botocore, botocore.client):
            assert not aievents.instrument.is_instrumented(module)
        instrument_bedrock()
        try:
            for module in (boto3, botocore, botocore.client):
                assert aievents.instrument.is_instrumented(module)
        finally:
            uninstrument_bedrock()
        assert not aievents.instrument.is_instrumented(botocore)


class TestNeverDouble:
    """A client instrumented and every client too: one report, on the client's own events."""

    @pytest.mark.parametrize("order", ["client first", "process first"])
    def test_both(self, order: str, server: ImageServer) -> None:
        """One sequence, one request id, on the client's own event client."""
        own, shared = aievents.EventClient(), aievents.EventClient()
        own_sink, shared_sink = CapturingSink(), CapturingSink()
        own.add_sink(own_sink)
        shared.add_sink(shared_sink)
        client = make_client(server.url)
        if order == "client first":
            instrument_bedrock(client, events=own)
            instrument_bedrock(events=shared)
        else:
            instrument_bedrock(events=shared)
            instrument_bedrock(client, events=own)
        try:
            response, _ = invoke(client, NOVA, amazon_body())
        finally:
            uninstrument_bedrock(client)
            uninstrument_bedrock()
        assert shared_sink.events == []
        assert names(own_sink.events) == SEQUENCE
        assert one_request(own_sink.events) == response["ResponseMetadata"]["RequestId"]
        assert untouched()


class TestSecrets:
    """AWS credentials never reach an event, a log line or a repr, even when AWS echoes them."""

    @pytest.mark.usefixtures("process_wide")
    def test_no_credentials(self, server: ImageServer, caplog: pytest.LogCaptureFixture) -> None:
        """A signature AWS refused echoes the session token: the caller sees it, no event does."""
        caplog.set_level(logging.DEBUG, logger="aievents")
        client = make_client(server.url)
        server.fail_next(403, headers={"x-amzn-ErrorType": "InvalidSignatureException"})
        with capture_events() as events:
            with pytest.raises(botocore.exceptions.ClientError) as refused:
                client.invoke_model(modelId=NOVA, body=amazon_body())
            invoke(client, NOVA, amazon_body())
        # What AWS says holds the token and the credential scope: there is something to leak.
        assert SESSION_TOKEN in str(refused.value)
        assert "/us-east-1/bedrock/aws4_request" in str(refused.value)
        assert names(events) == ["image:request:started", "image:request:error", *SEQUENCE]
        error = events[1]
        assert error.error_type == "InvalidSignatureException"  # type: ignore[attr-defined]
        assert error.status_code == 403  # type: ignore[attr-defined]
        assert "x-amz-security-token:[redacted]" in (error.error_message or "")  # type: ignore[attr-defined]
        shown = caplog.text + "".join(to_json(e) + repr(e) + str(e) for e in events)
        for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
            assert secret not in shown
            for piece in secret.replace("+", "/").split("/"):  # no part of one either
                assert len(piece) < 12 or piece not in shown


def python(*lines: str) -> str:
    """What a fresh interpreter running ``lines`` prints."""
    command = [sys.executable, "-c", "\n".join(lines)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


class TestLight:
    """Importing the instrumentation loads botocore only when it is used."""

    def test_import(self) -> None:
        """``import aievents.instrument`` (and its bedrock module) leaves boto3 unloaded."""
        loaded = python(
            "import sys, aievents.instrument, aievents.instrument.bedrock",
            "print(sorted(m for m in sys.modules if m.startswith(('boto', 'botocore'))))",
        )
        assert loaded.strip() == "[]"

    def test_missing_extra(self) -> None:
        """Without boto3, instrumenting names the extra to install."""
        said = python(
            "import sys",
            "sys.modules['botocore'] = None",
            "from aievents.instrument import instrument_bedrock",
            "try:",
            "    instrument_bedrock()",
            "except ImportError as e:",
            "    print(e)",
        )
        assert "instrument_bedrock needs the 'bedrock' extra" in said
        assert "[bedrock]" in said

    def test_lazy_export(self) -> None:
        """The package's names are the module's."""
        assert instrument_bedrock is bedrock_instrumentation.instrument_bedrock
        assert uninstrument_bedrock is bedrock_instrumentation.uninstrument_bedrock
