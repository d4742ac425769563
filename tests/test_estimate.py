"""estimate(): what a request will cost before it is sent, and how that was worked out."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog

from aievents.pricing import PriceBook, default_book, estimate

from price_tables import sample_table

D = Decimal


@pytest.fixture(name="book")
def _book() -> PriceBook:
    return PriceBook(sample_table())


@pytest.fixture(name="default")
def _default() -> Iterator[PriceBook]:
    """The default book on the test table, put back afterwards."""
    book = default_book()
    previous = book.table
    book.reset(sample_table())
    yield book
    book.reset(previous)


class TestMethods:
    """Each kind of price gives an estimate, and says which."""

    @pytest.mark.parametrize(
        "case",
        [
            # dall-e-3 hd 1024x1792: 0.120 an image, 2 images.
            ("dall-e-3", "1024x1792", "hd", 2, "per_image", "0.120", "0.240"),
            # grok-imagine-image-2.0 at 2K: 0.06 an image.
            ("grok-imagine-image-2.0", "2K", None, 3, "per_image", "0.06", "0.18"),
            # gpt-image-2 1024x1024 medium: 0.053 an image, 4 images.
            ("gpt-image-2", "1024x1024", "medium", 4, "per_image_estimate", "0.053", "0.212"),
            # gemini-3.1-flash-image at 4K (4096x4096): 0.151 an image.
            (
                "gemini-3.1-flash-image",
                "4096x4096",
                None,
                1,
                "per_image_estimate",
                "0.151",
                "0.151",
            ),
            # gemini-2.5-flash-image: 1290 image tokens x 30.00/M = 0.0387, twice.
            ("gemini-2.5-flash-image", None, None, 2, "typical_tokens", "0.0387", "0.0774"),
            # flux/dev 1024x1024: 2 MP (rounded up) x 0.025 = 0.05, 3 images.
            ("fal-ai/flux/dev", "1024x1024", None, 3, "megapixels", "0.05", "0.15"),
        ],
    )
    def test_method(self, book: PriceBook, case: tuple[Any, ...]) -> None:
        """The estimate's total, per image and method."""
        model, size, quality, n, method, per_image, total = case
        found = book.estimate(model, size=size, quality=quality, n=n)
        assert found is not None
        assert (found.method, found.per_image, found.total, found.images) == (
            method,
            D(per_image),
            D(total),
            n,
        )
        assert found.priced_as == model
        assert found.price_version == "test-2026-12-01"

    def test_per_request(self, book: PriceBook) -> None:
        """acme-upscale: 0.01 for the request, however many images; no price per image."""
        found = book.estimate("acme-upscale", n=4)
        assert found is not None
        assert (found.method, found.total, found.per_image) == ("requests", D("0.01"), None)

    def test_alias(self, book: PriceBook) -> None:
        """An alias is estimated as its entry, and says so."""
        found = book.estimate("contoso-images", size="1024x1024", quality="low", n=2)
        assert found is not None
        assert (found.priced_as, found.total) == ("gpt-image-2", D("0.012"))  # 2 x 0.006


class TestAssumed:
    """A request naming no size or quality (or ``auto``) is estimated all the same, and says how."""

    @pytest.mark.parametrize(
        "case",
        [
            # gpt-image-2, no default documented: its dearest estimate, 1024x1024 high 0.211.
            ("gpt-image-2", None, None, "0.211", {"size": "1024x1024", "quality": "high"}, True),
            (
                "gpt-image-2",
                "auto",
                "auto",
                "0.211",
                {"size": "1024x1024", "quality": "high"},
                True,
            ),
            # 1536x1024 named, quality auto: the dearest at that size, high 0.165.
            ("gpt-image-2", "1536x1024", "auto", "0.165", {"quality": "high"}, True),
            # quality low named, no size: the dearest low, 1024x1024 0.006 (1536x1024 is 0.005).
            ("gpt-image-2", None, "low", "0.006", {"size": "1024x1024"}, True),
            # grok-imagine-image-2.0, no default documented: 2K 0.06 (1K is 0.04).
            ("grok-imagine-image-2.0", None, None, "0.06", {"size": "2K"}, True),
            # Gemini's default image_size is 1K: 0.067.
            ("gemini-3.1-flash-image", None, None, "0.067", {"size": "1K"}, False),
            # fal FLUX's default landscape_4_3 is 1024x768: 786,432 pixels, 1 MP x 0.025.
            ("fal-ai/flux/dev", None, None, "0.025", {"size": "1024x768"}, False),
            # dall-e-3's default: 1024x1024 standard, 0.040.
            ("dall-e-3", None, None, "0.040", {"size": "1024x1024", "quality": "standard"}, False),
            # 1290 tokens x 30.00/M = 0.0387 whatever the size: nothing assumed.
            ("gemini-2.5-flash-image", None, "auto", "0.0387", {}, False),
        ],
    )
    def test_assumed(self, book: PriceBook, case: tuple[Any, ...]) -> None:
        """The documented default, else the dearest price that fits: what was assumed, and which."""
        model, size, quality, each, assumed, ceiling = case
        found = book.estimate(model, size=size, quality=quality, n=2)
        assert found is not None
        assert (found.per_image, found.total) == (D(each), 2 * D(each))
        assert (dict(found.assumed), found.ceiling) == (assumed, ceiling)

    def test_named_is_not_assumed(self, book: PriceBook) -> None:
        """A request naming its size and quality assumes nothing."""
        found = book.estimate("gpt-image-2", size="1024x1024", quality="low")
        assert found is not None
        assert (dict(found.assumed), found.ceiling) == ({}, False)


class TestModuleFunction:
    """aievents.pricing.estimate uses the default book, or the prices given."""

    def test_default_book(self, default: PriceBook) -> None:
        """By the default book."""
        found = estimate("dall-e-3", size="1024x1024", quality="standard")
        assert found is not None
        assert found.total == D("0.040")

    def test_prices(self, book: PriceBook) -> None:
        """By the book given."""
        book.set_price("dall-e-3", per_image="0.5")
        found = estimate("dall-e-3", n=2, prices=book)
        assert found is not None
        assert found.total == D("1.0")


class TestUnknown:
    """No estimate is made up: None, with one warning per model and reason."""

    def test_unknown_model(self, book: PriceBook) -> None:
        """An unknown model is None, warned about once."""
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                assert book.estimate("mystery-model", n=2) is None
        assert [(line["event"], line["model"]) for line in logs] == [
            ("price_unknown", "mystery-model")
        ]

    def test_size_without_price(self, book: PriceBook) -> None:
        """A size and quality the entry has no price for is None, with the reason."""
        with structlog.testing.capture_logs() as logs:
            assert book.estimate("gpt-image-2", size="2048x2048", quality="high") is None
        assert logs[0]["reason"] == "no per-image price for this size and quality"

    @pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
    def test_bad_n(self, book: PriceBook, n: Any) -> None:
        """n must be a whole number of images, 1 or more."""
        with pytest.raises(ValueError, match="n must be"):
            book.estimate("dall-e-3", size="1024x1024", quality="standard", n=n)
