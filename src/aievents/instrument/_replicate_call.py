"""One Replicate prediction: what its create call asks for, and how it is reported.

:class:`PredictionCall` reads a ``create`` call's arguments (the model, its
version or deployment, the input) and reports the prediction it makes, with
the prediction's id as request id:

- seen finished (in the create answer, as ``replicate.run``'s ``Prefer:
  wait`` gets it, or later by ``wait``/``reload``/``get``/``cancel``:
  :func:`seen`): ``succeeded`` with output files is completed with those
  files as images and ``metrics.predict_time`` as seconds billed, then its
  usage; ``failed`` or ``canceled`` is ``image:request:error`` with the
  prediction's error text;
- an answer with no file (a text model's words) is no image request and
  emits nothing, unless the call asks for images (:meth:`asks_images`):
  then it is completed with no image;
- a create that raises (``ReplicateError``: 401, 422, 429, 500...) of a call
  that asks for images: ``image:request:error`` with the HTTP status.

A prediction not finished when created is held open (by its id) until it is
seen finished. One never seen finished (the caller never waited, polls from
elsewhere, or relies on a webhook) is booked as the openai instrumentation
books a stream let go of: when the process ends (or, past
:data:`MAX_OPEN` held at once, the oldest then), completed with the images
the call asked for (``num_outputs``, else one) if it asks for images, else
dropped. ``image:request:started`` goes out at create when the call asks
for images, else with the answer that shows images (stamped, either way,
with the time the create call began).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

from aievents.adapters.replicate import read_prediction
from aievents.events import ImageOutput
from aievents.instrument import _args
from aievents.instrument._request import ImageRequest
from aievents.instrument._settings import Settings
from aievents.instrument._watch import Watch

__all__ = ["MAX_OPEN", "PROVIDER", "PredictionCall", "held", "seen"]

PROVIDER: Final = "replicate"
#: A prediction's states once it will change no more.
FINISHED: Final = frozenset({"succeeded", "failed", "canceled"})
#: Predictions held open at once, at most; past it the oldest is booked.
MAX_OPEN: Final = 4096
#: ``output_format`` values that ask for images.
_IMAGE_FORMATS: Final = frozenset({"png", "jpg", "jpeg", "webp", "gif"})
#: Owners whose models make images, and words that name image models.
_IMAGE_OWNERS: Final = frozenset({"black-forest-labs", "ideogram-ai", "recraft-ai"})
_IMAGE_WORDS: Final = ("flux", "sdxl", "stable-diffusion")
#: The error type of a failed prediction: what ``replicate.run`` raises for it.
_FAILED_TYPES: Final = {"failed": "ModelError", "canceled": "PredictionCanceled"}


def _named(value: Any) -> str | None:
    """``owner/name`` of a model or deployment reference: text, a pair, or the SDK's object."""
    if isinstance(value, str):
        return value.partition(":")[0] or None
    if isinstance(value, tuple) and len(value) == 2:
        return f"{value[0]}/{value[1]}"
    owner, name = getattr(value, "owner", None), getattr(value, "name", None)
    if isinstance(owner, str) and isinstance(name, str):
        return f"{owner}/{name}"
    return None


def _version(value: Any) -> str | None:
    """The version id of a ``version`` argument: an id, ``owner/name:id``, or a ``Version``."""
    if isinstance(value, str):
        return value.rpartition(":")[2] or None
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None


def _asked(target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A create call's model, version, deployment and input, by the namespace it was made on.

    ``target`` is ``predictions`` (``create(version, input)`` or
    ``model=``/``deployment=``), ``models`` (``create(model, input)``),
    ``deployments`` (``create(deployment, input)``) or ``deployment`` (one
    deployment's ``create(input)``). ``args`` starts with the namespace.
    """
    rest = args[1:]
    if target == "predictions":
        version = kwargs.get("version", rest[0] if rest else None)
        found = {"model": _named(kwargs.get("model")), "version": _version(version)}
        if isinstance(version, str) and ":" in version:
            found["model"] = _named(version)
        found["deployment"] = _named(kwargs.get("deployment"))
        found["input"] = kwargs.get("input", rest[1] if len(rest) > 1 else None)
        return found
    if target == "deployment":
        deployment = getattr(args[0], "_deployment", None)
        found = {"deployment": _named(deployment)}
        found["input"] = kwargs.get("input", rest[0] if rest else None)
        return found
    key = "model" if target == "models" else "deployment"
    return {
        key: _named(kwargs.get(key, rest[0] if rest else None)),
        "input": kwargs.get("input", rest[1] if len(rest) > 1 else None),
    }


class PredictionCall:
    """One ``create`` call and the prediction it makes, reported once."""

    __slots__ = ("asked", "inputs", "request", "settings")

    def __init__(
        self, settings: Settings, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.settings = settings
        self.asked = _asked(target, args, kwargs)
        inputs = self.asked.get("input")
        self.inputs: Mapping[str, Any] = inputs if isinstance(inputs, Mapping) else {}
        prompt = self.inputs.get("prompt") if settings.capture_prompts else None
        options = {k: self.asked[k] for k in ("version", "deployment") if self.asked.get(k)}
        model = self.asked.get("model") or self.asked.get("deployment") or self.asked.get("version")
        self.request = ImageRequest(
            provider=PROVIDER,
            model=model or "unknown",
            size=_args.size(self.inputs),
            number_of_images=_args.count(self.inputs.get("num_outputs")),
            prompt=prompt if isinstance(prompt, str) else None,
            client=settings.events,
            prices=settings.prices,
            fields={"model_options": options} if options else None,
        )

    def asks_images(self) -> bool:
        """Whether the call asks for images, before any answer shows them.

        It does when its input names ``num_outputs`` or an image
        ``output_format``, or its model is one the price book knows, or is
        by an owner that makes only images (``black-forest-labs``,
        ``ideogram-ai``, ``recraft-ai``) or named as one (``flux``,
        ``sdxl``, ``stable-diffusion``).
        """
        if "num_outputs" in self.inputs:
            return True
        if str(self.inputs.get("output_format", "")).lower() in _IMAGE_FORMATS:
            return True
        model = self.request.model
        if self.settings.prices.lookup(model, PROVIDER) is not None:
            return True
        owner, _, name = model.partition("/")
        return owner in _IMAGE_OWNERS or any(word in name for word in _IMAGE_WORDS)

    def _learn(self, prediction: Any) -> None:
        """The prediction's id (the request's id, before anything went out) and its version."""
        pid = getattr(prediction, "id", None)
        if isinstance(pid, str) and pid:
            self.request.update(request_id=pid)
        model = getattr(prediction, "model", None)
        if isinstance(model, str) and model:
            self.request.learn_model(model)
        version = getattr(prediction, "version", None)
        if isinstance(version, str) and version and not self.asked.get("version"):
            options = dict(self.request.fields.get("model_options") or {}, version=version)
            self.request.fields["model_options"] = options

    def created(self, prediction: Any) -> None:
        """The create call's answer: finished already, or held open until seen finished."""
        self._learn(prediction)
        if getattr(prediction, "status", None) in FINISHED:
            self.finish(prediction)
            return
        if self.asks_images():
            self.request.start()
        held(self, str(self.request.request_id))

    def finish(self, prediction: Any) -> None:
        """Report the prediction seen finished (see the module)."""
        status = getattr(prediction, "status", None)
        request = self.request
        if status != "succeeded":
            if self.asks_images():
                error = getattr(prediction, "error", None)
                message = str(error) if error else f"prediction {status}"
                kind = _FAILED_TYPES.get(str(status), "PredictionFailed")
                request.fail(Exception(message), error_type=kind, message=message)
            return
        answer = read_prediction(prediction)
        images = answer.images if answer is not None else None
        if not images and not self.asks_images():
            return  # no file came out: not an image request
        if answer is not None and answer.usage is not None:
            request.record_usage(answer.usage)  # predict_time, billed in seconds
        request.record_images(images or 0)
        if self.settings.capture_outputs:
            request.outputs = _outputs(getattr(prediction, "output", None)) or None
        request.complete()

    def failed(self, error: BaseException) -> None:
        """The create call raised: an error of a call that asks for images, with its status."""
        if not self.asks_images():
            return
        status = getattr(error, "status", None)
        code = status if isinstance(status, int) and not isinstance(status, bool) else None
        self.request.fail(error, status_code=code)

    def abandoned(self, at: tuple[int, float]) -> None:
        """Never seen finished: booked with the images asked for, if the call asks for images."""
        if not self.asks_images():
            return
        self.request.answered(at)
        self.request.record_images(self.request.number_of_images or 1)
        self.request.complete()


def _outputs(output: Any) -> tuple[ImageOutput, ...]:
    """The output's file URLs, for ``capture_outputs``."""
    items = output if isinstance(output, (list, tuple)) else [output]
    urls = (getattr(item, "url", item) for item in items)
    return tuple(ImageOutput(url=url) for url in urls if isinstance(url, str))


class OpenPrediction(Watch):
    """A prediction not yet seen finished: open until seen, or booked at exit."""

    def __init__(self, call: PredictionCall, pid: str) -> None:
        super().__init__(call.request)
        self.call = call
        self.pid = pid

    def abandon(self) -> None:
        """Never seen finished: book it (once)."""
        if not self.claim():
            return
        with _LOCK:
            if _OPEN.get(self.pid) is self:
                del _OPEN[self.pid]
        self.call.abandoned(self.arrived)


#: The predictions held open, by id, oldest first.
_OPEN: Final[dict[str, OpenPrediction]] = {}
_LOCK: Final = threading.Lock()


def held(call: PredictionCall, pid: str) -> None:
    """Hold ``call``'s prediction open till seen finished; past the limit, book the oldest."""
    watch = OpenPrediction(call, pid)
    oldest = None
    with _LOCK:
        _OPEN[pid] = watch
        if len(_OPEN) > MAX_OPEN:
            oldest = _OPEN[next(iter(_OPEN))]
    if oldest is not None:
        oldest.abandon()


def is_holding() -> bool:
    """Whether any prediction is held open (the cheap check before a look)."""
    return bool(_OPEN)


def seen(prediction: Any) -> None:
    """A prediction read back: reported if it is one held open and is now finished."""
    if getattr(prediction, "status", None) not in FINISHED:
        return
    pid = getattr(prediction, "id", None)
    with _LOCK:
        watch = _OPEN.pop(pid, None) if isinstance(pid, str) else None
    if watch is not None and watch.claim():
        watch.call.finish(prediction)
