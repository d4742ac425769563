"""Calling google-genai (sync or client.aio, plain or streamed) against ImageServer, for tests."""

from __future__ import annotations

import asyncio
from typing import Any

from google import genai
from google.genai import types

from aievents.testing import ImageServer
from test_instrument_openai import SEQUENCE, names, one_request, usage_of

__all__ = [
    "SEQUENCE",
    "TEXT_AND_IMAGE",
    "WAYS",
    "Gemini",
    "config",
    "make_client",
    "names",
    "one_request",
    "usage_of",
]
#: Text and image, at a resolution tier.
TEXT_AND_IMAGE = ["TEXT", "IMAGE"]


def make_client(server: ImageServer) -> genai.Client:
    """A google-genai client that talks to ``server``."""
    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=server.url))


def config(tier: str | None = None, modalities: list[str] | None = None) -> Any:
    """A ``GenerateContentConfig`` asking for ``modalities`` at resolution ``tier``."""
    image = types.ImageConfig(image_size=tier) if tier else None
    return types.GenerateContentConfig(response_modalities=modalities, image_config=image)


class Gemini:
    """One way of calling: ``sync`` or ``async`` (``client.aio``), ``plain`` or ``stream``."""

    def __init__(self, mode: str, kind: str) -> None:
        self.mode = mode
        self.kind = kind

    def __repr__(self) -> str:
        return f"{self.mode}-{self.kind}"

    def call(self, client: genai.Client, **kwargs: Any) -> Any:
        """One call; a stream is read to its end and its chunks returned as a list.

        An async call closes ``client.aio`` after it (its connections belong
        to the event loop that ends with the call): one async call a client.
        """
        if self.mode == "sync":
            if self.kind == "stream":
                return list(client.models.generate_content_stream(**kwargs))
            return client.models.generate_content(**kwargs)

        async def go() -> Any:
            models = client.aio.models
            try:
                if self.kind == "stream":
                    stream = await models.generate_content_stream(**kwargs)
                    return [chunk async for chunk in stream]
                return await models.generate_content(**kwargs)
            finally:
                await client.aio.aclose()

        return asyncio.run(go())

    def response_ids(self, result: Any) -> set[str]:
        """The ``response_id`` of the answer, or of every chunk."""
        chunks = result if isinstance(result, list) else [result]
        return {chunk.response_id for chunk in chunks}


WAYS = [Gemini(mode, kind) for mode in ("sync", "async") for kind in ("plain", "stream")]
