"""The price table and exact image cost."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from aievents import (
    EventValidationError,
    ImageCost,
    ImageUsage,
    InputTokensDetails,
    OutputTokensDetails,
    PriceTableError,
)
from aievents.pricing import (
    TOKEN_RATE_NAMES,
    PriceTable,
    cost_of,
    default_table,
    image_cost,
    load_prices,
    set_price,
    shipped_table,
)

from helpers import usage_event

D = Decimal
M = D(1_000_000)


# Every test starts from the shipped table with no warnings given yet.
pytestmark = pytest.mark.usefixtures("shipped_prices")


def tokens(
    *,
    text: int = 0,
    image: int = 0,
    cached: int | None = None,
    out_image: int | None = None,
    out_text: int | None = None,
    output: int | None = None,
) -> ImageUsage:
    """Usage with input details, and output details when out_* are given."""
    out_details = None
    if out_image is not None or out_text is not None:
        out_details = OutputTokensDetails(image_tokens=out_image, text_tokens=out_text)
    return ImageUsage(
        input_tokens=text + image,
        output_tokens=output if output is not None else (out_image or 0) + (out_text or 0),
        input_tokens_details=InputTokensDetails(
            text_tokens=text, image_tokens=image, cached_tokens=cached
        ),
        output_tokens_details=out_details,
    )


# Rates of pricing.md, per 1M tokens: text, image, cached text, cached image, out image, out text.
TOKEN_ROWS = {
    "gpt-image-1": ("5.00", "10.00", "1.25", "2.50", "40.00", None),
    "gpt-image-1-mini": ("2.00", "2.50", "0.20", "0.25", "8.00", None),
    "gpt-image-1.5": ("5.00", "8.00", "1.25", "2.00", "32.00", "10.00"),
    "gpt-image-2": ("5.00", "8.00", "1.25", "2.00", "30.00", None),
}

# Per-image rows of pricing.md: model, quality, size, price.
IMAGE_ROWS = [
    ("dall-e-2", None, "256x256", "0.016"),
    ("dall-e-2", None, "512x512", "0.018"),
    ("dall-e-2", None, "1024x1024", "0.020"),
    ("dall-e-3", "standard", "1024x1024", "0.040"),
    ("dall-e-3", "standard", "1024x1792", "0.080"),
    ("dall-e-3", "standard", "1792x1024", "0.080"),
    ("dall-e-3", "hd", "1024x1024", "0.080"),
    ("dall-e-3", "hd", "1024x1792", "0.120"),
    ("dall-e-3", "hd", "1792x1024", "0.120"),
]

ESTIMATE_ROWS = [
    ("low", "1024x1024", "0.011"),
    ("low", "1024x1536", "0.016"),
    ("low", "1536x1024", "0.016"),
    ("medium", "1024x1024", "0.042"),
    ("medium", "1024x1536", "0.063"),
    ("medium", "1536x1024", "0.063"),
    ("high", "1024x1024", "0.167"),
    ("high", "1024x1536", "0.25"),
    ("high", "1536x1024", "0.25"),
]

OTHER_ROWS = [
    ("google", "imagen-4.0-generate-001", "0.04"),
    ("google", "imagen-4.0-fast-generate-001", "0.02"),
    ("google", "imagen-4.0-ultra-generate-001", "0.06"),
    ("stability", "sd3.5-large", "0.065"),
    ("stability", "stable-image-core", "0.03"),
    ("stability", "stable-image-ultra", "0.08"),
    ("bfl", "flux-pro-1.1", "0.04"),
]


class TestShippedTable:
    """The shipped table has every entry of pricing.md, with source and date."""

    def test_every_entry_has_source_and_date(self) -> None:
        """Each entry names where its price comes from and when it was checked."""
        table = shipped_table()
        assert table.version == "2026-12-01"
        for price in table.models.values():
            assert price.source, price.model
            assert datetime.date.fromisoformat(price.effective), price.model

    @pytest.mark.parametrize("model", TOKEN_ROWS)
    def test_token_rates(self, model: str) -> None:
        """Token rates are the table's, as exact Decimals."""
        rates = shipped_table().lookup(model, "openai")
        assert rates is not None
        assert rates.unit == "tokens"
        assert rates.tokens is not None
        expected = [None if r is None else D(r) for r in TOKEN_ROWS[model]]
        assert [
            rates.tokens.input_text,
            rates.tokens.input_image,
            rates.tokens.cached_input_text,
            rates.tokens.cached_input_image,
            rates.tokens.output_image,
            rates.tokens.output_text,
        ] == expected

    def test_file_is_the_package_data(self) -> None:
        """The table is read from prices.json inside the package."""
        import aievents.pricing

        path = Path(aievents.pricing.__file__).parent / "prices.json"
        assert PriceTable.from_file(path) == shipped_table()


class TestTokenCost:
    """Token-billed models are priced from the usage, every component at its rate."""

    def test_worked_example(self) -> None:
        """pricing.md's example: 10 text + 40 image in, 50 out on gpt-image-1 is $0.00245."""
        usage = ImageUsage(
            input_tokens=50,
            output_tokens=50,
            total_tokens=100,
            input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
        )
        cost = image_cost("gpt-image-1", usage=usage)
        assert cost is not None
        assert cost.total == D("0.00245")
        assert cost.breakdown() == {
            "input_text": D("0.00005"),
            "input_image": D("0.0004"),
            "output_image": D("0.002"),
        }
        assert cost.basis == "tokens"
        assert cost.price_version == "2026-12-01"
        assert cost.priced_model == "gpt-image-1"
        assert cost.complete

    @pytest.mark.parametrize("model", TOKEN_ROWS)
    def test_each_component(self, model: str) -> None:
        """Every kind of token is charged at its own rate, and the total is their exact sum."""
        text, image, cached_text, cached_image, out_image, out_text = TOKEN_ROWS[model]
        usage = tokens(
            text=1000, image=3000, cached=1500, out_image=4000, out_text=200 if out_text else 0
        )
        cost = image_cost(model, provider="openai", usage=usage)
        assert cost is not None
        # 1500 cached: 1000 from the text input, 500 from the image input.
        expected = {
            "input_text": 0 * D(text) / M,
            "input_image": 2500 * D(image) / M,
            "cached_input": (1000 * D(cached_text) + 500 * D(cached_image)) / M,
            "output_image": 4000 * D(out_image) / M,
            "output_text": (200 * D(out_text) / M) if out_text else D(0),
        }
        assert cost.input_text == expected["input_text"]
        assert cost.input_image == expected["input_image"]
        assert cost.cached_input == expected["cached_input"]
        assert cost.output_image == expected["output_image"]
        assert cost.output_text == expected["output_text"]
        assert cost.per_image == 0
        assert cost.total == sum(expected.values())

    def test_n_is_not_applied_twice(self) -> None:
        """gpt-image-1 with n=4: the usage already covers the four images."""
        usage = tokens(text=20, out_image=4 * 1056)
        one_image = image_cost("gpt-image-1", usage=tokens(text=20, out_image=1056))
        four = image_cost("gpt-image-1", usage=usage, images=4, size="1024x1024", quality="low")
        assert four is not None
        assert one_image is not None
        assert four.total == 20 * D("5") / M + 4224 * D("40") / M
        assert four.total == D("0.16906")
        assert four.per_image == 0
        assert four.total < 4 * one_image.total + D("0.0001")

    def test_output_without_details_is_image(self) -> None:
        """Without output_tokens_details, all output tokens are image tokens."""
        cost = image_cost("gpt-image-1.5", usage=tokens(text=100, output=1000))
        assert cost is not None
        assert cost.output_image == 1000 * D("32") / M
        assert cost.output_text == 0

    def test_input_without_details_is_text(self) -> None:
        """Without input_tokens_details, all input tokens are priced as text."""
        cost = image_cost("gpt-image-1", usage=ImageUsage(input_tokens=100, output_tokens=0))
        assert cost is not None
        assert cost.input_text == 100 * D("5") / M
        assert cost.total == cost.input_text

    def test_unpriced_component(self) -> None:
        """Tokens of a kind the model has no rate for are reported, not silently priced at 0."""
        cost = image_cost("gpt-image-1", usage=tokens(text=10, out_image=100, out_text=7))
        assert cost is not None
        assert cost.unpriced == ("output_text",)
        assert not cost.complete
        assert cost.total == 10 * D("5") / M + 100 * D("40") / M

    def test_dated_snapshot(self) -> None:
        """A dated snapshot is priced as its base model."""
        cost = image_cost("gpt-image-1-2025-04-15", usage=tokens(text=10, out_image=10))
        assert cost is not None
        assert cost.priced_model == "gpt-image-1"

    def test_no_float_drift(self) -> None:
        """Summing many costs stays exact."""
        cost = image_cost("gpt-image-1-mini", usage=tokens(text=7, image=3, out_image=11))
        assert cost is not None
        assert sum((cost.total for _ in range(10_000)), D(0)) == cost.total * 10_000


class TestIncompleteTokens:
    """Usage without output tokens is no usage: the request is priced as if none came."""

    @pytest.mark.parametrize(
        "usage", [ImageUsage(input_tokens=0), ImageUsage(input_tokens=50), ImageUsage()]
    )
    def test_falls_back_to_estimate(self, usage: ImageUsage) -> None:
        """gpt-image-1, 2 images 1024x1024 medium, no output tokens: 2 x $0.042 = $0.084."""
        cost = image_cost("gpt-image-1", usage=usage, images=2, size="1024x1024", quality="medium")
        assert cost is not None
        assert (cost.basis, cost.total) == ("estimate", D("0.084"))

    def test_no_output_no_images_is_unknown(self) -> None:
        """Input tokens alone and nothing to estimate from: unknown, never a made-up $0."""
        with structlog.testing.capture_logs():
            assert image_cost("gpt-image-1", usage=ImageUsage(input_tokens=0)) is None

    def test_output_tokens_priced(self) -> None:
        """Output tokens reported: priced by tokens (50 out x $40/M = $0.002)."""
        cost = image_cost("gpt-image-1", usage=ImageUsage(input_tokens=0, output_tokens=50))
        assert cost is not None
        assert (cost.basis, cost.total) == ("tokens", D("0.002"))


class TestPerImageCost:
    """Per-image models cost the price for size and quality times the images returned."""

    @pytest.mark.parametrize(("model", "quality", "size", "price"), IMAGE_ROWS)
    def test_rows(self, model: str, quality: str | None, size: str, price: str) -> None:
        """Each per-image row of pricing.md, for one and three images."""
        for images in (1, 3):
            cost = image_cost(model, images=images, size=size, quality=quality or "standard")
            assert cost is not None
            assert cost.total == D(price) * images
            assert cost.per_image == cost.total
            assert cost.basis == "images"

    def test_dall_e_3_hd_two_images(self) -> None:
        """dall-e-3 hd 1792x1024 with two images costs $0.24."""
        cost = image_cost("dall-e-3", images=2, size="1792x1024", quality="hd")
        assert cost is not None
        assert cost.total == D("0.24")

    @pytest.mark.parametrize(("provider", "model", "price"), OTHER_ROWS)
    def test_other_providers(self, provider: str, model: str, price: str) -> None:
        """Other providers' per-image prices apply whatever the size."""
        cost = image_cost(model, provider=provider, images=2, size="1024x1024")
        assert cost is not None
        assert cost.total == 2 * D(price)

    def test_gemini_image_tokens(self) -> None:
        """gemini-2.5-flash-image: $30 per 1M output image tokens; 1290 tokens is $0.0387."""
        usage = ImageUsage(
            input_tokens=12,
            output_tokens=1290,
            output_tokens_details=OutputTokensDetails(image_tokens=1290),
        )
        cost = image_cost("gemini-2.5-flash-image", provider="google", usage=usage)
        assert cost is not None
        assert cost.output_image == D("0.0387")
        assert cost.input_text == D("0.0000036")  # 12 x $0.30 / 1M
        assert cost.unpriced == ()
        estimate = image_cost("gemini-2.5-flash-image", images=1, size="1024x1024")
        assert estimate is not None
        assert estimate.total == D("0.039")

    @pytest.mark.parametrize(("quality", "size", "price"), ESTIMATE_ROWS)
    def test_estimates_without_usage(self, quality: str, size: str, price: str) -> None:
        """gpt-image-1 without usage is estimated per image by quality and size."""
        cost = image_cost("gpt-image-1", images=2, size=size, quality=quality)
        assert cost is not None
        assert cost.basis == "estimate"
        assert cost.total == 2 * D(price)

    def test_missing_facts(self) -> None:
        """Without images, or for a size the table has no price for, the cost is unknown."""
        assert image_cost("dall-e-3", size="1024x1024", quality="hd") is None
        assert image_cost("dall-e-2", images=1, size="2048x2048") is None
        assert image_cost("gpt-image-1", images=1, size="auto", quality="auto") is None


class TestUnknown:
    """A model the table does not know costs None and is logged once."""

    def test_none_and_one_warning(self) -> None:
        """Unknown models give None, never 0, with exactly one warning per model."""
        with structlog.testing.capture_logs() as logs:
            for _ in range(5):
                assert image_cost("mystery-model", usage=tokens(text=5, out_image=5)) is None
            assert image_cost("other-mystery", images=1) is None
        warnings = [log for log in logs if log["event"] == "price_unknown"]
        assert [w["model"] for w in warnings] == ["mystery-model", "other-mystery"]
        assert all(w["log_level"] == "warning" for w in warnings)

    def test_event_without_model(self) -> None:
        """cost_of an event with no model is None."""
        assert cost_of(usage_event(model="mystery")) is None


class TestOverrides:
    """Prices can be overridden or added at runtime and loaded from a file."""

    def test_negotiated_rate(self) -> None:
        """Overriding one rate keeps the others and changes the table version."""
        before = default_table().version
        set_price("gpt-image-1", tokens={"output_image": "32.00"}, source="contract 2026")
        usage = ImageUsage(
            input_tokens=50,
            output_tokens=50,
            input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
        )
        cost = image_cost("gpt-image-1", usage=usage)
        assert cost is not None
        assert cost.total == D("0.00005") + D("0.0004") + 50 * D("32") / M
        assert cost.price_version == f"{before}+local.1"
        entry = default_table().lookup("gpt-image-1")
        assert entry is not None
        assert entry.source == "contract 2026"
        assert len(entry.estimates) == 9

    def test_new_model(self) -> None:
        """A new per-image model is priced after set_price, with no warning."""
        set_price("acme-image-v2", provider="acme", per_image={"1024x1024": "0.05"})
        with structlog.testing.capture_logs() as logs:
            cost = image_cost("acme-image-v2", provider="acme", images=3, size="1024x1024")
        assert cost is not None
        assert cost.total == D("0.15")
        assert logs == []

    def test_bad_override_changes_nothing(self) -> None:
        """A malformed override raises naming the field and leaves the table as it was."""
        table = default_table()
        with pytest.raises(PriceTableError) as info:
            set_price("gpt-image-1", tokens={"output_image": "-3"})
        assert info.value.field == "set_price(gpt-image-1).tokens.output_image"
        with pytest.raises(PriceTableError, match="input_txt"):
            set_price("gpt-image-1", tokens={"input_txt": "1"})
        with pytest.raises(PriceTableError):
            set_price("gpt-image-1")
        assert default_table() is table

    def test_explicit_table(self) -> None:
        """A table passed to image_cost is used instead of the process-wide one."""
        table = shipped_table().with_prices([], version="mine")
        cost = image_cost("dall-e-2", images=1, size="256x256", table=table)
        assert cost is not None
        assert cost.price_version == "mine"

    def test_load_file(self, tmp_path: Path) -> None:
        """load_prices adds a file's entries; replace=True uses the file alone."""
        data = {
            "format": 1,
            "version": "acme-2026-11",
            "currency": "usd",
            "models": [
                {
                    "provider": "acme",
                    "model": "acme-paint",
                    "unit": "images",
                    "per_image": [{"price": "0.01"}],
                    "source": "contract",
                    "effective": "2026-11-01",
                }
            ],
        }
        path = tmp_path / "prices.json"
        path.write_text(json.dumps(data))
        load_prices(path)
        assert image_cost("acme-paint", images=2) is not None
        assert image_cost("dall-e-2", images=1, size="256x256") is not None
        load_prices(path, replace=True)
        assert default_table().version == "acme-2026-11"
        assert image_cost("dall-e-2", images=1, size="256x256") is None

    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda d: d.pop("version"), "version"),
            (lambda d: d.update(currency="eur"), "currency"),
            (lambda d: d.update(models={}), "models"),
            (lambda d: d["models"][0].update(unit="pixels"), "models[0](acme-paint).unit"),
            (
                lambda d: d["models"][0].update(per_image=[{"price": 0.01}]),
                "models[0](acme-paint).per_image[0].price",
            ),
            (
                lambda d: d["models"][0].update(per_image=[{"price": "abc"}]),
                "models[0](acme-paint).per_image[0].price",
            ),
            (lambda d: d["models"][0].pop("model"), "models[0].model"),
            (lambda d: d["models"][0].update(per_image=[]), "models[0](acme-paint).per_image"),
        ],
    )
    def test_bad_file(self, tmp_path: Path, mutate: Any, field: str) -> None:
        """A malformed file raises PriceTableError naming the field; the table is unchanged."""
        data: dict[str, Any] = {
            "version": "x",
            "models": [
                {"provider": "acme", "model": "acme-paint", "unit": "images",
                 "per_image": [{"price": "0.01"}]}
            ],
        }  # fmt: skip
        mutate(data)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data))
        table = default_table()
        with pytest.raises(PriceTableError) as info:
            load_prices(path)
        assert info.value.field == field
        assert isinstance(info.value, ValueError)
        assert default_table() is table

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A missing file or invalid JSON is a clear error naming the path."""
        with pytest.raises(PriceTableError, match="cannot be read"):
            load_prices(tmp_path / "nope.json")
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        with pytest.raises(PriceTableError, match="not valid JSON"):
            load_prices(bad)


class TestCostOnEvents:
    """cost_of prices an event from its own fields."""

    def test_usage_event(self) -> None:
        """An image:usage event with gpt-image-1 usage gets its exact cost."""
        event = usage_event(
            model="gpt-image-1",
            usage=ImageUsage(
                input_tokens=50,
                output_tokens=50,
                input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
            ),
        )
        cost = cost_of(event)
        assert isinstance(cost, ImageCost)
        assert cost.total == D("0.00245")

    def test_per_image_event(self) -> None:
        """A dall-e-3 event with images, size and quality is priced per image."""
        event = usage_event(
            model="dall-e-3", images=2, size="1792x1024", quality="hd", usage=ImageUsage()
        )
        cost = cost_of(event)
        assert cost is not None
        assert cost.total == D("0.24")


class TestBadImages:
    """A count of images that is not a whole number, 0 or more, is refused by name."""

    @pytest.mark.parametrize("images", [-2, True, 1.5])
    def test_refused(self, images: Any) -> None:
        """The error names the field images and its value, not the total it would give."""
        with pytest.raises(EventValidationError) as caught:
            image_cost("sd3.5-large", images=images, size="1024x1024")
        assert caught.value.field == "images"
        assert caught.value.value is images
        assert "total" not in str(caught.value)


class TestRobustness:
    """Defaults, concurrency, decimal context and partial usage."""

    def test_set_price_keeps_the_provider(self) -> None:
        """Overriding a non-OpenAI model without provider= overrides that provider's entry."""
        entry = set_price("sd3.5-large", per_image="0.05")
        assert entry.provider == "stability"
        cost = image_cost("sd3.5-large", provider="stability", images=1)
        assert cost is not None
        assert cost.total == D("0.05")

    def test_concurrent_overrides_all_kept(self) -> None:
        """Overrides made at the same time from many threads are all in the table."""
        import threading

        barrier = threading.Barrier(8)

        def override(index: int) -> None:
            barrier.wait()
            set_price(f"model-{index}", provider="acme", per_image=f"0.0{index + 1}")
            set_price("gpt-image-1", tokens={TOKEN_RATE_NAMES[index % 6]: f"{index + 1}.00"})

        threads = [threading.Thread(target=override, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        table = default_table()
        assert all(table.lookup(f"model-{i}", "acme") is not None for i in range(8))
        rates = table.lookup("gpt-image-1")
        assert rates is not None
        assert rates.tokens is not None
        assert rates.tokens.input_text is not None

    def test_decimal_context_does_not_matter(self) -> None:
        """An application's decimal context (precision, traps) does not change the cost."""
        import decimal

        usage = tokens(text=7, image=13, out_image=4160)
        expected = image_cost("gpt-image-1", usage=usage)
        assert expected is not None
        with decimal.localcontext() as ctx:
            ctx.prec = 3
            ctx.traps[decimal.Inexact] = True
            cost = image_cost("gpt-image-1", usage=usage)
        assert cost is not None
        assert cost.total == expected.total
        assert cost.total == 7 * D(5) / M + 13 * D(10) / M + 4160 * D(40) / M

    def test_partial_details_are_reported(self) -> None:
        """Input tokens the details leave out are listed as unpriced, not dropped silently."""
        usage = ImageUsage(
            input_tokens=50,
            output_tokens=50,
            input_tokens_details=InputTokensDetails(text_tokens=10),
        )
        cost = image_cost("gpt-image-1", usage=usage)
        assert cost is not None
        assert cost.unpriced == ("input_unattributed",)
        assert not cost.complete

    def test_token_usage_on_a_per_image_model(self) -> None:
        """A per-image entry prices by image even when the answer reports tokens."""
        usage = tokens(text=5, out_image=5)
        cost = image_cost("dall-e-2", usage=usage, images=2, size="256x256")
        assert cost is not None
        assert (cost.basis, cost.total) == ("images", D("0.032"))  # 2 x $0.016
        with structlog.testing.capture_logs() as logs:
            assert image_cost("dall-e-2", usage=usage, images=1) is None  # no size: no price
        assert logs[0]["reason"] == "token usage for a per-image price"
