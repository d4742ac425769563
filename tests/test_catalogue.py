"""The shipped price table, entry by entry, priced through the public API.

Every expected figure is worked by hand from ``shared/reference/pricing.md``
(the arithmetic is in the comment beside it); none is read back from the
table under test. Token rates are per 1M tokens.
"""

from __future__ import annotations

import datetime
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
import structlog

from aievents import ImageUsage, ImageUsageEvent, InputTokensDetails
from aievents.pricing import PriceBook, cost_of, estimate, shipped_table
from aievents.sinks import AggregateSink
from aievents.usage import Billed
from reprice_data import tokens

# The default price book on the shipped table, put back after each test.
pytestmark = pytest.mark.usefixtures("shipped_prices")

D = Decimal
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400


#: OpenAI: 400 text (200 of them cached) + 600 image tokens in, 2000 image tokens out.
OPENAI = tokens(400, 2000, image=600, cached=200)
#: The same with 1800 image and 200 text tokens out.
OPENAI_TEXT = tokens(400, 1800, image=600, cached=200, out_text=200)
#: Gemini: 400 text + 600 image tokens in, 1120 image + 100 text tokens out.
GEMINI = tokens(400, 1120, image=600, out_text=100)
#: Gemini with image output only.
GEMINI_IMAGE = tokens(400, 1120, image=600)
#: gemini-2.5-flash-image: one image (1290 tokens) and 100 text tokens out.
GEMINI_25 = tokens(400, 1290, image=600, out_text=100)


class Case(NamedTuple):
    """One request to price: the name called, the entry it is priced as, and the cost."""

    name: str
    priced_as: str
    total: str
    basis: str
    facts: dict[str, Any]


def case(name: str, total: str, basis: str, *, priced_as: str = "", **facts: Any) -> Any:
    """A parameter of :data:`CASES`, its id the name called and the facts given."""
    shown = ",".join(f"{k}={v}" for k, v in facts.items() if k != "usage")
    return pytest.param(Case(name, priced_as or name, total, basis, facts), id=f"{name}[{shown}]")


CASES = [
    # OpenAI, by tokens. OPENAI bills 200 uncached text, 600 image, 200 cached text, 2000 out.
    # 200x5.00 + 600x8.00 + 200x1.25 + 2000x30.00 = 1000 + 4800 + 250 + 60000 = 66050 /1M
    case("gpt-image-2", "0.06605", "tokens", provider="openai", usage=OPENAI),
    case("gpt-image-2.5-flare", "0.06605", "tokens", provider="openai", usage=OPENAI),  # as above
    case("gpt-image-2.5-sunburst", "0.06605", "tokens", usage=OPENAI),  # as above
    # 200x5.00 + 600x8.00 + 200x1.25 + 1800x32.00 + 200x10.00 = 1000+4800+250+57600+2000 /1M
    case("gpt-image-1.5", "0.06565", "tokens", provider="openai", usage=OPENAI_TEXT),
    case("chatgpt-image-latest", "0.06565", "tokens", usage=OPENAI_TEXT),  # gpt-image-1.5's
    # 200x5.00 + 600x10.00 + 200x1.25 + 2000x40.00 = 1000 + 6000 + 250 + 80000 = 87250 /1M
    case("gpt-image-1", "0.08725", "tokens", provider="openai", usage=OPENAI),
    # 200x2.00 + 600x2.50 + 200x0.20 + 2000x8.00 = 400 + 1500 + 40 + 16000 = 17940 /1M
    case("gpt-image-1-mini", "0.01794", "tokens", usage=OPENAI),
    # OpenAI, per image: 2 x 0.020; 2 x 0.120 (hd, 1792x1024)
    case("dall-e-2", "0.040", "images", images=2, size="1024x1024"),
    case("dall-e-3", "0.240", "images", images=2, size="1792x1024", quality="hd"),
    # Google, by tokens. 400x2.00 + 600x2.00 + 1120x120.00 + 100x12.00
    # = 800 + 1200 + 134400 + 1200 = 137600 /1M
    case("gemini-3-pro-image", "0.1376", "tokens", provider="google", usage=GEMINI),
    case("gemini-3-pro-image-preview", "0.1376", "tokens", usage=GEMINI),  # as above
    # 400x0.50 + 600x0.50 + 1120x60.00 = 200 + 300 + 67200 = 67700 /1M
    case("gemini-3.1-flash-image", "0.0677", "tokens", usage=GEMINI_IMAGE),
    case("gemini-3.1-flash-image-preview", "0.0677", "tokens", usage=GEMINI_IMAGE),
    # 400x0.30 + 600x0.30 + 1290x30.00 + 100x2.50 = 120 + 180 + 38700 + 250 = 39250 /1M
    case("gemini-2.5-flash-image", "0.03925", "tokens", usage=GEMINI_25),
    # Google, per image: 3 x 0.0336; 4 x 0.02; 1 x 0.04; 2 x 0.06; 1 x 0.04; 2 x 0.02
    case("gemini-3.1-flash-lite-image", "0.1008", "images", images=3, size="1024x1024"),
    case("imagen-4.0-fast-generate-001", "0.08", "images", images=4),
    case("imagen-4.0-generate-001", "0.04", "images", images=1),
    case("imagen-4.0-ultra-generate-001", "0.12", "images", images=2),
    case("imagen-3.0-generate-002", "0.04", "images", images=1),
    case("imagen-3.0-fast-generate-001", "0.04", "images", images=2),
    # xAI: 2 x 0.02; 0.05; 2K 0.06 and 2 x 1K 0.04; 0.07
    case("grok-imagine-image", "0.04", "images", images=2),
    case("grok-imagine-image-quality", "0.05", "images", images=1),
    case("grok-imagine-image-2.0", "0.06", "images", images=1, size="2K"),
    case("grok-imagine-image-2.0", "0.08", "images", images=2, size="1024x1024"),
    case("grok-2-image-1212", "0.07", "images", images=1),
    # Black Forest Labs: 0.04; 0.06; 4 x 0.025; 0.05; 0.04; 2 x 0.08; 0.05; 0.05
    case("flux-pro-1.1", "0.04", "images", provider="bfl", images=1),
    case("flux-pro-1.1-ultra", "0.06", "images", images=1),
    case("flux-dev", "0.100", "images", images=4),
    case("flux-pro", "0.05", "images", images=1),
    case("flux-kontext-pro", "0.04", "images", images=1),
    case("flux-kontext-max", "0.16", "images", images=2),
    case("flux-pro-1.0-fill", "0.05", "images", images=1),
    case("flux-pro-1.0-expand", "0.05", "images", images=1),
    # Stability direct: 2 x 0.065; 0.04; 3 x 0.035; 0.08; 0.03
    case("sd3.5-large", "0.130", "images", provider="stability", images=2),
    case("sd3.5-large-turbo", "0.04", "images", images=1),
    case("sd3.5-medium", "0.105", "images", images=3),
    case("stable-image-ultra", "0.08", "images", images=1),
    case("stable-image-core", "0.03", "images", images=1),
    # Bedrock: SD3.5 Large 0.08; Ultra 2 x 0.14; Core 0.04
    case("stability.sd3-5-large-v1:0", "0.08", "images", provider="bedrock", images=1),
    case("stability.stable-image-ultra-v1:1", "0.28", "images", images=2),
    case("stability.stable-image-core-v1:1", "0.04", "images", images=1),
    # Titan: premium 1024x1024 2 x 0.012; v2 standard 512x512 0.008; Nova Canvas 2 x 0.06
    case(
        "amazon.titan-image-generator-v1",
        "0.024",
        "images",
        images=2,
        size="1024x1024",
        quality="premium",
    ),
    case(
        "amazon.titan-image-generator-v2:0",
        "0.008",
        "images",
        images=1,
        size="512x512",
        quality="standard",
    ),
    case("amazon.nova-canvas-v1:0", "0.12", "images", images=2),
    # fal-ai/flux/schnell: 0.003 per image (pricing.md), 1 x 0.003; 2 x 0.003.
    case("fal-ai/flux/schnell", "0.003", "images", images=1, size="1024x1024"),
    case("fal-ai/flux/schnell", "0.006", "images", images=2, size="1920x1080"),
    # fal-ai/flux/dev: 0.025 per megapixel of 1024x1024 = 1,048,576 pixels, rounded up:
    # 1920x1080 (2,073,600 pixels, 1.98 MP) is 2: 2 x 0.025; 1024x1024 is 1: 3 x 0.025.
    case("fal-ai/flux/dev", "0.050", "megapixels", provider="fal", images=1, size="1920x1080"),
    case("fal-ai/flux/dev", "0.075", "megapixels", images=3, size="1024x1024"),
    # fal, per image: 0.04; 0.06; 2 x 0.039; nano-banana-pro 4K 0.30, 2 x 1K 0.15;
    # gpt-image-2 through fal at OpenAI's figure, high 1536x1024: 2 x 0.165
    case("fal-ai/flux-pro/v1.1", "0.04", "images", images=1),
    case("fal-ai/flux-pro/v1.1-ultra", "0.06", "images", images=1),
    case("fal-ai/nano-banana", "0.078", "images", images=2),
    case("fal-ai/nano-banana-pro", "0.30", "images", images=1, size="4K"),
    case("fal-ai/nano-banana-pro", "0.30", "images", images=2, size="1024x1024"),
    case("fal-ai/gpt-image-2", "0.330", "images", images=2, size="1536x1024", quality="high"),
]

#: Every model the tables of pricing.md name, by provider (snapshot names included).
PRICING_MD = [
    *(("openai", m) for m in ("gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-flare")),
    *(("openai", m) for m in ("gpt-image-2.5-sunburst", "gpt-image-1.5", "gpt-image-1")),
    *(("openai", m) for m in ("gpt-image-1.5-2025-12-16", "gpt-image-1-mini", "dall-e-2")),
    *(("openai", m) for m in ("chatgpt-image-latest", "dall-e-3")),
    *(("google", m) for m in ("gemini-3-pro-image", "gemini-3-pro-image-preview")),
    *(("google", m) for m in ("gemini-3.1-flash-image", "gemini-3.1-flash-lite-image")),
    *(("google", m) for m in ("gemini-2.5-flash-image", "imagen-4.0-fast-generate-001")),
    *(("google", m) for m in ("imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001")),
    *(("google", m) for m in ("imagen-3.0-generate-002", "imagen-3.0-fast-generate-001")),
    *(("xai", m) for m in ("grok-imagine-image", "grok-imagine-image-quality")),
    *(("xai", m) for m in ("grok-imagine-image-2.0", "grok-2-image-1212")),
    *(("bfl", m) for m in ("flux-pro-1.1", "flux-pro-1.1-ultra", "flux-dev", "flux-pro")),
    *(("bfl", m) for m in ("flux-kontext-pro", "flux-kontext-max", "flux-pro-1.0-fill")),
    ("bfl", "flux-pro-1.0-expand"),
    *(("stability", m) for m in ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium")),
    *(("stability", m) for m in ("stable-image-ultra", "stable-image-core")),
    *(("bedrock", m) for m in ("stability.sd3-5-large-v1:0", "stability.stable-image-core-v1:1")),
    ("bedrock", "stability.stable-image-ultra-v1:1"),
    *(("bedrock", m) for m in ("amazon.titan-image-generator-v1", "amazon.nova-canvas-v1:0")),
    ("bedrock", "amazon.titan-image-generator-v2:0"),
    *(("fal", m) for m in ("fal-ai/flux/schnell", "fal-ai/flux/dev", "fal-ai/flux-pro/v1.1")),
    *(("fal", m) for m in ("fal-ai/flux-pro/v1.1-ultra", "fal-ai/nano-banana")),
    *(("fal", m) for m in ("fal-ai/nano-banana-pro", "fal-ai/gpt-image-2")),
]


@pytest.fixture(name="book")
def _book() -> PriceBook:
    """A book of the shipped table, with no warning given yet."""
    return PriceBook()


def events_named(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    """The log lines of event ``name``."""
    return [line for line in logs if line["event"] == name]


class TestEveryEntry:
    """Each entry of the shipped table prices a request at the figure pricing.md gives."""

    @pytest.mark.parametrize("priced", CASES)
    def test_priced(self, book: PriceBook, priced: Case) -> None:
        """The cost, what it was priced as and on what basis."""
        cost = book.image_cost(priced.name, **priced.facts)
        assert cost is not None
        assert (cost.total, cost.priced_model, cost.basis) == (
            D(priced.total),
            priced.priced_as,
            priced.basis,
        )
        assert cost.unpriced == ()
        assert cost.price_version == "2026-12-01"

    def test_every_entry_has_a_case(self) -> None:
        """No entry of the table goes unpriced by these tests."""
        cases = {param.values[0].priced_as for param in CASES}
        assert sorted({p.model for p in shipped_table().models.values()} - cases) == []

    def test_source_and_dates(self) -> None:
        """Each entry says where its price comes from, and when; its dates are in order."""
        table = shipped_table()
        assert table.version == "2026-12-01"
        version = datetime.date.fromisoformat(table.version)
        for price in table.models.values():
            assert price.source.strip(), price.model
            assert datetime.date.fromisoformat(price.effective) <= version, price.model
            dates = [d for d in (price.released, price.deprecated, price.shutdown) if d]
            assert dates == sorted(dates), price.model

    def test_lifecycle_of_pricing_md(self) -> None:
        """The lifecycle dates are pricing.md's, and only those: none is made up."""
        lifecycle = {
            price.model: {
                key: str(value)
                for key in ("released", "deprecated", "shutdown", "successor")
                if (value := getattr(price, key)) is not None
            }
            for price in shipped_table().models.values()
            if price.provider in ("google", "xai", "bedrock")
        }
        assert {model: dates for model, dates in lifecycle.items() if dates} == {
            "gemini-3-pro-image-preview": {
                "shutdown": "2026-06-25",
                "successor": "gemini-3-pro-image",
            },
            "gemini-3.1-flash-image-preview": {"successor": "gemini-3.1-flash-image"},
            "gemini-2.5-flash-image": {
                "shutdown": "2026-10-02",
                "successor": "gemini-3.1-flash-image",
            },
            **{
                f"imagen-4.0-{name}-001": {"shutdown": "2026-08-17", "successor": successor}
                for name, successor in (
                    ("fast-generate", "gemini-3.1-flash-image"),
                    ("generate", "gemini-3.1-flash-image"),
                    ("ultra-generate", "gemini-3-pro-image"),
                )
            },
            "imagen-3.0-generate-002": {"successor": "gemini-3.1-flash-image"},
            "imagen-3.0-fast-generate-001": {"successor": "gemini-3.1-flash-image"},
            "grok-imagine-image-quality": {"deprecated": "2026-11-02"},
            "amazon.titan-image-generator-v2:0": {"deprecated": "2026-06-30"},
            "amazon.nova-canvas-v1:0": {"deprecated": "2026-09-30"},
        }
        # Retired or legacy with no date in pricing.md: said in the note, status current.
        for model in ("imagen-3.0-generate-002", "grok-2-image-1212"):
            price = shipped_table().lookup(model)
            assert price is not None
            assert price.status(datetime.date(2026, 12, 2)) == "current"
            assert ("Retired" if model.startswith("imagen") else "Legacy") in price.note

    def test_successors_are_priced(self) -> None:
        """A successor named is an entry of the table, and not retired before its forerunner."""
        table = shipped_table()
        for price in table.models.values():
            if price.successor is None:
                continue
            after = table.lookup(price.successor)
            assert after is not None, price.model
            if price.shutdown is not None and after.shutdown is not None:
                assert after.shutdown >= price.shutdown, price.model

    @pytest.mark.parametrize(("provider", "model"), PRICING_MD)
    def test_every_model_of_pricing_md(self, provider: str, model: str) -> None:
        """Every model pricing.md names has an entry of its provider."""
        found = shipped_table().resolve(model, provider)
        assert found is not None
        assert found.price.provider == provider


class TestUnitKinds:
    """One request of each unit kind, worked part by part."""

    def test_tokens_by_modality(self, book: PriceBook) -> None:
        """gpt-image-1.5: each kind of token at its own rate; the usage is not multiplied by n."""
        cost = book.image_cost("gpt-image-1.5", usage=OPENAI_TEXT, images=4)
        assert cost is not None
        assert cost.breakdown() == {
            "input_text": D("0.001"),  # (400 - 200 cached) x 5.00 / 1M
            "input_image": D("0.0048"),  # 600 x 8.00 / 1M
            "cached_input": D("0.00025"),  # 200 x 1.25 / 1M
            "output_image": D("0.0576"),  # 1800 x 32.00 / 1M (the image rate, not the text one)
            "output_text": D("0.002"),  # 200 x 10.00 / 1M
        }

    def test_worked_example_of_pricing_md(self, book: PriceBook) -> None:
        """gpt-image-1, 10 text + 40 image tokens in, 50 out: $0.00245."""
        spec = ImageUsage(
            input_tokens=50,
            output_tokens=50,
            input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
        )
        cost = book.image_cost("gpt-image-1", usage=spec)
        assert cost is not None
        assert cost.total == D("0.00245")  # 10 x 5e-6 + 40 x 10e-6 + 50 x 40e-6

    @pytest.mark.parametrize(
        ("size", "quality", "total"),
        [
            ("1024x1024", "standard", "0.080"),  # 2 x 0.040
            ("1024x1792", "standard", "0.160"),  # 2 x 0.080 (OpenLIT's 0.02 is wrong)
            ("1024x1024", "hd", "0.160"),  # 2 x 0.080
            ("1024x1792", "hd", "0.240"),  # 2 x 0.120
        ],
    )
    def test_per_image_by_size_and_quality(
        self, book: PriceBook, size: str, quality: str, total: str
    ) -> None:
        """dall-e-3: the price of the size and quality, times the images."""
        cost = book.image_cost("dall-e-3", images=2, size=size, quality=quality)
        assert cost is not None
        assert (cost.total, cost.per_image) == (D(total), D(total))

    @pytest.mark.parametrize(
        ("size", "total"),
        [("1K", "0.04"), ("1024x1024", "0.04"), ("2K", "0.06"), ("2048x1152", "0.06")],
    )
    def test_per_resolution_tier(self, book: PriceBook, size: str, total: str) -> None:
        """grok-imagine-image-2.0: 0.04 at 1K, 0.06 at 2K (2048x1152 is 2.4 MP: 2K)."""
        cost = book.image_cost("grok-imagine-image-2.0", images=1, size=size)
        assert cost is not None
        assert cost.total == D(total)

    def test_per_megapixel(self, book: PriceBook) -> None:
        """fal-ai/flux/dev: 1920x1080 is 1.98 fal megapixels (1024x1024 each), billed as 2."""
        cost = book.image_cost("fal-ai/flux/dev", images=2, size="1920x1080")
        assert cost is not None
        assert (cost.total, cost.basis) == (D("0.100"), "megapixels")  # 2 images x 2 x 0.025

    @pytest.mark.parametrize(
        ("model", "billed", "total"),
        [
            ("fal-ai/flux/dev", Billed(D(3), "megapixels"), "0.075"),  # 3 x 0.025
            ("fal-ai/flux/schnell", Billed(D(7), "images"), "0.021"),  # 7 x 0.003
            ("fal-ai/nano-banana", Billed(D(2), "images"), "0.078"),  # 2 x 0.039
        ],
    )
    def test_provider_billed(self, book: PriceBook, model: str, billed: Billed, total: str) -> None:
        """What fal says it billed is priced by the entry's price of that unit."""
        cost = book.image_cost(model, billed=billed, images=1, size="1024x1024")
        assert cost is not None
        assert (cost.total, cost.basis) == (D(total), "billed")


class TestNames:
    """Aliases, snapshot names and gateway prefixes price as the model they stand for."""

    @pytest.mark.parametrize(
        ("name", "priced_as", "via"),
        [
            ("gpt-image-2-2026-04-21", "gpt-image-2", "alias"),
            ("gpt-image-1.5-2025-12-16", "gpt-image-1.5", "alias"),
            ("grok-2-image", "grok-2-image-1212", "alias"),
            ("grok-2-image-latest", "grok-2-image-1212", "alias"),
            ("stability.stable-image-ultra-v1:0", "stability.stable-image-ultra-v1:1", "alias"),
            ("amazon.titan-image-generator-v1:0", "amazon.titan-image-generator-v1", "alias"),
            ("gpt-image-1-2025-04-15", "gpt-image-1", "snapshot"),
            ("openrouter/google/gemini-3-pro-image", "gemini-3-pro-image", "pattern"),
            ("openrouter/openai/gpt-image-1", "gpt-image-1", "pattern"),
            ("azure/gpt-image-2", "gpt-image-2", "pattern"),
            ("models/gemini-2.5-flash-image", "gemini-2.5-flash-image", "pattern"),
            ("x-ai/grok-imagine-image", "grok-imagine-image", "pattern"),
            ("fal_ai/fal-ai/flux/dev", "fal-ai/flux/dev", "pattern"),
            ("bedrock/amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1:0", "pattern"),
        ],
    )
    def test_resolved(self, name: str, priced_as: str, via: str) -> None:
        """The name leads to the entry, and says how."""
        found = shipped_table().resolve(name)
        assert found is not None
        assert (found.priced_as, found.via) == (priced_as, via)

    def test_snapshot_priced(self, book: PriceBook) -> None:
        """gpt-image-2's snapshot costs what gpt-image-2 does, and says what it was priced as."""
        cost = book.image_cost("gpt-image-2-2026-04-21", usage=OPENAI)
        assert cost is not None
        assert (cost.total, cost.priced_model) == (D("0.06605"), "gpt-image-2")  # see CASES

    def test_gateway_priced(self, book: PriceBook) -> None:
        """OpenRouter's name of a Gemini model: 400x2 + 600x2 + 1120x120 + 100x12 per 1M."""
        cost = book.image_cost("openrouter/google/gemini-3-pro-image", usage=GEMINI)
        assert cost is not None
        assert (cost.total, cost.priced_model) == (D("0.1376"), "gemini-3-pro-image")

    def test_event_keeps_the_name_called(self) -> None:
        """cost_of an event of an alias: the event's model is the alias, priced_as the entry."""
        event = ImageUsageEvent(
            request_id="r1", provider="xai", model="grok-2-image", images=3, usage=ImageUsage()
        )
        cost = cost_of(event)
        assert cost is not None
        assert (cost.total, cost.priced_model, event.model) == (
            D("0.21"),  # 3 x 0.07
            "grok-2-image-1212",
            "grok-2-image",
        )


class TestRetired:
    """A model past its shutdown is priced all the same, with one warning naming its successor."""

    def test_priced_and_warned_once(self, book: PriceBook) -> None:
        """dall-e-3, shut down 2026-05-12: 0.040 a call, one model_retired warning."""
        with structlog.testing.capture_logs() as logs:
            costs = [
                book.image_cost("dall-e-3", images=1, size="1024x1024", quality="standard")
                for _ in range(3)
            ]
        assert [c.total if c else None for c in costs] == [D("0.040")] * 3
        (warned,) = events_named(logs, "model_retired")
        assert (warned["model"], warned["successor"]) == ("dall-e-3", "gpt-image-2")
        assert events_named(logs, "price_unknown") == []

    def test_each_book_warns(self) -> None:
        """Each book warns about a retired model once, for itself."""
        with structlog.testing.capture_logs() as logs:
            for book in (PriceBook(), PriceBook()):
                for _ in range(2):
                    assert book.image_cost("imagen-4.0-generate-001", images=1) is not None
        assert [line["successor"] for line in events_named(logs, "model_retired")] == [
            "gemini-3.1-flash-image"
        ] * 2

    def test_status_today(self) -> None:
        """Each entry's lifecycle status on the table's date."""
        on = datetime.date(2026, 12, 1)
        table = shipped_table()
        status = {p.model: p.status(on) for p in table.models.values()}
        assert status["gpt-image-2"] == "current"
        assert status["gpt-image-1"] == "deprecated"  # since 2026-10-23
        assert status["gpt-image-1.5"] == "shutdown"  # on 2026-12-01
        assert status["dall-e-2"] == "shutdown"  # since 2026-05-12
        assert status["grok-imagine-image-quality"] == "deprecated"  # since 2026-11-02
        assert status["gpt-image-2.5-flare"] == "current"  # released 2026-09-08
        assert table.models[("openai", "gpt-image-2.5-flare")].status(
            datetime.date(2026, 9, 7)
        ) == ("upcoming")


class TestUnknown:
    """A model no entry prices costs None, warns once, and is counted as unpriced."""

    def test_none_and_one_warning(self, book: PriceBook) -> None:
        """Three calls: None each time, one price_unknown warning."""
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                assert book.image_cost("acme-image-x", images=1) is None
                assert book.image_cost("openrouter/acme/image-x", images=1) is None
        assert [line["model"] for line in events_named(logs, "price_unknown")] == [
            "acme-image-x",
            "openrouter/acme/image-x",
        ]

    def test_counted_as_unpriced(self, book: PriceBook) -> None:
        """An AggregateSink report counts the request, its images, and it as unpriced."""
        sink = AggregateSink(prices=book, clock=lambda: T0 + DAY)
        for index, model in enumerate(("acme-image-x", "sd3.5-large")):
            sink.handle(
                ImageUsageEvent(
                    request_id=f"r{index}",
                    timestamp=(T0 + 60) * 1000,
                    provider="stability",
                    model=model,
                    images=2,
                    usage=ImageUsage(),
                )
            )
        page = sink.usage(start_time=T0, end_time=T0 + DAY, group_by=["model"])
        results = {r.model: r for r in page.data[0].results}  # type: ignore[union-attr]
        unknown, known = results["acme-image-x"], results["sd3.5-large"]
        assert (unknown.num_model_requests, unknown.images, unknown.unpriced_requests) == (1, 2, 1)
        assert unknown.cost is None
        assert (known.unpriced_requests, known.cost) == (0, D("0.130"))  # 2 x 0.065


class TestEstimates:
    """estimate() gives a request's cost before it is sent, and says how it was worked out."""

    @pytest.mark.parametrize(
        ("model", "asked", "each", "method"),
        [
            ("gpt-image-2", ("1024x1024", "high", 2), "0.211", "per_image_estimate"),
            ("gpt-image-2.5-sunburst", ("1536x1024", "medium", 1), "0.041", "per_image_estimate"),
            ("gpt-image-1.5", ("1024x1536", "low", 3), "0.013", "per_image_estimate"),
            ("gpt-image-1-mini", ("1536x1024", "medium", 2), "0.015", "per_image_estimate"),
            ("gemini-3-pro-image", ("4K", None, 1), "0.24", "per_image_estimate"),
            ("gemini-3.1-flash-image", ("512", None, 2), "0.045", "per_image_estimate"),
            # 1290 tokens x 30.00 / 1M = 0.0387 at any size (Google rounds it to 0.039)
            ("gemini-2.5-flash-image", ("1024x1024", None, 1), "0.0387", "typical_tokens"),
            ("gemini-2.5-flash-image", ("832x1248", None, 2), "0.0387", "typical_tokens"),
            ("dall-e-3", ("1024x1792", "standard", 2), "0.080", "per_image"),
            ("fal-ai/flux/dev", ("1920x1080", None, 1), "0.05", "megapixels"),  # 2 MP
            ("stable-image-core", (None, None, 4), "0.03", "per_image"),
            # No size or quality named (the SDKs' defaults): the provider's default, else
            # the dearest price. gemini-3-pro-image at Gemini's default 1K: 0.134.
            ("gemini-3-pro-image", (None, None, 1), "0.134", "per_image_estimate"),
            # gpt-image-2 auto: its dearest estimate, 1024x1024 high 0.211.
            ("gpt-image-2", ("auto", "auto", 1), "0.211", "per_image_estimate"),
            # Titan's default: 1024x1024 standard, 0.01; at 512x512 standard 0.008.
            ("amazon.titan-image-generator-v1", (None, None, 2), "0.01", "per_image"),
            ("amazon.titan-image-generator-v2:0", ("512x512", None, 1), "0.008", "per_image"),
            # flux/dev at fal's default landscape_4_3, 1024x768: 1 MP x 0.025.
            ("fal-ai/flux/dev", (None, None, 1), "0.025", "megapixels"),
            # grok-imagine-image-2.0: the dearest, 2K 0.06.
            ("grok-imagine-image-2.0", (None, None, 1), "0.06", "per_image"),
        ],
    )
    def test_estimate(
        self, model: str, asked: tuple[str | None, str | None, int], each: str, method: str
    ) -> None:
        """The per-image figure times n, the method, and what it was priced as."""
        size, quality, n = asked
        found = estimate(model, size=size, quality=quality, n=n)
        assert found is not None
        assert (found.per_image, found.total, found.images) == (D(each), n * D(each), n)
        assert (found.method, found.priced_as, found.price_version) == (
            method,
            model,
            "2026-12-01",
        )

    def test_unknown(self) -> None:
        """No entry, or no figure for the size asked: None, never 0."""
        assert estimate("acme-image-x", size="1024x1024", n=1) is None
        assert estimate("gpt-image-1-mini", size="1024x1024", quality="high", n=1) is None


class TestPeersBugs:
    """The price bugs of peers that pricing.md lists are not repeated."""

    def test_imagen_is_not_ten_times(self, book: PriceBook) -> None:
        """Imagen 4 is 0.04 a standard image, not 0.40 (TanStack)."""
        cost = book.image_cost("imagen-4.0-generate-001", images=1)
        assert cost is not None
        assert cost.total == D("0.04")

    def test_gpt_image_2_is_not_gpt_image_1(self, book: PriceBook) -> None:
        """gpt-image-2's image output is 30.00/M, not gpt-image-1's 40.00 (Helicone), nor 0."""
        out = ImageUsage(output_tokens=1000, input_tokens=0)
        cost = book.image_cost("gpt-image-2", usage=out)
        assert cost is not None
        assert cost.total == D("0.03")  # 1000 x 30.00 / 1M

    def test_fal_gpt_image_2_by_size_and_quality(self, book: PriceBook) -> None:
        """fal's gpt-image-2 is priced by size and quality, not a flat 0.145 (litellm)."""
        low = book.image_cost("fal-ai/gpt-image-2", images=1, size="1024x1024", quality="low")
        high = book.image_cost("fal-ai/gpt-image-2", images=1, size="1024x1024", quality="high")
        assert low is not None
        assert high is not None
        assert (low.total, high.total) == (D("0.006"), D("0.211"))
