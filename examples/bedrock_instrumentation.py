"""Report the images Amazon Bedrock's image models make, and what each one cost.

Every ``bedrock-runtime`` client is instrumented at once, the ones a library
makes for you included. The client here talks to a local stand-in for
Bedrock on 127.0.0.1 (aievents' ImageServer), so this runs offline; leave
out ``endpoint_url`` and the keys for real calls (boto3 finds your
credentials as usual).

Run: python examples/bedrock_instrumentation.py
Extras: bedrock (pip install '.[bedrock]')
"""

from __future__ import annotations

import json

import boto3
from botocore.config import Config

from aievents import EventClient, ImageRequestErrorEvent, ImageUsageEvent
from aievents.instrument import instrument_bedrock, uninstrument_bedrock
from aievents.testing import ImageServer


def show(event: ImageUsageEvent) -> None:
    """One line per image request: model, operation, images and cost."""
    cost = f"${event.cost.total}" if event.cost is not None else "cost unknown"
    print(f"{event.model} {event.operation} {event.size}: {event.images} image(s), {cost}")


def failed(event: ImageRequestErrorEvent) -> None:
    """One line per failed request."""
    print(f"{event.model} failed: {event.status_code} {event.error_type}")


def main() -> None:
    """A Titan generation, a Nova Canvas inpainting, a Stability image, a throttled call."""
    events = EventClient()
    events.on(ImageUsageEvent, show)
    events.on(ImageRequestErrorEvent, failed)
    instrument_bedrock(events=events)
    try:
        with ImageServer() as server:
            bedrock = boto3.client(
                "bedrock-runtime",
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id="example",
                aws_secret_access_key="example",
                config=Config(retries={"total_max_attempts": 1}),
            )
            titan = {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a lighthouse"},
                "imageGenerationConfig": {"numberOfImages": 3, "quality": "premium"},
            }
            answer = bedrock.invoke_model(
                modelId="amazon.titan-image-generator-v2:0", body=json.dumps(titan)
            )
            print(len(json.loads(answer["body"].read())["images"]), "images read")
            inpaint = {
                "taskType": "INPAINTING",
                "inPaintingParams": {"text": "a hat", "image": "aGVsbG8=", "maskPrompt": "head"},
            }
            bedrock.invoke_model(modelId="amazon.nova-canvas-v1:0", body=json.dumps(inpaint))
            stability = {"prompt": "a fox", "aspect_ratio": "16:9"}
            bedrock.invoke_model(
                modelId="us.stability.stable-image-core-v1:1", body=json.dumps(stability)
            )
            server.fail_next(429, "Too many requests")
            try:
                bedrock.invoke_model(modelId="amazon.nova-canvas-v1:0", body=json.dumps(titan))
            except bedrock.exceptions.ThrottlingException:
                print("throttled, as the caller sees it")
    finally:
        uninstrument_bedrock()
        events.close()


if __name__ == "__main__":
    main()
