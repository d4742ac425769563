"""Replicate's image answers: a prediction, or what ``replicate.run`` returns.

A prediction (``predictions.create``/``get``, as the SDK's ``Prediction`` or
its JSON) is ``{"id", "model", "version", "status", "output", "error",
"metrics": {"predict_time", "total_time"}, ...}``: ``output`` is a list of
file URLs for most image models, one URL for some, a mapping of them for
others (``{"image": url}``). ``replicate.run`` returns the output alone: a
list of ``FileOutput`` objects (or URLs, with ``use_file_output=False``),
or one ``FileOutput`` (or one URL).

Only image files count as images: a URL (or a ``FileOutput``'s ``url``)
whose path ends in an image extension (``.png``, ``.jpg``, ``.jpeg``,
``.webp``, ``.gif``, ``.avif``, ``.bmp``, ``.tif``, ``.tiff``, ``.heic``), or
a ``data:image/`` URI. A video's or a sound's file (``.mp4``, ``.wav``...)
is not an image: an output whose files are none of them images is no image
answer.

Replicate reports no tokens and no cost. Models on public hardware are
billed by the time the prediction ran: ``metrics.predict_time`` is kept as
what was billed, in seconds (:class:`~aievents.usage.Billed`), which a price
entry with ``per_billed_unit: {"seconds": ...}`` prices; an entry priced per
image ignores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aievents._usagemodel import Billed, ImageUsage
from aievents._validate import QUANTITY_LIMIT, bounded_problem, to_decimal
from aievents.adapters._answer import Answer, text
from aievents.adapters._read import ABSENT, Reader, lookup, view

__all__ = ["read_prediction"]

#: Every status a prediction can have.
_STATUSES: Final = frozenset(
    {"starting", "processing", "succeeded", "failed", "canceled", "aborted"}
)
_URL_PREFIXES: Final = ("https://", "http://")
#: The extensions of image files (a URL's path, lowercased).
_IMAGE_EXTENSIONS: Final = (
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".gif",
    ".avif",
    ".bmp",
    ".tif",
    ".tiff",
    ".heic",
)
_OWNER: Final = "replicate prediction"


def _is_image(item: Any) -> bool:
    """Whether ``item`` is one image file: a URL (or ``FileOutput``) of an image."""
    url = getattr(item, "url", None) if type(item).__name__ == "FileOutput" else item
    if not isinstance(url, str):
        return False
    if url.startswith("data:"):
        return url[5:11].lower() == "image/"
    if not url.startswith(_URL_PREFIXES):
        return False
    path = url.split("?", 1)[0].split("#", 1)[0]
    return path.lower().endswith(_IMAGE_EXTENSIONS)


def _images(output: Any) -> int | None:
    """The image files of an ``output`` (a list, one file, or a mapping of them), else None."""
    if isinstance(output, Mapping):
        found = [_images(value) for value in output.values()]
        return sum(each for each in found if each) or None
    if isinstance(output, (list, tuple)):
        return sum(1 for item in output if _is_image(item)) or None
    return 1 if _is_image(output) else None


def _outputs(output: Any) -> int | None:
    """The images of a prediction's ``output``: 0 for an empty list, None for no image file."""
    if isinstance(output, (list, tuple)) and not output:
        return 0
    return _images(output)


def _billed(read: Reader, payload: Any) -> ImageUsage | None:
    """``metrics.predict_time`` as seconds billed, or None when not reported."""
    metrics = read.mapping(payload, "metrics")
    seconds = None if metrics is None else lookup(metrics, ("predict_time",))
    if seconds in (ABSENT, None):
        return None
    quantity = to_decimal(seconds)
    problem = bounded_problem(quantity, QUANTITY_LIMIT, "number of seconds")
    if problem:
        raise read.nested("metrics").error("predict_time", seconds, problem)
    return ImageUsage(billed=Billed(quantity, "seconds"))


def read_prediction(payload: Any) -> Answer | None:
    """The :class:`~aievents.adapters.answers.Answer` of a Replicate answer, else None.

    A prediction is recognised by its ``status`` (one of Replicate's) with
    ``output``: a succeeded one made its output files; a failed, canceled
    or aborted one none; one still running, or one whose output holds no
    image file (a text model's words, a video), does not say. Its
    ``model`` and ``id`` are the answer's model and request id.
    ``replicate.run``'s output (a list of files, one ``FileOutput``, or one
    URL) counts its image files.

    Raises:
        EventValidationError: ``metrics.predict_time`` is not a number of seconds.
    """
    if isinstance(payload, (list, tuple)):
        if payload and all(_is_image(item) for item in payload):
            return Answer(images=len(payload))
        return None
    if _is_image(payload):
        return Answer(images=1)  # one file, or one URL (``use_file_output=False``)
    if payload is None or isinstance(payload, (str, bytes)):
        return None
    payload = view(payload)  # the SDK's Prediction as its fields, read once
    status = text(payload, "status")
    output = lookup(payload, ("output",))
    if status not in _STATUSES or output is ABSENT:
        return None
    images: int | None = None
    if status == "succeeded":
        images = _outputs(output)
    elif status in ("failed", "canceled", "aborted"):
        images = 0
    return Answer(
        images=images,
        usage=_billed(Reader(_OWNER), payload),
        model=text(payload, "model"),
        request_id=text(payload, "id"),
    )
