"""Pricing by unit: tokens, images by size, quality and tier, megapixels, requests, billed."""

from __future__ import annotations

import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from aievents import ImageUsage, ImageUsageEvent, PriceTableError
from aievents.pricing import PriceBook, PriceTable, resolution_tier
from aievents.usage import Billed
from reprice_data import tokens

from price_tables import sample_table, table_data

D = Decimal


@pytest.fixture(name="book")
def _book() -> PriceBook:
    """A book of the test table."""
    return PriceBook(sample_table())


class TestTokens:
    """A token-billed entry prices the reported usage, each modality at its rate."""

    def test_by_modality(self, book: PriceBook) -> None:
        """gpt-image-2: text, image, cached and image output each at its own rate."""
        cost = book.image_cost("gpt-image-2", usage=tokens(100, 4000, image=500, cached=50))
        assert cost is not None
        # 50 uncached text x 5.00/M = 0.00025; 500 image x 8.00/M = 0.004;
        # 50 cached text x 1.25/M = 0.0000625; 4000 image out x 30.00/M = 0.12.
        assert cost.breakdown() == {
            "input_text": D("0.00025"),
            "input_image": D("0.004"),
            "cached_input": D("0.0000625"),
            "output_image": D("0.12"),
        }
        assert cost.total == D("0.1243125")
        assert (cost.basis, cost.priced_model) == ("tokens", "gpt-image-2")

    def test_image_output_at_the_image_rate(self, book: PriceBook) -> None:
        """gemini-2.5-flash-image: image output at 30.00/M, text output at 2.50/M."""
        cost = book.image_cost("gemini-2.5-flash-image", usage=tokens(20, 1290, out_text=10))
        assert cost is not None
        # 20 x 0.30/M = 0.000006; 1290 x 30/M = 0.0387; 10 x 2.50/M = 0.000025.
        assert (cost.input_text, cost.output_image, cost.output_text) == (
            D("0.000006"),
            D("0.0387"),
            D("0.000025"),
        )
        assert cost.total == D("0.038731")

    def test_usage_never_times_n(self, book: PriceBook) -> None:
        """Four images in one usage: the usage is the whole request, images=4 changes nothing."""
        one = book.image_cost("gpt-image-2", usage=tokens(10, 4 * 1056), images=4)
        assert one is not None
        # 10 x 5/M + 4224 x 30/M = 0.00005 + 0.12672.
        assert one.total == D("0.12677")
        assert one.per_image == 0

    def test_no_usage_is_estimated_per_image(self, book: PriceBook) -> None:
        """No usage reported: the per-image estimate for the size and quality, times the images."""
        cost = book.image_cost("gpt-image-2", images=3, size="1024x1536", quality="high")
        assert cost is not None
        assert (cost.basis, cost.total, cost.per_image) == ("estimate", D("0.495"), D("0.495"))
        # 3 x 0.165

    def test_no_usage_typical_tokens(self, book: PriceBook) -> None:
        """No estimate row: the typical tokens of an image at the rates, times the images."""
        cost = book.image_cost("gemini-2.5-flash-image", images=2, size="1024x1024")
        assert cost is not None
        assert (cost.basis, cost.total) == ("estimate", D("0.0774"))  # 2 x 1290 x 30/M


class TestTiers:
    """A size is in a resolution tier by its pixel count; a tier name is itself."""

    @pytest.mark.parametrize(
        ("size", "tier"),
        [
            ("512x512", "512"),  # 262,144 px
            ("720x720", "512"),  # 518,400 px <= 0.52 MP
            ("1024x512", "1K"),  # 524,288 px
            ("1024x1024", "1K"),  # 1,048,576 px
            ("1024x1536", "1K"),  # 1,572,864 px <= 2.1 MP
            ("2048x2048", "2K"),  # 4,194,304 px
            ("2560x2304", "2K"),  # 5,898,240 px <= 6 MP
            ("2560x2368", "4K"),  # 6,062,080 px > 6 MP
            ("3840x2160", "4K"),  # 8,294,400 px: UHD
            ("4096x4096", "4K"),  # 16,777,216 px
            ("2K", "2K"),
            ("1k", "1K"),
            ("512", "512"),
            ("4K", "4K"),
            ("auto", None),
            (None, None),
        ],
    )
    def test_tier(self, size: str | None, tier: str | None) -> None:
        """Each size falls in its tier."""
        assert resolution_tier(size) == tier

    @pytest.mark.parametrize(
        ("size", "price"),
        [("1024x1024", "0.04"), ("1K", "0.04"), ("2048x2048", "0.06"), ("2K", "0.06")],
    )
    def test_per_image_by_tier(self, book: PriceBook, size: str, price: str) -> None:
        """grok-imagine-image-2.0: 0.04 at 1K, 0.06 at 2K, by WxH or by tier name."""
        cost = book.image_cost("grok-imagine-image-2.0", images=2, size=size)
        assert cost is not None
        assert (cost.basis, cost.total) == ("images", 2 * D(price))

    def test_estimate_rows_by_tier(self, book: PriceBook) -> None:
        """gemini-3.1-flash-image without usage: 0.101 an image at 2K, 0.151 at 4K."""
        costs = [
            book.image_cost("gemini-3.1-flash-image", images=1, size=size)
            for size in ("2K", "4096x4096", "512x512")
        ]
        assert [c.total if c else None for c in costs] == [D("0.101"), D("0.151"), D("0.045")]

    def test_tier_without_a_price(self, book: PriceBook) -> None:
        """A tier the entry has no price for is unknown, with one warning."""
        with structlog.testing.capture_logs() as logs:
            for _ in range(2):
                assert book.image_cost("grok-imagine-image-2.0", images=1, size="4K") is None
        assert [line["event"] for line in logs] == ["price_unknown"]


class TestSizeAndQuality:
    """A per-image entry prices by size and quality."""

    def test_dall_e_3_hd(self, book: PriceBook) -> None:
        """dall-e-3 hd 1024x1792: 2 x 0.120 = 0.24."""
        cost = book.image_cost(
            "dall-e-3", images=2, size="1024x1792", quality="hd", when=datetime.date(2026, 1, 1)
        )
        assert cost is not None
        assert (cost.basis, cost.total, cost.per_image) == ("images", D("0.24"), D("0.24"))


class TestMegapixels:
    """A per-megapixel entry prices each image's megapixels, rounded up unless exact."""

    def test_rounded_up(self, book: PriceBook) -> None:
        """flux/dev 1024x1024 (1.048576 MP) bills 2 MP: 2 x 0.025 = 0.05 an image; 2 images 0.10."""
        cost = book.image_cost("fal-ai/flux/dev", images=2, size="1024x1024")
        assert cost is not None
        assert (cost.basis, cost.total, cost.per_image) == ("megapixels", D("0.1"), D("0.1"))

    def test_whole_megapixels(self, book: PriceBook) -> None:
        """1000x1000 is exactly 1 MP: 0.025."""
        cost = book.image_cost("fal-ai/flux/dev", images=1, size="1000x1000")
        assert cost is not None
        assert cost.total == D("0.025")

    def test_exact(self) -> None:
        """round: exact bills the pixels as they are: 1.048576 x 0.025 = 0.0262144."""
        data = table_data()
        data["models"][6]["per_megapixel"] = {"price": "0.025", "round": "exact"}
        cost = PriceBook(PriceTable.from_dict(data)).image_cost(
            "fal-ai/flux/dev", images=1, size="1024x1024"
        )
        assert cost is not None
        assert cost.total == D("0.0262144")

    def test_needs_a_pixel_count(self, book: PriceBook) -> None:
        """A tier name has no pixel count: unknown, with the reason."""
        with structlog.testing.capture_logs() as logs:
            assert book.image_cost("fal-ai/flux/dev", images=1, size="1K") is None
        assert logs[0]["reason"] == "no WxH size to count"


class TestRequests:
    """A per-request entry prices the request, whatever the images."""

    @pytest.mark.parametrize("images", [None, 1, 4])
    def test_one_price(self, book: PriceBook, images: int | None) -> None:
        """acme-upscale: 0.01 a request."""
        cost = book.image_cost("acme-upscale", images=images)
        assert cost is not None
        assert (cost.basis, cost.total, cost.per_image) == ("requests", D("0.01"), D("0.01"))


class TestBilled:
    """What the provider says it billed is priced when the entry prices its unit."""

    def test_billed_megapixels(self, book: PriceBook) -> None:
        """fal billed 3 megapixels: 3 x 0.025 = 0.075, whatever the size says."""
        billed = Billed(D("3"), "megapixels")
        cost = book.image_cost("fal-ai/flux/dev", images=1, size="1024x1024", billed=billed)
        assert cost is not None
        assert (cost.basis, cost.total, cost.per_image) == ("billed", D("0.075"), D("0.075"))

    def test_unit_not_priced(self, book: PriceBook) -> None:
        """A billed unit the entry has no price for: priced by its own unit (2 MP: 0.05)."""
        billed = Billed(D("7"), "seconds")
        cost = book.image_cost("fal-ai/flux/dev", images=1, size="1024x1024", billed=billed)
        assert cost is not None
        assert (cost.basis, cost.total) == ("megapixels", D("0.05"))

    def test_tokens_first(self) -> None:
        """Reported token usage comes before what was billed."""
        data = table_data()
        data["models"][0]["per_billed_unit"] = {"images": "1.00"}
        book = PriceBook(PriceTable.from_dict(data))
        billed = Billed(D("1"), "images")
        by_tokens = book.image_cost("gpt-image-2", usage=tokens(0, 1000), billed=billed)
        by_billed = book.image_cost("gpt-image-2", images=1, billed=billed)
        assert by_tokens is not None
        assert by_billed is not None
        assert (by_tokens.basis, by_tokens.total) == ("tokens", D("0.03"))  # 1000 x 30/M
        assert (by_billed.basis, by_billed.total) == ("billed", D("1.00"))

    @pytest.mark.parametrize("quantity", [D("-1"), "many", None, True])
    def test_bad_quantity(self, book: PriceBook, quantity: Any) -> None:
        """Any object with a quantity and a unit is read; a quantity that is no amount is not."""
        billed = SimpleNamespace(quantity=quantity, unit="megapixels")
        with structlog.testing.capture_logs() as logs:
            cost = book.image_cost("fal-ai/flux/dev", images=1, size="1000x1000", billed=billed)
        assert cost is not None
        assert (cost.basis, cost.total) == ("megapixels", D("0.025"))
        assert logs[0]["reason"] == "billed quantity is not a number"

    def test_event_usage_billed(self, book: PriceBook) -> None:
        """cost_of reads usage.billed."""
        event = ImageUsageEvent(
            request_id="r1",
            provider="fal",
            model="fal-ai/flux/dev",
            images=1,
            size="1024x1024",
            usage=ImageUsage(billed=Billed(D("4"), "megapixels")),
        )
        cost = book.cost_of(event)
        assert cost is not None
        assert (cost.basis, cost.total) == ("billed", D("0.1"))  # 4 x 0.025, not 2 MP x 0.025


class TestSetPrice:
    """set_price takes prices in every unit; what it is not given is kept."""

    def test_per_megapixel(self, book: PriceBook) -> None:
        """A new per-megapixel model: 0.02 a megapixel, 1024x1024 rounded up to 2: 0.04."""
        entry = book.set_price("acme-flux", provider="acme", per_megapixel="0.02")
        assert entry.unit == "megapixels"
        cost = book.image_cost("acme-flux", images=1, size="1024x1024")
        assert cost is not None
        assert cost.total == D("0.04")

    def test_per_request(self, book: PriceBook) -> None:
        """An entry moved to a price per request keeps its lifecycle and names."""
        entry = book.set_price("dall-e-3", per_request="0.5")
        assert (entry.unit, entry.per_image, entry.successor) == ("requests", (), "gpt-image-2")
        cost = book.image_cost("dall-e-3", images=3, when=datetime.date(2026, 1, 1))
        assert cost is not None
        assert (cost.basis, cost.total) == ("requests", D("0.5"))

    def test_megapixel_rounding_kept(self, book: PriceBook) -> None:
        """A per-megapixel override given as an object keeps its own rounding."""
        book.set_price("fal-ai/flux/dev", per_megapixel={"price": "0.01", "round": "exact"})
        cost = book.image_cost("fal-ai/flux/dev", images=1, size="1024x1024")
        assert cost is not None
        assert cost.total == D("0.01048576")  # 1.048576 MP x 0.01

    def test_tier_rows(self, book: PriceBook) -> None:
        """Per-image rows with a tier, at runtime: 0.05 at 2K."""
        book.set_price("grok-imagine-image-2.0", per_image=[{"tier": "2K", "price": "0.05"}])
        cost = book.image_cost("grok-imagine-image-2.0", images=2, size="2048x2048")
        assert cost is not None
        assert cost.total == D("0.10")

    @pytest.mark.parametrize(
        ("given", "field"),
        [
            ({"per_request": "-1"}, "set_price(acme).per_request"),
            (
                {"per_megapixel": {"price": "1", "round": "down"}},
                "set_price(acme).per_megapixel.round",
            ),
            ({"per_image": "1", "per_request": "1"}, "set_price(acme).per_request"),
            ({"per_image": [{"tier": "3K", "price": "1"}]}, "set_price(acme).per_image[0].tier"),
            ({"per_image": []}, "set_price(acme).per_image"),
            ({"estimates": "0.1"}, "set_price(acme).per_image"),
        ],
    )
    def test_refused(self, book: PriceBook, given: dict[str, Any], field: str) -> None:
        """A bad price, or prices in two units, change nothing."""
        before = book.table
        with pytest.raises(PriceTableError) as info:
            book.set_price("acme", provider="acme", **given)
        assert info.value.field == field
        assert book.table is before
