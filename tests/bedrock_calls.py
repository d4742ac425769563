"""Calling Amazon Bedrock (boto3 ``bedrock-runtime``) against ImageServer, for tests."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config

from test_instrument_openai import SEQUENCE, names, one_request, usage_of

__all__ = [
    "ACCESS_KEY",
    "SECRET_KEY",
    "SEQUENCE",
    "SESSION_TOKEN",
    "amazon_body",
    "invoke",
    "make_client",
    "names",
    "one_request",
    "usage_of",
]

#: Credentials that must never show in an event or a log line.
ACCESS_KEY = "AKIAEXAMPLEACCESSKEY7"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLESECRET"
#: A session token shaped as STS gives them (``/``, ``+`` and ``=`` in it): signed as
#: ``x-amz-security-token``, so that the server can echo it as AWS does.
SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx+7k/AbC9dEfGhIjKlMnOpQrStUv"
    "WxYz0EXAMPLESESSIONTOKEN+q8R2w=="
)
#: No retries: a scripted failure is raised at once.
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def make_client(url: str, service: str = "bedrock-runtime") -> Any:
    """A boto3 client of ``service`` that talks to ``url`` (an ImageServer's), retries off."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=SESSION_TOKEN,
        config=NO_RETRIES,
    )


def amazon_body(
    task: str = "TEXT_IMAGE", params: dict[str, Any] | None = None, **config: Any
) -> str:
    """A Titan or Nova Canvas body: ``task``, its parameters, ``imageGenerationConfig``."""
    keys = {
        "TEXT_IMAGE": "textToImageParams",
        "INPAINTING": "inPaintingParams",
        "OUTPAINTING": "outPaintingParams",
        "IMAGE_VARIATION": "imageVariationParams",
        "BACKGROUND_REMOVAL": "backgroundRemovalParams",
        "COLOR_GUIDED_GENERATION": "colorGuidedGenerationParams",
    }
    body: dict[str, Any] = {"taskType": task, keys[task]: params or {"text": "a fox"}}
    if config:
        body["imageGenerationConfig"] = config
    return json.dumps(body)


def invoke(client: Any, model: str, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``invoke_model``: the response and its body, read to the end as the caller reads it."""
    response = client.invoke_model(modelId=model, body=body)
    return response, json.loads(response["body"].read())
