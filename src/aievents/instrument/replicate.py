"""Instrument the replicate SDK's image predictions: :func:`instrument_replicate`.

``instrument_replicate()`` reports the predictions of every
``replicate.Client`` (the module's default client behind ``replicate.run``
and ``replicate.predictions`` included, made before or after);
``instrument_replicate(client)`` those of one client. Covered, sync and
async: ``run``/``async_run`` (module-level and per client), and
``predictions.create``/``async_create`` (also ``models.predictions`` and
``deployments.predictions``) followed by ``Prediction.wait()``,
``async_wait()``, ``reload()``, ``predictions.get()`` or ``cancel()``.

One prediction is one request, with the prediction's id as request id:

1. ``image:request:started``, stamped with the time the create call (or
   ``run``) began;
2. ``image:request:completed`` once the prediction is seen finished, its
   output files counted as images (``replicate.run``'s ``FileOutput``
   objects are never fetched);
3. ``image:usage`` with ``metrics.predict_time`` as what Replicate billed
   (``Billed(seconds, "seconds")``) and the cost from the price table:
   ``None`` (unknown, never 0) for a model it has no price for, which is
   every Replicate model in the bundled table.

``run``/``async_run`` report their prediction as they return (Replicate
answers their create ``processing`` with the output already there:
:mod:`aievents.instrument._replicate_run`); only image files count as
images (:mod:`aievents.adapters.replicate`).

A ``failed`` or ``canceled`` prediction is ``image:request:error`` with
the prediction's error text; an HTTP error of the create call
(``ReplicateError``: 401, 422, 429, 500...) is ``image:request:error`` with
its status. A model whose output holds no image file (a text model, a video) emits
nothing. What counts as asking for images before the answer shows it, and
what happens to a prediction never seen finished, is in
:mod:`aievents.instrument._replicate_call`.

The SDK's namespaces are made afresh at each access, so the SDK's classes
are wrapped (once), and each call is reported under the instrumentation of
its client: the client's own, else the process-wide one. What the SDK
returns and raises reaches the caller unchanged. Instrumenting twice is the
same as once (the installations are kept by
:class:`~aievents.instrument._installs.Installs`, which wraps the classes
for the first and unwraps them after the last); :func:`uninstrument_replicate`
undoes it.

Needs the ``replicate`` extra: ``pip install 'aievents[replicate]'``.
"""

from __future__ import annotations

import importlib
import types
from typing import Any, Final, TypeVar

from aievents._extras import import_extra
from aievents.client import EventClient
from aievents.instrument._installs import Installs
from aievents.instrument._patches import Patches
from aievents.instrument._replicate_call import PredictionCall, is_holding, seen
from aievents.instrument._replicate_run import running, wrap_run
from aievents.instrument._settings import Settings
from aievents.instrument._wrap import Begin, Installation, wrap
from aievents.pricing import PriceBook, PriceTable

__all__ = ["instrument_replicate", "is_instrumented", "uninstrument_replicate"]

C = TypeVar("C")

#: The create methods: (module, class, how its calls name the model).
_CREATES: Final = (
    ("replicate.prediction", "Predictions", "predictions"),
    ("replicate.model", "ModelsPredictions", "models"),
    ("replicate.deployment", "DeploymentsPredictions", "deployments"),
    ("replicate.deployment", "DeploymentPredictions", "deployment"),
)
#: Methods whose answer is a prediction read back, and those that read their own.
_ANSWERS: Final = ("get", "async_get", "cancel", "async_cancel")
_OWN: Final = ("wait", "async_wait", "reload", "async_reload")


class _Classes:
    """The SDK's classes wrapped for every installation: on while any installation is."""

    def __init__(self) -> None:
        self.active = False
        self.patches = Patches()

    def share(self, wanted: bool) -> None:
        """Wrap the classes for the first installation; unwrap them once none is left."""
        if wanted:
            try:
                _wrap_classes(self)
            except BaseException:
                self.patches.undo()
                raise
            self.active = True
        else:
            self.active = False
            self.patches.undo()


_CLASSES: Final = _Classes()
_INSTALLS: Final = Installs[Settings](_CLASSES.share)


def _installation(namespace: Any) -> Installation[Settings] | None:
    """The instrumentation a call on ``namespace`` is reported under."""
    own = _INSTALLS.installed_on(getattr(namespace, "_client", None))
    if own is not None and own.active:
        return own
    return _INSTALLS.process


class _Create:
    """A create call reported: the prediction it made, or its failure."""

    __slots__ = ("call",)

    def __init__(self, call: PredictionCall) -> None:
        self.call = call

    def returned(self, result: Any) -> Any:
        """The prediction made: reported now if finished, else held open (or left to run)."""
        later = self.call.created(result)
        run = running()
        if later is not None and run is not None:
            run.created(later, result)
        return result

    def failed(self, error: BaseException) -> None:
        """The create call raised."""
        self.call.failed(error)


class _Look:
    """A prediction read back: reported when it is one held open, now finished."""

    __slots__ = ("prediction",)

    def __init__(self, prediction: Any) -> None:
        self.prediction = prediction

    def returned(self, result: Any) -> Any:
        """Look at the prediction (the answer, or the one that reloaded itself)."""
        seen(result if self.prediction is None else self.prediction)
        return result

    def failed(self, error: BaseException) -> None:
        """The read failed: the prediction stays open (a later read may see it finish)."""


def _begin_create(target: str) -> Begin:
    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Create | None:
        installed = _installation(args[0]) if args else None
        if installed is None or kwargs.get("stream"):
            return None  # not instrumented, or ``replicate.stream``'s (a language model's)
        run = running()
        model = run.model if run is not None else None
        return _Create(PredictionCall(installed.settings, target, args, kwargs, model))

    return begin


def _begin_look(own: bool) -> Begin:
    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Look | None:
        if not is_holding() or not args:
            return None
        return _Look(args[0] if own else None)

    return begin


def _wrap_classes(classes: _Classes) -> None:
    """Wrap the SDK's run, create methods and those that read a prediction back."""
    for module, name, target in _CREATES:
        cls = getattr(importlib.import_module(module), name)
        for method, asynchronous in (("create", False), ("async_create", True)):
            ours = wrap(
                getattr(cls, method),
                _begin_create(target),
                classes,
                source="replicate",
                asynchronous=asynchronous,
            )
            classes.patches.patch(cls, method, ours)
    prediction = importlib.import_module("replicate.prediction")
    for cls, methods, own in (
        (prediction.Predictions, _ANSWERS, False),
        (prediction.Prediction, _OWN, True),
    ):
        for method in methods:
            ours = wrap(getattr(cls, method), _begin_look(own), classes, source="replicate")
            classes.patches.patch(cls, method, ours)
    _wrap_runs(classes)


def _wrap_runs(classes: _Classes) -> None:
    """Wrap ``Client.run``/``async_run`` and the module's (the default client's)."""
    client = _client_class()
    package = importlib.import_module("replicate")
    for method, asynchronous in (("run", False), ("async_run", True)):
        original = getattr(client, method)
        ours = wrap_run(original, classes, asynchronous=asynchronous)
        classes.patches.patch(client, method, ours)
        bound = getattr(package, method, None)
        if isinstance(bound, types.MethodType) and bound.__func__ is original:
            classes.patches.patch(package, method, types.MethodType(ours, bound.__self__))


def _client_class() -> type:
    client: type = import_extra("replicate.client", "instrument_replicate", "replicate").Client
    return client


def _check(client: Any, what: str) -> None:
    """Refuse what is not a ``replicate.Client``.

    Raises:
        TypeError: ``client`` is not a ``replicate.Client``.
    """
    if not isinstance(client, _client_class()):
        raise TypeError(f"{what} needs a replicate.Client, got {type(client).__name__}")


def instrument_replicate(
    client: C | None = None,
    *,
    events: EventClient | None = None,
    prices: PriceBook | PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
) -> C | None:
    """Report the images Replicate predictions make as events.

    Args:
        client: A ``replicate.Client``: only its calls are reported. None
            (the default): every client's, ``replicate.run`` and the other
            module-level functions included.
        events: The event client to emit on; the default client when omitted
            (looked up at each call, so ``capture_events()`` sees them).
        prices: The :class:`~aievents.pricing.PriceBook` to price with; the
            process default book when omitted.
        capture_prompts: Copy the input's text ``prompt`` into the started events.
        capture_outputs: Copy the output files' URLs into the completed events.

    Returns:
        ``client``, instrumented (None for the process-wide instrumentation).
        Calling this again only updates the settings; the methods are
        wrapped once.

    Raises:
        ImportError: replicate is not installed (the ``replicate`` extra).
        TypeError: ``client`` is not a ``replicate.Client``.
    """
    if client is not None:
        _check(client, "instrument_replicate")
    else:
        _client_class()
    settings = Settings.given(events, prices, capture_prompts, capture_outputs)
    if client is None:
        _INSTALLS.process_wide(settings, lambda installed: None)
    else:
        _INSTALLS.on_client(client, settings, lambda installed: None)
    return client


def uninstrument_replicate(client: C | None = None) -> C | None:
    """Undo :func:`instrument_replicate`; harmless when it was not done.

    With no argument, the process-wide instrumentation; with a client, that
    client's own (anything else, never instrumented, is left as it is).
    Once none is left, the SDK's own methods come back; where another
    library wrapped ours in the meantime, its wrapper stays and ours passes
    calls through without reporting them. A prediction already announced
    and held open still ends on the books: when the process ends (see
    :mod:`aievents.instrument._replicate_call`).
    """
    if client is None:
        _INSTALLS.undo_process_wide()
    else:
        _INSTALLS.undo_on_client(client)
    return client


def is_instrumented(client: Any = None) -> bool:
    """Whether Replicate predictions are reported: process-wide (no argument), or ``client``'s.

    A client's calls are reported when it is instrumented itself, or when
    the process-wide instrumentation is on.
    """
    return _INSTALLS.process is not None if client is None else _INSTALLS.reports(client)
