"""The bodies :class:`~aievents.testing.ImageServer` answers with, by provider and model.

- OpenAI's GPT image models: base64 images and token usage. ``gpt-image-1``
  and its kin report the spec's example usage; the ``gpt-image-2`` family
  (``gpt-image-2.5-*`` included) reports the image output tokens OpenAI
  bills for the size and quality asked, and one text token per word of the
  prompt.
- DALL-E: image URLs, no usage.

Gemini's answers are :mod:`aievents.testing._gemini`'s.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = [
    "B64",
    "GPT_IMAGE_2_TOKENS",
    "SPEC_USAGE",
    "gpt_image_2_usage",
    "gpt_usage",
    "image_tokens",
    "openai_answer",
]

B64: Final = "aGVsbG8="  # a tiny stand-in for image bytes

#: The usage of the spec's example generation.
SPEC_USAGE: Final[dict[str, Any]] = {
    "total_tokens": 100,
    "input_tokens": 50,
    "output_tokens": 50,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
}

#: Image output tokens of one gpt-image-2 image by (shape, quality), as OpenAI
#: bills them: at $30 per 1M they are OpenAI's per-image figures (7024 tokens
#: = $0.211 for a high 1024x1024 image; 5488 = $0.165 for a high 1536x1024).
GPT_IMAGE_2_TOKENS: Final[dict[tuple[str, str], int]] = {
    ("square", "low"): 196,
    ("square", "medium"): 1756,
    ("square", "high"): 7024,
    ("oblong", "low"): 172,
    ("oblong", "medium"): 1372,
    ("oblong", "high"): 5488,
}

#: Image input tokens an edit reports for its input image.
EDIT_IMAGE_TOKENS: Final = 323

_SIZE: Final = re.compile(r"(\d+)x(\d+)")


def _words(text: Any) -> int:
    """The stand-in token count of a prompt: one per word, at least one."""
    return max(1, len(str(text or "").split()))


def gpt_usage(n: int, *, edit: bool) -> dict[str, Any]:
    """Usage covering all n images: the spec example per image, image input for edits."""
    text, image = (10, 40) if not edit else (10, EDIT_IMAGE_TOKENS)
    return {
        "input_tokens": text + image,
        "output_tokens": 50 * n,
        "total_tokens": text + image + 50 * n,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image},
    }


def image_tokens(
    size: str, quality: str, table: dict[tuple[str, str], int] = GPT_IMAGE_2_TOKENS
) -> int:
    """Output tokens of one image of ``size`` and ``quality``, by a model's ``table``.

    A square or oblong size of 1024 (1536x1024, 1024x1536) has its billed
    figure; another size is scaled by its area from the 1024x1024 one.
    Qualities other than low and medium are billed as high.
    """
    quality = quality if quality in ("low", "medium") else "high"
    match = _SIZE.fullmatch(size)
    width, height = (int(match[1]), int(match[2])) if match else (1024, 1024)
    if {width, height} == {1024, 1536}:
        return table[("oblong", quality)]
    square = table[("square", quality)]
    return round(square * width * height / (1024 * 1024))


def gpt_image_2_usage(
    n: int, *, size: str, quality: str, prompt: Any, edit: bool
) -> dict[str, Any]:
    """Usage of a gpt-image-2 request of ``n`` images, as the Images API reports it.

    Input: one text token per word of the prompt (and the input image's
    tokens for an edit); output: the image tokens of every image. Like
    OpenAI's Images endpoints, no ``output_tokens_details``.
    """
    text = _words(prompt)
    image = EDIT_IMAGE_TOKENS if edit else 0
    output = image_tokens(size, quality) * n
    return {
        "input_tokens": text + image,
        "output_tokens": output,
        "total_tokens": text + image + output,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image},
    }


def openai_answer(model: str, body: dict[str, Any], *, edit: bool, b64: str) -> dict[str, Any]:
    """The Images API's answer to a request for ``model`` (the body as sent)."""
    n = int(body.get("n", 1))
    answer: dict[str, Any] = {"created": 1713833628}
    if not model.startswith("gpt-image"):
        answer["data"] = [
            {"url": f"http://127.0.0.1/images/{i}.png", "revised_prompt": "a revised prompt"}
            for i in range(n)
        ]
        return answer
    size = str(body.get("size", "auto"))
    quality = str(body.get("quality", "auto"))
    if model.startswith("gpt-image-2"):
        size = "1024x1024" if size == "auto" else size
        quality = "high" if quality == "auto" else quality
        usage = gpt_image_2_usage(
            n, size=size, quality=quality, prompt=body.get("prompt"), edit=edit
        )
    else:
        size = "1024x1536" if size == "auto" else size
        quality = "high" if quality == "auto" else quality
        usage = SPEC_USAGE if n == 1 and not edit else gpt_usage(n, edit=edit)
    answer["data"] = [{"b64_json": b64} for _ in range(n)]
    answer["usage"] = usage
    answer["size"] = size
    answer["quality"] = quality
    answer["output_format"] = "png"
    answer["background"] = "opaque"
    return answer
