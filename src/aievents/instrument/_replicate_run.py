"""``replicate.run``/``async_run``: the prediction made inside, finished when run returns.

Replicate answers ``run``'s ``Prefer: wait`` create with the output already
there but the status still ``processing``, and ``run`` returns that output
without reading the prediction again: no later answer says it finished. So
``Client.run``/``async_run`` are wrapped: while one runs, the model it was
given (``owner/name``, also for ``owner/name:version``, whose create names
only the version) is known to the create made inside it (a context
variable), and that create's prediction is kept; then:

- run returned: the prediction succeeded, and is reported from its output
  (unless run returned an iterator over output still to come);
- run raised: a prediction that ended (``ModelError``: failed) is reported
  as it ended; one that did not stays held open, as any create's.

The wrapper claims nothing (:mod:`aievents.instrument._guard`): the create
inside reports the request; where an outer wrapper already reports the call,
nothing is added.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Final

from aievents.instrument._guard import claimed
from aievents.instrument._replicate_call import FINISHED, Later, OpenPrediction, named
from aievents.instrument._request import report_failure
from aievents.instrument._wrap import Active

__all__ = ["Running", "running", "wrap_run"]

_SOURCE: Final = "replicate"


class Running:
    """One ``run`` call: its model, and the prediction the create inside it made."""

    __slots__ = ("made", "model", "token")

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.made: list[tuple[Later | OpenPrediction, Any]] = []
        self.token: Token[Running | None] | None = None

    def __enter__(self) -> Running:
        """Run begins: the creates inside it (this context) see it."""
        self.token = _RUNNING.set(self)
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        """Run ended; when it raised, a prediction that ended is reported (the error goes on)."""
        if self.token is not None:
            _RUNNING.reset(self.token)
        if error is not None:
            _safe(self.raised)

    def created(self, later: Later | OpenPrediction, prediction: Any) -> None:
        """The create inside made ``prediction``, not finished yet."""
        self.made.append((later, prediction))

    def returned(self, result: Any) -> None:
        """Run returned ``result``: its prediction succeeded (unless output is still to come)."""
        if inspect.isgenerator(result) or inspect.isasyncgen(result):
            return
        for later, prediction in self.made:
            if later.take():
                later.call.finish(prediction, ran=True)

    def raised(self) -> None:
        """Run raised: a prediction that ended is reported as it ended."""
        for later, prediction in self.made:
            if getattr(prediction, "status", None) in FINISHED and later.take():
                later.call.finish(prediction)


_RUNNING: Final[ContextVar[Running | None]] = ContextVar("aievents_replicate_run", default=None)


def running() -> Running | None:
    """The ``run`` call this context is inside, if any."""
    return _RUNNING.get()


def _model(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """``owner/name`` of run's ``ref`` (``args`` starts with the client)."""
    ref = kwargs.get("ref", args[1] if len(args) > 1 else None)
    found = named(ref)
    return found if found is not None and "/" in found else None


def _safe(step: Callable[[], None]) -> None:
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure(_SOURCE, exc)


def _enter(scope: Active, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Running | None:
    if not scope.active or claimed() or _RUNNING.get() is not None:
        return None
    try:
        return Running(_model(args, kwargs))
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
        report_failure(_SOURCE, exc)
        return None


def wrap_run(original: Callable[..., Any], scope: Active, *, asynchronous: bool) -> Any:
    """``Client.run`` (or ``async_run``) with the prediction it makes finished when it returns."""
    if asynchronous:

        @functools.wraps(original)
        async def arun(*args: Any, **kwargs: Any) -> Any:
            state = _enter(scope, args, kwargs)
            if state is None:
                return await original(*args, **kwargs)
            with state:
                result = await original(*args, **kwargs)
            _safe(functools.partial(state.returned, result))
            return result

        return arun

    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        state = _enter(scope, args, kwargs)
        if state is None:
            return original(*args, **kwargs)
        with state:
            result = original(*args, **kwargs)
        _safe(functools.partial(state.returned, result))
        return result

    return run
