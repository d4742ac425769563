"""One Replicate prediction: what its create call asks for, and how it is reported.

:class:`PredictionCall` reads a ``create`` call's arguments (the model, its
version or deployment, the input) and reports the prediction it makes, with
the prediction's id as request id:

- seen finished (in the create answer, or later by
  ``wait``/``reload``/``get``/``cancel``: :func:`seen`; or ``replicate.run``
  returned its output, :mod:`aievents.instrument._replicate_run`):
  ``succeeded`` with image files is completed with those files as images
  and ``metrics.predict_time`` (when given) as seconds billed, then its
  usage; ``failed`` or ``canceled`` is ``image:request:error`` with the
  prediction's error text;
- an answer with no image file (a text model's words, a video, a sound) is
  no image request and emits nothing, unless the call asks for images
  (:meth:`PredictionCall.asks_images`): then it is completed with no image;
- a create that raises (``ReplicateError``: 401, 422, 429, 500...) of a call
  that asks for images: ``image:request:error`` with the HTTP status.

What the call asks for is read at create; the input is not kept. A
prediction not finished when created, of a call that asks for images, is
held open (by its id) until seen finished, with ``image:request:started``
sent at create; one of a call that does not ask for images is not held (the
``replicate.run`` that made it still reports it from its output). One held
and never seen finished (the caller never waited, polls from elsewhere,
relies on a webhook, or undid the instrumentation meanwhile: a request
already started still ends on the books) is booked as the openai
instrumentation books a stream let go of: when the process ends (or, past
:data:`MAX_OPEN` held at once, the oldest then), completed with the images
the call asked for (its count, else one). A forked child starts with none
held: the parent's are the parent's to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aievents.adapters.replicate import read_prediction
from aievents.events import ImageOutput
from aievents.instrument import _args
from aievents.instrument._open import Held, OpenRequests
from aievents.instrument._request import ImageRequest
from aievents.instrument._settings import Settings

__all__ = [
    "FINISHED",
    "MAX_OPEN",
    "PROVIDER",
    "Later",
    "OpenPrediction",
    "PredictionCall",
    "held",
    "named",
    "open_count",
    "seen",
]

PROVIDER: Final = "replicate"
#: A prediction's states once it will change no more.
FINISHED: Final = frozenset({"succeeded", "failed", "canceled"})
#: Predictions held open at once, at most; past it the oldest is booked.
MAX_OPEN: Final = 4096
#: The input's counts of images.
_COUNTS: Final = ("num_outputs", "num_images", "number_of_images")
#: ``output_format`` values that ask for images.
_IMAGE_FORMATS: Final = frozenset({"png", "jpg", "jpeg", "webp", "gif"})
#: Owners whose models make images, and words that name image models.
_IMAGE_OWNERS: Final = frozenset({"black-forest-labs", "ideogram-ai", "recraft-ai"})
_IMAGE_WORDS: Final = ("flux", "sdxl", "stable-diffusion")
#: The error type of a failed prediction: what ``replicate.run`` raises for it.
_FAILED_TYPES: Final = {"failed": "ModelError", "canceled": "PredictionCanceled"}


def named(value: Any) -> str | None:
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
        found = {"model": named(kwargs.get("model")), "version": _version(version)}
        if isinstance(version, str) and ":" in version:
            found["model"] = named(version)
        found["deployment"] = named(kwargs.get("deployment"))
        found["input"] = kwargs.get("input", rest[1] if len(rest) > 1 else None)
        return found
    if target == "deployment":
        deployment = getattr(args[0], "_deployment", None)
        found = {"deployment": named(deployment)}
        found["input"] = kwargs.get("input", rest[0] if rest else None)
        return found
    key = "model" if target == "models" else "deployment"
    return {
        key: named(kwargs.get(key, rest[0] if rest else None)),
        "input": kwargs.get("input", rest[1] if len(rest) > 1 else None),
    }


class PredictionCall:
    """One ``create`` call and the prediction it makes, reported once.

    What the call asks for is read at create and the input let go of: a
    prediction held open keeps no reference to the caller's input.
    """

    __slots__ = ("image_input", "request", "settings", "versioned")

    def __init__(
        self,
        settings: Settings,
        target: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        model: str | None = None,
    ) -> None:
        self.settings = settings
        asked = _asked(target, args, kwargs)
        given = asked.pop("input", None)
        inputs: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        if model and "/" in model and not asked.get("model") and not asked.get("deployment"):
            asked["model"] = model  # ``replicate.run("owner/name:version")``'s
        #: Whether the input itself asks for images (a count of them, an image format).
        self.image_input = any(key in inputs for key in _COUNTS) or (
            str(inputs.get("output_format", "")).lower() in _IMAGE_FORMATS
        )
        self.versioned = bool(asked.get("version"))
        prompt = inputs.get("prompt") if settings.capture_prompts else None
        options = {k: asked[k] for k in ("version", "deployment") if asked.get(k)}
        named = asked.get("model") or asked.get("deployment") or asked.get("version")
        counts = (_args.count(inputs.get(key)) for key in _COUNTS)
        self.request = ImageRequest(
            provider=PROVIDER,
            model=named or "unknown",
            size=_args.size(inputs),
            number_of_images=next((found for found in counts if found is not None), None),
            prompt=prompt if isinstance(prompt, str) else None,
            client=settings.events,
            prices=settings.prices,
            fields={"model_options": options} if options else None,
        )

    def asks_images(self) -> bool:
        """Whether the call asks for images, before any answer shows them.

        It does when its input names a count of images (``num_outputs``,
        ``num_images``, ``number_of_images``) or an image ``output_format``,
        or its model is one the price book knows, or is by an owner that
        makes only images (``black-forest-labs``, ``ideogram-ai``,
        ``recraft-ai``) or named as one (``flux``, ``sdxl``,
        ``stable-diffusion``).
        """
        if self.image_input:
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
        if isinstance(version, str) and version and not self.versioned:
            options = dict(self.request.fields.get("model_options") or {}, version=version)
            self.request.fields["model_options"] = options

    def created(self, prediction: Any) -> Later | OpenPrediction | None:
        """The create call's answer: reported now if finished, else what finishes it later.

        A prediction of a call that asks for images is held open (by its
        id) until seen finished; one that does not is not held: only the
        ``replicate.run`` that made it (which sees its output) reports it.
        """
        self._learn(prediction)
        if getattr(prediction, "status", None) in FINISHED:
            self.finish(prediction)
            return None
        if not self.asks_images():
            return Later(self)
        self.request.start()
        return held(self, str(self.request.request_id))

    def finish(self, prediction: Any, *, ran: bool = False) -> None:
        """Report the prediction seen finished (see the module).

        ``ran``: ``replicate.run`` returned its output, so it succeeded,
        whatever status the answer it read said (``processing``).
        """
        status = "succeeded" if ran else getattr(prediction, "status", None)
        request = self.request
        if status != "succeeded":
            if self.asks_images():
                error = getattr(prediction, "error", None)
                message = str(error) if error else f"prediction {status}"
                kind = _FAILED_TYPES.get(str(status), "PredictionFailed")
                request.fail(Exception(message), error_type=kind, message=message)
            return
        answer = read_prediction(_succeeded(prediction) if ran else prediction)
        images = answer.images if answer is not None else None
        if not images and not self.asks_images():
            return  # no image file came out: not an image request
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
        """Never seen finished: booked with the images asked for (held calls ask for images)."""
        self.request.answered(at)
        self.request.record_images(self.request.number_of_images or 1)
        self.request.complete()


def _succeeded(prediction: Any) -> dict[str, Any]:
    """The fields of a prediction ``replicate.run`` returned the output of, as succeeded."""
    fields = ("id", "model", "version", "output", "metrics")
    found = {name: getattr(prediction, name, None) for name in fields}
    return dict(found, status="succeeded")


class Later:
    """A prediction not finished when created, not held: finished by the ``run`` that made it."""

    __slots__ = ("call", "taken")

    def __init__(self, call: PredictionCall) -> None:
        self.call = call
        self.taken = False

    def take(self) -> bool:
        """Whether this caller is the one to report it (true once)."""
        taken, self.taken = self.taken, True
        return not taken


def _outputs(output: Any) -> tuple[ImageOutput, ...]:
    """The output's file URLs, for ``capture_outputs``."""
    items = output if isinstance(output, (list, tuple)) else [output]
    urls = (getattr(item, "url", item) for item in items)
    return tuple(ImageOutput(url=url) for url in urls if isinstance(url, str))


class OpenPrediction(Held):
    """A prediction not yet seen finished: open until seen, or booked at exit."""

    def __init__(self, call: PredictionCall, pid: str) -> None:
        super().__init__(OPEN, pid, call.request)
        self.call = call

    def book(self) -> None:
        """Never seen finished: booked with the images asked for."""
        self.call.abandoned(self.arrived)


#: The predictions held open, by id (at most :data:`MAX_OPEN`; set ``OPEN.cap`` to change).
OPEN: Final[OpenRequests[OpenPrediction]] = OpenRequests(MAX_OPEN)


def held(call: PredictionCall, pid: str) -> OpenPrediction:
    """Hold ``call``'s prediction open till seen finished; past the limit, book the oldest."""
    watch = OpenPrediction(call, pid)
    OPEN.hold(watch)
    return watch


def open_count() -> int:
    """How many predictions are held open."""
    return len(OPEN)


def is_holding() -> bool:
    """Whether any prediction is held open (the cheap check before a look)."""
    return len(OPEN) > 0


def seen(prediction: Any) -> None:
    """A prediction read back: reported if it is one held open and is now finished."""
    if getattr(prediction, "status", None) not in FINISHED:
        return
    watch = OPEN.find(getattr(prediction, "id", None))
    if watch is not None and watch.take():
        watch.call.finish(prediction)
