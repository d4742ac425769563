"""Replicate's image answers: a prediction, or what ``replicate.run`` returns.

A prediction (``predictions.create``/``get``, as the SDK's ``Prediction`` or
its JSON) is ``{"id", "model", "version", "status", "output", "error",
"metrics": {"predict_time", "total_time"}, ...}``: ``output`` is a list of
file URLs for most image models, one URL for some. ``replicate.run`` returns
the output alone: a list of ``FileOutput`` objects (or URLs, with
``use_file_output=False``), or one ``FileOutput`` (or one URL).

Replicate reports no tokens and no cost. Models on public hardware are
billed by the time the prediction ran: ``metrics.predict_time`` is kept as
what was billed, in seconds (:class:`~aievents.usage.Billed`), which a price
entry with ``per_billed_unit: {"seconds": ...}`` prices; an entry priced per
image ignores it.
"""

from __future__ import annotations

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
_URL_PREFIXES: Final = ("https://", "http://", "data:")
_OWNER: Final = "replicate prediction"


def _is_file(item: Any) -> bool:
    """Whether ``item`` is one output file: a ``FileOutput`` or a URL."""
    if isinstance(item, str):
        return item.startswith(_URL_PREFIXES)
    return type(item).__name__ == "FileOutput"


def _outputs(output: Any) -> int | None:
    """The files of a prediction's ``output``, or None when it is not files (a text model's)."""
    if isinstance(output, (list, tuple)):
        files = sum(1 for item in output if _is_file(item))
        return files if files or not output else None
    if _is_file(output):
        return 1
    return None


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
    file (a text model's words), does not say. Its ``model``
    and ``id`` are the answer's model and request id. ``replicate.run``'s
    output (a list of files, one ``FileOutput``, or one URL) counts its files.

    Raises:
        EventValidationError: ``metrics.predict_time`` is not a number of seconds.
    """
    if isinstance(payload, (list, tuple)):
        if payload and all(_is_file(item) for item in payload):
            return Answer(images=len(payload))
        return None
    if type(payload).__name__ == "FileOutput" or (isinstance(payload, str) and _is_file(payload)):
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
