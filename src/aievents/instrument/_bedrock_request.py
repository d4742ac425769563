"""What a Bedrock ``invoke_model`` call asks for: which model, whether it makes images, how many.

The rule for "an image call", decided before the SDK sends anything:

1. The ``modelId`` names the model: a foundation model id
   (``amazon.nova-canvas-v1:0``), the same behind a cross-region prefix
   (``us.amazon.nova-canvas-v1:0``) or in a ``foundation-model/`` or
   ``inference-profile/`` ARN. Amazon Nova Canvas
   (``amazon.nova-canvas-*``), Titan Image Generator
   (``amazon.titan-image-generator-*``) and every ``stability.*`` model are
   image models: reported. Any other model it names (``anthropic.*``,
   ``amazon.nova-lite-*``, ``meta.*``...) is not: the call goes to the SDK
   untouched, its body never read.
2. An ARN that hides the model (``provisioned-model/``, ``custom-model/``,
   ``imported-model/``, ``application-inference-profile/``...) is decided by
   the body's shape: Titan's and Nova's ``taskType`` with
   ``imageGenerationConfig`` (or an image task), Stability's ``prompt`` with
   one of its image fields (``aspect_ratio``, ``mode``, ``output_format``,
   ``negative_prompt``, ``style_preset``, ``image``), or SDXL's
   ``text_prompts``.
3. A ``body`` botocore refuses before sending anything (neither bytes, text
   nor a file-like object: a dict, say) makes no request: the call goes to
   the SDK untouched, and botocore's ``ParamValidationError`` (whose
   message shows the body, prompt included) reaches no event.

From the body (bytes, text, or a seekable file-like object, read and put
back where it was; a body that cannot be read again is not read, and the
request keeps what the model id says):

- Titan and Nova Canvas: ``taskType`` gives the operation (``TEXT_IMAGE``
  and ``COLOR_GUIDED_GENERATION`` make new images: ``image.generation``;
  ``INPAINTING``, ``OUTPAINTING``, ``BACKGROUND_REMOVAL`` and
  ``VIRTUAL_TRY_ON`` change a given image: ``image.edit``;
  ``IMAGE_VARIATION``: ``image.variation``; a task not known here:
  ``image.generation``), ``imageGenerationConfig`` the count
  (``numberOfImages``, 1 by default), ``quality`` (``standard`` by default)
  and ``width`` x ``height`` as size (1024x1024 by default); the task's
  parameters give the prompt (``text``) and the input images.
- Stability: ``prompt``, ``aspect_ratio`` as size (``1:1`` by default for
  text-to-image), ``mode: image-to-image`` or an input ``image`` make it an
  edit, as do Stability's editing models (``stable-image-inpaint``,
  ``-erase-object``, ``-search-replace``, ``-remove-background``,
  ``-control-*``, ``-upscale``...); one image a call. SDXL's
  ``text_prompts``, ``samples``, ``width`` x ``height`` and ``init_image``.
"""

from __future__ import annotations

import json
from typing import Any, Final

import attrs

from aievents._bedrock_models import base_model, foundation_model
from aievents.instrument import _args

__all__ = ["ImageAsk", "image_ask", "is_image_model"]

#: The model id prefixes of Bedrock's image models.
IMAGE_FAMILIES: Final = ("amazon.nova-canvas", "amazon.titan-image-generator", "stability.")

_GENERATION: Final = "image.generation"
_EDIT: Final = "image.edit"
_VARIATION: Final = "image.variation"
#: Titan's and Nova Canvas's task types: the operation, and where the task's parameters are.
TASKS: Final[dict[str, tuple[str, str]]] = {
    "TEXT_IMAGE": (_GENERATION, "textToImageParams"),
    "COLOR_GUIDED_GENERATION": (_GENERATION, "colorGuidedGenerationParams"),
    "INPAINTING": (_EDIT, "inPaintingParams"),
    "OUTPAINTING": (_EDIT, "outPaintingParams"),
    "BACKGROUND_REMOVAL": (_EDIT, "backgroundRemovalParams"),
    "VIRTUAL_TRY_ON": (_EDIT, "virtualTryOnParams"),
    "IMAGE_VARIATION": (_VARIATION, "imageVariationParams"),
}
#: The task parameters that carry one input image each (``images`` a list; a mask is no input).
_INPUT_IMAGES: Final = ("image", "conditionImage", "referenceImage", "sourceImage")
#: Fields that make a ``prompt`` body Stability's.
_STABILITY_FIELDS: Final = frozenset(
    {"aspect_ratio", "mode", "output_format", "negative_prompt", "style_preset", "image"}
)
#: Words in a Stability model id that make it an editing model.
_STABILITY_EDITS: Final = (
    "inpaint",
    "outpaint",
    "erase",
    "search-replace",
    "search-recolor",
    "remove-background",
    "control-",
    "style-",
    "upscale",
)
DEFAULT_SIZE: Final = "1024x1024"
DEFAULT_QUALITY: Final = "standard"
DEFAULT_ASPECT: Final = "1:1"


def is_image_model(model_id: str) -> bool | None:
    """Whether ``model_id`` is an image model; None when an ARN hides the model."""
    named = foundation_model(model_id)
    if named is None:
        return None
    return base_model(named).startswith(IMAGE_FAMILIES)


@attrs.frozen
class ImageAsk:
    """What an image call asks for: the matching arguments of ``ImageRequest``."""

    operation: str = _GENERATION
    number_of_images: int | None = None
    size: str | None = None
    quality: str | None = None
    prompt: str | None = None
    image_input_count: int | None = None


def read_body(body: Any) -> Any:
    """The request body as JSON, read without using it up; None when it cannot be.

    A file-like body is read only when it can be put back (``seek``) where
    it was, for the SDK to send.
    """
    if isinstance(body, (bytes, bytearray, memoryview)):
        data: Any = bytes(body)
    elif isinstance(body, str):
        data = body
    else:
        data = _peek(body)
        if data is None:
            return None
    try:
        return json.loads(data)
    except ValueError:  # not JSON (or not UTF-8): the SDK sends it, the model refuses it
        return None


def _peek(stream: Any) -> bytes | str | None:
    seekable = getattr(stream, "seekable", None)
    if not callable(seekable) or not seekable():
        return None
    where = stream.tell()
    try:
        data = stream.read()
    finally:
        stream.seek(where)
    return data if isinstance(data, (bytes, str)) else None


def looks_like_image(body: Any) -> bool:
    """Whether a body is an image model's (for a model id that does not say)."""
    if not isinstance(body, dict):
        return False
    task = body.get("taskType")
    if isinstance(task, str):
        return "imageGenerationConfig" in body or task in TASKS
    if isinstance(body.get("text_prompts"), list):
        return True
    return isinstance(body.get("prompt"), str) and not _STABILITY_FIELDS.isdisjoint(body)


def _amazon(body: dict[str, Any], prompts: bool) -> ImageAsk:
    """Titan's and Nova Canvas's body."""
    task = str(body.get("taskType") or "")
    operation, params_key = TASKS.get(task, (_GENERATION, ""))
    params = body.get(params_key) if params_key else None
    params = params if isinstance(params, dict) else {}
    config = body.get("imageGenerationConfig")
    takes_config = isinstance(config, dict) or task != "BACKGROUND_REMOVAL"
    config = config if isinstance(config, dict) else {}
    size = _args.size(config) or DEFAULT_SIZE
    inputs = sum(1 for key in _INPUT_IMAGES if params.get(key))
    listed = params.get("images")
    inputs += len(listed) if isinstance(listed, list) else 0
    return ImageAsk(
        operation=operation,
        number_of_images=_args.count(config.get("numberOfImages")) or 1,
        size=size if takes_config else None,
        quality=_args.text(config.get("quality")) or DEFAULT_QUALITY if takes_config else None,
        prompt=_args.text(params.get("text")) if prompts else None,
        image_input_count=inputs or None,
    )


def _stability(model: str, body: dict[str, Any], prompts: bool) -> ImageAsk:
    """Stability's bodies: SD3.5, Stable Image Ultra and Core, the editing models, SDXL."""
    if isinstance(body.get("text_prompts"), list):  # SDXL
        first = body["text_prompts"][0] if body["text_prompts"] else {}
        given = body.get("init_image")
        return ImageAsk(
            operation=_EDIT if given else _GENERATION,
            number_of_images=_args.count(body.get("samples")) or 1,
            size=_args.size(body),
            prompt=_args.text(first.get("text")) if prompts and isinstance(first, dict) else None,
            image_input_count=1 if given else None,
        )
    given = bool(body.get("image"))
    edits = (
        given or body.get("mode") == "image-to-image" or any(w in model for w in _STABILITY_EDITS)
    )
    aspect = _args.text(body.get("aspect_ratio"))
    return ImageAsk(
        operation=_EDIT if edits else _GENERATION,
        number_of_images=1,
        size=aspect or (None if edits else DEFAULT_ASPECT),
        prompt=_args.text(body.get("prompt")) if prompts else None,
        image_input_count=1 if given else None,
    )


def image_ask(model: str, body: Any, *, prompts: bool) -> ImageAsk:
    """What the call asks for: ``model`` (without region prefix) says whose body it is.

    A body that could not be read (None) gives the model's defaults.
    """
    body = body if isinstance(body, dict) else {}
    if model.startswith("stability."):
        return _stability(model, body, prompts)
    if model.startswith("amazon.") or "taskType" in body or "imageGenerationConfig" in body:
        return _amazon(body, prompts)
    return _stability(model, body, prompts)
