"""read_answer / to_answer: each provider's whole answer, as its SDK or its docs shape it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import openai
import pytest

from aievents import EventValidationError, ImageUsage
from aievents.adapters import Answer, read_answer, to_answer
from aievents.usage import Billed

PNG = "iVBORw0KGgo="  # stands for an image's base64


class FileOutput:
    """Stands for ``replicate.helpers.FileOutput`` (known by its class name)."""

    def __init__(self, url: str) -> None:
        self.url = url


class TestOpenAIImagesResponse:
    """An ImagesResponse (SDK object or JSON) gives images, usage, size, quality."""

    BODY: ClassVar[dict[str, Any]] = {
        "created": 1_700_000_000,
        "data": [{"b64_json": PNG}, {"b64_json": PNG}],
        "size": "1024x1536",
        "quality": "high",
        "output_format": "png",
        "usage": {
            "input_tokens": 50,
            "output_tokens": 100,
            "total_tokens": 150,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
        },
    }

    def test_dict(self) -> None:
        """The JSON body: everything but a request id."""
        answer = to_answer(self.BODY)
        assert answer.images == 2
        assert answer.size == "1024x1536"
        assert answer.quality == "high"
        assert answer.request_id is None
        assert answer.usage is not None
        assert answer.usage.input_image_tokens == 40
        assert answer.usage.output_tokens == 100

    def test_sdk_object(self) -> None:
        """The SDK's ImagesResponse reads the same."""
        response = openai.types.ImagesResponse.model_validate(self.BODY)
        assert read_answer(response) == to_answer(self.BODY)

    def test_dall_e(self) -> None:
        """DALL-E's answer: URLs, no usage."""
        answer = to_answer({"created": 1, "data": [{"url": "https://x/1.png"}]})
        assert answer == Answer(images=1)


class TestFal:
    """fal's result: its images, their size, the flagged ones filtered."""

    def test_images(self) -> None:
        """Two 1024x768 images, none flagged."""
        image = {"url": "https://fal.media/1.png", "width": 1024, "height": 768}
        result = {
            "images": [image, dict(image, url="https://fal.media/2.png")],
            "seed": 42,
            "has_nsfw_concepts": [False, False],
            "timings": {"inference": 0.4},
            "prompt": "a fox",
        }
        assert to_answer(result) == Answer(images=2, size="1024x768", filtered=0)

    def test_flagged(self) -> None:
        """An image flagged by the safety checker is filtered, not counted."""
        image = {"url": "https://fal.media/1.png", "width": 512, "height": 512}
        result = {"images": [image, image], "has_nsfw_concepts": [True, False]}
        assert to_answer(result) == Answer(images=1, size="512x512", filtered=1)

    def test_single_image(self) -> None:
        """Upscalers answer one ``image``."""
        assert to_answer({"image": {"url": "https://fal.media/u.png"}}) == Answer(images=1)

    def test_bad_width(self) -> None:
        """A width that is not a number of pixels is named."""
        with pytest.raises(EventValidationError) as info:
            to_answer({"images": [{"url": "https://fal.media/1.png", "width": -1, "height": 2}]})
        assert info.value.field == "images[0].width"


class TestBedrock:
    """An invoke_model body: Titan/Nova images, Stability's finish reasons."""

    def test_titan(self) -> None:
        """Titan and Nova Canvas: ``{"images": [...], "error": null}``."""
        assert to_answer({"images": [PNG, PNG], "error": None}) == Answer(images=2)

    def test_stability_filtered(self) -> None:
        """Stability on Bedrock: an image with a finish reason was held back."""
        body = {
            "seeds": [1, 2],
            "finish_reasons": [None, "Filter reason: output image"],
            "images": [PNG, PNG],
        }
        assert to_answer(body) == Answer(images=1, filtered=1)

    def test_error(self) -> None:
        """An answer with an error and no image made no image."""
        body = {"images": [], "error": "blocked by content filters"}
        assert to_answer(body) == Answer(images=0)


class TestReplicate:
    """A prediction (or replicate.run's output): files, model, id, seconds."""

    PREDICTION: ClassVar[dict[str, Any]] = {
        "id": "rrr1",
        "model": "black-forest-labs/flux-schnell",
        "version": "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637",
        "status": "succeeded",
        "input": {"prompt": "a fox", "num_outputs": 2},
        "output": ["https://replicate.delivery/a.webp", "https://replicate.delivery/b.webp"],
        "error": None,
        "logs": "",
        "metrics": {"predict_time": 1.25, "total_time": 1.5},
        "urls": {"get": "https://api.replicate.com/v1/predictions/rrr1"},
    }

    def test_prediction(self) -> None:
        """Images, the model, the id, and predict_time billed as seconds."""
        assert to_answer(self.PREDICTION) == Answer(
            images=2,
            usage=ImageUsage(billed=Billed(Decimal("1.25"), "seconds")),
            model="black-forest-labs/flux-schnell",
            request_id="rrr1",
        )

    def test_failed(self) -> None:
        """A failed prediction made no image."""
        failed = dict(self.PREDICTION, status="failed", output=None, metrics={})
        answer = to_answer(failed)
        assert answer.images == 0
        assert answer.usage is None

    def test_text_output(self) -> None:
        """A text model's words are no files: the answer does not say how many images."""
        words = dict(self.PREDICTION, output=["Hello", " there"])
        assert to_answer(words).images is None

    def test_running(self) -> None:
        """A prediction still running does not say how many images yet."""
        assert to_answer(dict(self.PREDICTION, status="processing", output=None)).images is None

    def test_run_output(self) -> None:
        """replicate.run's output: a list of FileOutput, or one."""
        files = [FileOutput("https://replicate.delivery/a.webp")] * 3
        assert to_answer(files) == Answer(images=3)
        assert to_answer(files[0]) == Answer(images=1)

    def test_bad_predict_time(self) -> None:
        """A predict_time that is not seconds is named."""
        with pytest.raises(EventValidationError) as info:
            to_answer(dict(self.PREDICTION, metrics={"predict_time": "soon"}))
        assert info.value.field == "metrics.predict_time"


class TestStability:
    """Stability v1 artifacts and v2 JSON: CONTENT_FILTERED is filtered."""

    def test_v1(self) -> None:
        """Three artifacts, one filtered, one failed."""
        body = {
            "artifacts": [
                {"base64": PNG, "seed": 1, "finishReason": "SUCCESS"},
                {"base64": PNG, "seed": 2, "finishReason": "CONTENT_FILTERED"},
                {"base64": PNG, "seed": 3, "finishReason": "ERROR"},
            ]
        }
        assert to_answer(body) == Answer(images=1, filtered=1)

    def test_v2(self) -> None:
        """The Stable Image JSON answer: one image."""
        assert to_answer({"image": PNG, "finish_reason": "SUCCESS", "seed": 7}) == Answer(
            images=1, filtered=0
        )
        filtered = {"image": PNG, "finish_reason": "CONTENT_FILTERED", "seed": 7}
        assert to_answer(filtered) == Answer(images=0, filtered=1)

    def test_unknown_reason(self) -> None:
        """A finish reason Stability does not document is named."""
        with pytest.raises(EventValidationError) as info:
            to_answer({"artifacts": [{"base64": PNG, "finishReason": "MAYBE"}]})
        assert info.value.field == "artifacts[0].finishReason"


class TestBFL:
    """BFL's polled result: the sample, the task id, moderation."""

    def test_ready(self) -> None:
        """A ready result made one image; the task id is the request id."""
        result = {
            "id": "task-1",
            "status": "Ready",
            "result": {"sample": "https://delivery.bfl.ai/1.jpg", "seed": 1, "prompt": "a fox"},
        }
        assert to_answer(result) == Answer(images=1, request_id="task-1")

    def test_moderated(self) -> None:
        """Content Moderated held the image back; Pending does not say yet."""
        moderated = {"id": "t", "status": "Content Moderated", "result": None}
        assert to_answer(moderated) == Answer(images=0, request_id="t", filtered=1)
        assert to_answer({"id": "t", "status": "Pending", "result": None}).images is None


class TestUsageAndUnknown:
    """A bare usage object is usage; anything else is an error naming its type."""

    @pytest.mark.parametrize(
        "usage",
        [
            ImageUsage(input_tokens=1, output_tokens=2, total_tokens=3),
            {"input_tokens": 1, "output_tokens": 2},
            {"usage": {"input_tokens": 1, "output_tokens": 2}},
        ],
    )
    def test_usage(self, usage: Any) -> None:
        """An ImageUsage, a usage dict, or a response holding one."""
        answer = to_answer(usage)
        assert answer.images is None
        assert answer.usage is not None
        assert answer.usage.total_tokens == 3

    def test_gateway_headers(self) -> None:
        """fal's billed header is usage too."""
        answer = to_answer({"x-fal-billable-units": "2"})
        assert answer.usage == ImageUsage(billed=Billed(2, "units"))

    @pytest.mark.parametrize("payload", [{"prompt": "secret plan"}, ["a"], "text", None, 3])
    def test_unknown(self, payload: Any) -> None:
        """Nobody's shape: the error names the type, never the content."""
        assert read_answer(payload) is None
        with pytest.raises(EventValidationError) as info:
            to_answer(payload)
        assert info.value.field == "answer"
        assert info.value.value is type(payload)
        assert "secret plan" not in str(info.value)
