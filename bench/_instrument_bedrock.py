"""Bedrock rows of ``bench_instrument.py``: boto3's ``invoke_model``, bare and instrumented.

The real boto3 client is answered in process: a ``before-send`` handler of
botocore's event system returns an ``AWSResponse`` (Nova Canvas's answer, one
image; a text model's), so the rows measure botocore plus aievents and no
network. Rows: an image call bare and instrumented with one sink, and a text
model's call bare and through an instrumented client (which only looks at
its ``modelId``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from aievents import EventClient
from aievents.instrument import instrument_bedrock
from aievents.testing._bedrock import bedrock_answer

NOVA = "amazon.nova-canvas-v1:0"
TEXT = "anthropic.claude-3-haiku-20240307-v1:0"
IMAGE_BODY = json.dumps({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a fox"}})
TEXT_BODY = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})


class _Raw(io.BytesIO):
    """A response body as botocore reads it from urllib3: ``read`` and ``stream``."""

    def stream(self, amt: int = 1024, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _answer(request: Any, **kwargs: Any) -> AWSResponse:
    """Bedrock's answer to ``request``, from memory."""
    model = "/".join(request.url.split("/model/", 1)[1].split("/")[:-1])
    data = json.dumps(bedrock_answer(model, {}, b64="aGVsbG8=", filtered=False)).encode()
    headers = {
        "content-type": "application/json",
        "content-length": str(len(data)),
        "x-amzn-requestid": "req-bench",
    }
    return AWSResponse(request.url, 200, headers, _Raw(data))


def make_bedrock(instrumented: bool, events: EventClient) -> Any:
    """A ``bedrock-runtime`` client answered in process."""
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}),
    )
    client.meta.events.register("before-send.bedrock-runtime.InvokeModel", _answer)
    return instrument_bedrock(client, events=events) if instrumented else client


def rows(
    number: int, quiet: EventClient, listening: EventClient
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], list[tuple[str, str]]]:
    """The names, rows and (instrumented, bare) pairs of the Bedrock rows."""
    names = {
        "bedrock_bare": make_bedrock(False, quiet),
        "bedrock_listened": make_bedrock(True, listening),
    }
    calls = {
        "nova-canvas": f"invoke_model(modelId={NOVA!r}, body={IMAGE_BODY!r})['body'].read()",
        "text model": f"invoke_model(modelId={TEXT!r}, body={TEXT_BODY!r})['body'].read()",
    }
    table: dict[str, tuple[str, int]] = {}
    pairs: list[tuple[str, str]] = []
    for what, call in calls.items():
        bare, ours = (
            f"bedrock invoke_model {what}, {how}" for how in ("bare SDK", "instrumented, one sink")
        )
        table[bare] = (f"bedrock_bare.{call}", number)
        table[ours] = (f"bedrock_listened.{call}; sink.clear()", number)
        pairs.append((ours, bare))
    return names, table, pairs
