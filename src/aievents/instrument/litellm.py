"""Report the images made through LiteLLM: :class:`AieventsLogger` and :func:`instrument_litellm`.

Imported as :mod:`aievents.integrations.litellm`. ``AieventsLogger`` is a
LiteLLM ``CustomLogger``: LiteLLM calls it after each call (on its logging
thread, or as a task, once the call has returned), and it turns the image
calls (``litellm.image_generation``, ``aimage_generation``, ``image_edit``,
``aimage_edit``), success and failure, into events; other calls
(completion, embedding...) give none. ``image_variation`` is not covered:
LiteLLM logs it without its provider or parameters, and it is left unclaimed
(an instrumented openai SDK reports it). What each event holds is
in :mod:`aievents.integrations.litellm`.

One report per call. The openai SDK LiteLLM calls may be instrumented as
well (``instrument_openai()``): the logger reports the call (it has
LiteLLM's cost and call id, and the provider LiteLLM routed to), not the
openai wrapper. LiteLLM's callbacks run after the call, too late to claim
it; so making a logger also wraps LiteLLM's image functions (on the
``litellm`` module, once per process), each of which claims its call for
the whole call while a logger is registered: the openai wrapper inside
passes the call through. An outer instrumentation that already reports the
call (an ``image_request`` block around it) keeps it: the logger then
leaves that call alone. A logger reports only the calls that began after
it was made: LiteLLM may log a call made earlier (reported by the openai
wrapper, or by nobody) once the logger is registered.

Needs the ``litellm`` extra: ``pip install 'aievents[litellm]'``.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Final

from aievents import _trace
from aievents._extras import missing_extra
from aievents.client import EventClient
from aievents.instrument._guard import claimed
from aievents.instrument._litellm_call import (
    call_details,
    is_image_call,
    report_answer,
    report_error,
)
from aievents.instrument._patches import Patches
from aievents.instrument._request import report_failure
from aievents.instrument._settings import Settings
from aievents.instrument._wrap import wrap
from aievents.pricing import PriceBook, PriceTable

try:
    import litellm
    from litellm.integrations.custom_logger import CustomLogger
except ImportError as error:
    raise missing_extra("aievents.integrations.litellm", "litellm", error) from None

__all__ = ["AieventsLogger", "instrument_litellm", "is_instrumented", "uninstrument_litellm"]

#: LiteLLM's image functions, claimed for the logger (those this LiteLLM has).
ENTRY_POINTS: Final = (
    "image_generation",
    "aimage_generation",
    "image_edit",
    "aimage_edit",
)
#: LiteLLM's lists a callback is registered in (``callbacks`` is copied to the others).
CALLBACK_LISTS: Final = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
)
#: Held while instrumenting or undoing: the check and the change are one step.
_LOCK: Final = threading.RLock()


class _Claims:
    """LiteLLM's image functions, wrapped to claim their calls while a logger is registered."""

    def __init__(self) -> None:
        self.on = True
        self.patches = Patches()

    @property
    def active(self) -> bool:
        """Whether calls are claimed: installed, and a logger is there to report them."""
        return self.on and is_instrumented()

    def undo(self) -> None:
        """Put LiteLLM's functions back (where nobody wrapped ours since)."""
        self.on = False
        self.patches.undo()


class _Process:
    """Process-wide: the claiming wrappers, and the logger ``instrument_litellm`` added."""

    claims: _Claims | None = None
    logger: AieventsLogger | None = None
    #: Whether ``instrument_litellm`` registered ``logger`` (else: it was there by hand).
    added: bool = False


_PROCESS: Final = _Process()


#: How many call ids are remembered as reported (the oldest are forgotten first).
_REMEMBERED: Final = 4096


class _CallIds:
    """The LiteLLM call ids already reported or being reported (bounded)."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, call_id: str) -> bool:
        """Mark ``call_id`` as reported: True when it was not already."""
        with self._lock:
            if call_id in self._ids:
                return False
            self._ids[call_id] = None
            if len(self._ids) > _REMEMBERED:
                self._ids.popitem(last=False)
            return True


_TAKEN: Final = _CallIds()


class _Reported:
    """One LiteLLM image call our wrapper reports itself, in the caller's thread or task."""

    __slots__ = ("began", "call_type", "kwargs", "logger", "traceparent")

    def __init__(self, logger: AieventsLogger, call_type: str, kwargs: dict[str, Any]) -> None:
        self.logger = logger
        self.call_type = call_type
        self.kwargs = kwargs
        self.began = datetime.datetime.now()
        #: The application's span at the call (the report is made at its end).
        self.traceparent = _trace.capture()

    def returned(self, result: Any) -> Any:
        """The call answered: report it; its value goes back untouched."""
        details = call_details(self.call_type, self.kwargs, result, self.traceparent)
        report_answer(self.logger.settings, details, result, self.began, datetime.datetime.now())
        return result

    def failed(self, error: BaseException) -> None:
        """The call raised (cancellation too): report it."""
        details = call_details(self.call_type, self.kwargs, None, self.traceparent)
        details["exception"] = error
        report_error(self.logger.settings, details, self.began, datetime.datetime.now())


def _claimer(call_type: str, original: Any) -> Any:
    try:
        signature: inspect.Signature | None = inspect.signature(original)
    except (TypeError, ValueError):
        signature = None

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Reported | None:
        logger = _reporter()
        if logger is None:
            return None
        call_id = kwargs.get("litellm_call_id")
        if not isinstance(call_id, str) or not call_id:
            call_id = kwargs["litellm_call_id"] = str(uuid.uuid4())
        if not _TAKEN.take(call_id):  # reported already (an outer LiteLLM function)
            return None
        given = dict(kwargs)
        if args and signature is not None:
            with contextlib.suppress(TypeError):
                given = dict(signature.bind_partial(*args, **kwargs).arguments)
            given.update(given.pop("kwargs", None) or {})
        return _Reported(logger, call_type, given)

    return begin


def _claim_calls() -> None:
    """Wrap LiteLLM's image functions to report their calls (once per process)."""
    with _LOCK:
        if _PROCESS.claims is not None:
            return
        claims = _Claims()
        for name in ENTRY_POINTS:
            original = getattr(litellm, name, None)
            if callable(original):
                claims.patches.patch(
                    litellm,
                    name,
                    wrap(original, _claimer(name, original), claims, source="litellm"),
                )
        _PROCESS.claims = claims


def _reporter() -> AieventsLogger | None:
    """The logger whose settings a wrapped call is reported with (None: no logger)."""
    logger = _PROCESS.logger
    if logger is not None and _registered(logger):
        return logger
    for item in _callbacks():
        if isinstance(item, AieventsLogger):
            return item
    return None


class AieventsLogger(CustomLogger):
    """A LiteLLM callback that reports image calls as aievents events.

    Register it yourself (``litellm.callbacks = [AieventsLogger()]``), or
    let :func:`instrument_litellm` do it. Making one wraps LiteLLM's image
    functions, once per process, so that a call through LiteLLM is reported
    once even when the openai SDK is instrumented too (see the module).

    Args:
        events: The event client to emit on; the default client when omitted
            (looked up at each call).
        prices: The price book to price with; the process default when omitted.
        capture_prompts: Copy the prompt into the started events.
        capture_outputs: Copy the images (URLs or base64) into the completed events.

    Attributes:
        settings: What the logger was given (replace it to change them).
        logger_id: This logger's own id (LiteLLM would otherwise merge two loggers).
    """

    def __init__(
        self,
        *,
        events: EventClient | None = None,
        prices: PriceBook | PriceTable | None = None,
        capture_prompts: bool = False,
        capture_outputs: bool = False,
    ) -> None:
        super().__init__()
        self.settings = Settings.given(events, prices, capture_prompts, capture_outputs)
        # LiteLLM merges loggers of one class whose str/int/bool attributes are equal:
        # each logger's own id keeps two of them apart.
        self.logger_id = uuid.uuid4().hex
        #: When this logger was made, as LiteLLM stamps a call's start (local, naive).
        self._born: datetime.datetime | None = datetime.datetime.now()
        _claim_calls()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(events={self.settings.events!r})"

    def _began_before(self, start: Any) -> bool:
        """Whether a call began before this logger was made: its logging came late, not ours.

        LiteLLM logs a call on a thread of its own after the call returned,
        with the callbacks registered by then: a call made before this
        logger (uninstrumented, or reported by the openai wrapper) is not
        reported by it, as the wrappers report only the calls made after
        them. Should the clock go back, the check is given up (no call is
        then ever left out for it).
        """
        born = self._born
        if born is None or not isinstance(start, datetime.datetime):
            return False
        if start.tzinfo is not None:
            born = born.astimezone()
        elif datetime.datetime.now() < born:  # the clock went back since
            self._born = None
            return False
        return start < born

    def _report(self, kwargs: Any, response: Any, start: Any, end: Any, *, ok: bool) -> None:
        try:
            if not is_image_call(kwargs) or claimed() or self._began_before(start):
                return
            call_id = kwargs.get("litellm_call_id")
            if isinstance(call_id, str) and call_id and not _TAKEN.take(call_id):
                return  # our wrapper reported it (or another logger did)
            if ok:
                report_answer(self.settings, kwargs, response, start, end)
            else:
                report_error(self.settings, kwargs, start, end)
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks LiteLLM's logging
            report_failure("litellm", exc)

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """Before the request: claim LiteLLM's calls again if that was undone since."""
        if _PROCESS.claims is None:
            _claim_calls()

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A sync call answered: report it (an image call only)."""
        self._report(kwargs, response_obj, start_time, end_time, ok=True)

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A sync call failed: report it (an image call only)."""
        self._report(kwargs, response_obj, start_time, end_time, ok=False)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """An async call answered: report it (an image call only)."""
        self._report(kwargs, response_obj, start_time, end_time, ok=True)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """An async call failed: report it (an image call only)."""
        self._report(kwargs, response_obj, start_time, end_time, ok=False)


def _callbacks() -> Iterator[Any]:
    """Every callback registered with LiteLLM, in each of its lists."""
    for name in CALLBACK_LISTS:
        yield from getattr(litellm, name, None) or ()


def _registered(logger: Any) -> bool:
    return any(item is logger for item in _callbacks())


def instrument_litellm(
    *,
    events: EventClient | None = None,
    prices: PriceBook | PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
) -> AieventsLogger:
    """Report the images made through LiteLLM: register an :class:`AieventsLogger`.

    The logger is added to ``litellm.callbacks``. Calling this again, or
    with an :class:`AieventsLogger` already registered by hand, only updates
    that logger's settings (one logger reports each call); :func:`uninstrument_litellm` removes it.

    Args:
        events: The event client to emit on; the default client when omitted.
        prices: The price book to price with; the process default when omitted.
        capture_prompts: Copy the prompt into the started events.
        capture_outputs: Copy the images into the completed events.

    Returns:
        The registered logger.

    Raises:
        ImportError: LiteLLM is not installed (the ``litellm`` extra).
    """
    settings = Settings.given(events, prices, capture_prompts, capture_outputs)
    with _LOCK:
        logger = _reporter()  # ours, or one registered by hand: reused, not doubled
        if logger is not None:
            logger.settings = settings
            if logger is not _PROCESS.logger:
                _PROCESS.logger, _PROCESS.added = logger, False
            return logger
        logger = AieventsLogger()
        logger.settings = settings
        with _callback_lock():
            litellm.callbacks.append(logger)
        _PROCESS.logger, _PROCESS.added = logger, True
    return logger


def uninstrument_litellm() -> None:
    """Undo :func:`instrument_litellm`; harmless when it was not done.

    Its logger leaves every list of LiteLLM's callbacks. LiteLLM's image
    functions come back as they were once no :class:`AieventsLogger` is
    registered (one you registered yourself keeps them claimed).
    """
    with _LOCK:
        logger, _PROCESS.logger = _PROCESS.logger, None
        if logger is not None and _PROCESS.added:
            unregister(logger)
        if _PROCESS.claims is not None and not is_instrumented():
            _PROCESS.claims.undo()
            _PROCESS.claims = None


def _callback_lock() -> Any:
    """LiteLLM's lock over its callback lists (a private lock where this LiteLLM has none)."""
    manager = getattr(litellm, "logging_callback_manager", None)
    return getattr(manager, "callback_lists_lock", None) or threading.Lock()


def unregister(callback: Any) -> None:
    """Take ``callback`` (any LiteLLM callback) out of every list LiteLLM keeps them in."""
    with _callback_lock():
        for name in CALLBACK_LISTS:
            found = getattr(litellm, name, None)
            if isinstance(found, list):
                found[:] = [item for item in found if item is not callback]


def is_instrumented(client: Any = None) -> bool:
    """Whether an :class:`AieventsLogger` is registered with LiteLLM (by you, or by this module).

    Args:
        client: Ignored (LiteLLM has no clients; ``aievents.instrument.is_instrumented(litellm)``
            asks this with None).
    """
    return any(isinstance(item, AieventsLogger) for item in _callbacks())
