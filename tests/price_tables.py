"""A small format-2 price table for the pricing tests, its prices from pricing.md.

Each test builds its table from :func:`table_data` (a fresh copy it may
change) with ``PriceTable.from_dict``: the tests never read a price back
from the table under test, they work it by hand from these figures.
"""

from __future__ import annotations

import copy
from typing import Any

from aievents.pricing import PriceTable

SOURCE = "pricing.md"
EFFECTIVE = "2026-10-01"

_DATA: dict[str, Any] = {
    "format": 2,
    "version": "test-2026-12-01",
    "currency": "usd",
    "aliases": {
        "contoso-images": "gpt-image-2",  # an Azure deployment name
        "house-default": "contoso-images",  # an alias of an alias
    },
    "patterns": [
        {"match": "openrouter/*", "model": "*"},
        {"match": "azure/*", "model": "*"},
    ],
    "models": [
        {
            # gpt-image-2: 5.00 / 8.00 / 1.25 / 2.00 / 30.00 per 1M tokens.
            "provider": "openai",
            "model": "gpt-image-2",
            "unit": "tokens",
            "per_million_tokens": {
                "input_text": "5.00",
                "input_image": "8.00",
                "cached_input_text": "1.25",
                "cached_input_image": "2.00",
                "output_image": "30.00",
            },
            "per_image_estimate": [
                {"size": "1024x1024", "quality": "low", "price": "0.006"},
                {"size": "1024x1024", "quality": "medium", "price": "0.053"},
                {"size": "1024x1024", "quality": "high", "price": "0.211"},
                {"size": "1024x1536", "quality": "high", "price": "0.165"},
                {"size": "1536x1024", "quality": "high", "price": "0.165"},
            ],
            "released": "2026-04-21",
            "source": SOURCE,
            "effective": EFFECTIVE,
        },
        {
            # gpt-image-1: deprecated 2026-10-23, not shut down.
            "provider": "openai",
            "model": "gpt-image-1",
            "unit": "tokens",
            "per_million_tokens": {"input_text": "5.00", "output_image": "40.00"},
            "deprecated": "2026-10-23",
            "successor": "gpt-image-2",
            "source": SOURCE,
            "effective": EFFECTIVE,
        },
        {
            # dall-e-3 per image; shut down 2026-05-12.
            "provider": "openai",
            "model": "dall-e-3",
            "unit": "images",
            "per_image": [
                {"quality": "standard", "size": "1024x1024", "price": "0.040"},
                {"quality": "hd", "size": "1024x1792", "price": "0.120"},
            ],
            "shutdown": "2026-05-12",
            "successor": "gpt-image-2",
            "source": SOURCE,
            "effective": EFFECTIVE,
        },
        {
            # gemini-3.1-flash-image: input 0.50/M, image output 60.00/M;
            # per image 0.045 at 512, 0.067 at 1K, 0.101 at 2K, 0.151 at 4K.
            "provider": "google",
            "model": "gemini-3.1-flash-image",
            "unit": "tokens",
            "per_million_tokens": {"input_text": "0.50", "output_image": "60.00"},
            "per_image_estimate": [
                {"tier": "512", "price": "0.045"},
                {"tier": "1K", "price": "0.067"},
                {"tier": "2K", "price": "0.101"},
                {"tier": "4K", "price": "0.151"},
            ],
            "aliases": ["gemini-3.1-flash-image-preview"],
            "source": SOURCE,
            "effective": EFFECTIVE,
        },
        {
            # gemini-2.5-flash-image: image output 30.00/M, 1290 tokens an image.
            "provider": "google",
            "model": "gemini-2.5-flash-image",
            "unit": "tokens",
            "per_million_tokens": {
                "input_text": "0.30",
                "output_text": "2.50",
                "output_image": "30.00",
            },
            "typical_tokens": {"output_image": 1290},
            "source": SOURCE,
            "effective": EFFECTIVE,
        },
        {
            # grok-imagine-image-2.0: 0.04 at 1K, 0.06 at 2K.
            "provider": "xai",
            "model": "grok-imagine-image-2.0",
            "unit": "images",
            "per_image": [{"tier": "1K", "price": "0.04"}, {"tier": "2K", "price": "0.06"}],
            "source": SOURCE,
            "effective": EFFECTIVE,
        },
        {
            # fal-ai/flux/dev: 0.025 per megapixel (rounded up); fal bills megapixels.
            "provider": "fal",
            "model": "fal-ai/flux/dev",
            "unit": "megapixels",
            "per_megapixel": {"price": "0.025"},
            "per_billed_unit": {"megapixels": "0.025"},
            "source": SOURCE,
            "effective": EFFECTIVE,
        },
        {
            # A model billed by the request (no such price in pricing.md: a made-up one).
            "provider": "acme",
            "model": "acme-upscale",
            "unit": "requests",
            "per_request": "0.01",
            "source": "contract",
            "effective": EFFECTIVE,
        },
    ],
}


def table_data() -> dict[str, Any]:
    """A fresh copy of the test table's file content, to build or to break."""
    return copy.deepcopy(_DATA)


def sample_table() -> PriceTable:
    """The test table."""
    return PriceTable.from_dict(table_data(), source="test table")
