"""One image request's life: started, then completed or error, then usage.

:class:`ImageRequest` gathers the facts of one call (model, size, quality,
images, usage, timing) and emits its events with one request id. Both
:func:`aievents.instrument.instrument_openai` and
:func:`aievents.instrument.image_request` drive it. Telemetry never breaks
the call: a failure to build or emit an event is logged and dropped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Final, TypeVar

from aievents import _trace
from aievents._diag import RateLimitedLog, describe
from aievents._redact import scrub_text
from aievents.adapters import to_image_usage
from aievents.adapters.answers import Answer, to_answer
from aievents.client import EventClient, get_client
from aievents.events import (
    BaseEvent,
    ImageOutput,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
    now_ms,
)
from aievents.exceptions import EventValidationError, FieldValueError
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.usage import ImageUsage, add_usage

__all__ = ["ImageRequest", "guarded", "moment", "new_request_id", "report_failure"]

T = TypeVar("T")

_DIAG: Final = RateLimitedLog("instrument")

#: Error messages longer than this are cut (provider messages can be long).
MAX_ERROR_MESSAGE: Final = 1000
_MS: Final = 1_000_000


def moment() -> tuple[int, float]:
    """Now, as :meth:`ImageRequest.answered` takes it: epoch milliseconds and ``perf_counter``."""
    return now_ms(), time.perf_counter()


def new_request_id() -> str:
    """A request id for calls whose provider gives none."""
    return f"req_{uuid.uuid4().hex}"


def report_failure(what: str, exc: BaseException) -> None:
    """Log that a telemetry step failed; the call it observes goes on.

    A bad field is named with its reason only: its value (a prompt, say)
    stays out of the log.
    """
    if isinstance(exc, FieldValueError):
        error = f"{type(exc).__name__}: field {exc.field!r} {exc.reason}"
    else:
        error = describe(exc)
    _DIAG((what, error), "warning", "instrumentation_failed", step=what, error=error)


def guarded(
    request: ImageRequest, what: str, step: Callable[[], None], *, raising: bool = False
) -> None:
    """Run a telemetry step of ``request``; its failure is logged, never raised into the call.

    With a strict event client (tests) the failure is raised, unless
    ``raising``: the call is already leaving with an exception of its own,
    which wins.
    """
    try:
        step()
    except Exception as exc:
        if request.strict and not raising:
            raise
        report_failure(what, exc)


class ImageRequest:
    """The facts of one image request, and the events that report it.

    Created by the instrumentation; :func:`image_request` hands it to your
    code so that you can add what only the provider's answer tells
    (``record_usage``, ``record_images``, ``update``).

    Attributes:
        request_id: The id shared by the request's events.
        provider: The provider, such as ``openai``.
        model: The model.
        operation: ``image.generation``, ``image.edit`` or ``image.variation``.
        size: Size of the images produced.
        quality: Quality of the images produced.
        images: Images produced, when known.
        usage: Token usage, when recorded.
        priced_as: The model the request is priced as, when ``model`` is a
            name of the caller's that the price table does not know (an
            Azure deployment); ``None`` prices ``model`` itself. The events
            keep ``model``; their cost's ``priced_model`` says which entry
            priced them.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        operation: str = "image.generation",
        size: str | None = None,
        quality: str | None = None,
        number_of_images: int | None = None,
        image_input_count: int | None = None,
        request_id: str | None = None,
        prompt: str | None = None,
        streaming: bool | None = None,
        client: EventClient | None = None,
        prices: PriceBook | PriceTable | None = None,
        fields: dict[str, Any] | None = None,
        priced_as: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.provider = provider
        self.model = model
        self.priced_as = priced_as
        self.operation = operation
        self.size = size
        self.quality = quality
        self.number_of_images = number_of_images
        self.image_input_count = image_input_count
        self.prompt = prompt
        self.streaming = streaming
        self.images: int | None = None
        self.usage: ImageUsage | None = None
        self.outputs: tuple[ImageOutput, ...] | None = None
        #: The usage of each answer recorded with an id, and the rest's sum.
        self._answers: dict[str, ImageUsage] = {}
        self._loose: ImageUsage | None = None
        self.fields = dict(fields or {})
        if "traceparent" not in self.fields:
            # The application's active span, the parent of the request's own.
            traceparent = _trace.capture()
            if traceparent is not None:
                self.fields["traceparent"] = traceparent
        self._client = client
        self._prices = book_for(prices)
        # The start in epoch nanoseconds (told to a span maker), its events' milliseconds.
        self._start_ns = time.time_ns()
        self._start_ms = self._start_ns // _MS
        self._start = time.perf_counter()
        #: When the answer arrived, if noted: (epoch ms, perf_counter), and in epoch ns.
        self._answered: tuple[int, float] | None = None
        self._answered_ns = 0
        self._started = False
        self._finished = False

    # ------------------------------------------------------------------ facts

    def record_usage(self, usage: Any) -> ImageUsage | None:
        """Record the request's usage: an :class:`ImageUsage` or any provider payload.

        Payloads are read by :func:`aievents.adapters.to_image_usage` (OpenAI,
        orq, TanStack, Gemini). Usage recorded twice (several streamed
        results) is added up by :func:`aievents.usage.add_usage`: tokens,
        the provider's cost and cost details, and what it billed. A payload
        that cannot be read is logged and ignored, so that telemetry never
        breaks the call; the usage read is returned, or ``None``.
        """
        try:
            read = to_image_usage(usage)
        except EventValidationError as exc:
            _DIAG(
                ("usage", exc.field, exc.reason),
                "warning",
                "usage_unreadable",
                request_id=self.request_id,
                field=exc.field,
                reason=exc.reason,
            )
            return None
        self._add_usage(read)
        return read

    def _add_usage(self, usage: ImageUsage) -> None:
        self.usage = usage if self.usage is None else add_usage(self.usage, usage)
        # What no answer id owns, kept apart for _add_answer_usage.
        self._loose = usage if self._loose is None else add_usage(self._loose, usage)

    def record(self, answer: T) -> T:
        """Record what a provider's answer says, and return ``answer`` itself.

        One line at the call site: ``image = req.record(client.generate(...))``.
        ``answer`` is a whole answer of any supported provider (an SDK
        object or its JSON body as a dict: OpenAI's ``ImagesResponse``, fal's
        result, a Bedrock ``invoke_model`` body, a Replicate prediction or
        output, Stability's and BFL's answers; see
        :func:`aievents.adapters.read_answer`) or a bare usage object of any
        supported provider (:func:`aievents.adapters.to_image_usage`). From it
        the request learns:

        - its images (added up when several answers are recorded; images a
          safety filter held back are not counted) and usage (added up by
          :func:`aievents.usage.add_usage`, what the provider billed or
          charged included; an answer carrying the provider id of one
          recorded before is a later part of it, such as the next chunk of
          a Gemini stream, whose usage so far replaces the earlier);
        - the model the answer names, which may be more exact than the one
          asked for: the events report it; when the price table knows the
          model asked for but not the answer's, the request is priced as
          the one asked for;
        - size and quality, when the answer says (``auto`` never replaces a
          known value);
        - the provider's id of the answer: the started event went out with
          the request's id when the request began, and one request keeps
          one id, so the provider's id is kept as ``correlation_id`` (give
          ``request_id`` up front to have it as the request's own id).

        The cost is worked out when the request ends, from all that.

        Telemetry never breaks the call: a payload nobody recognises, or a
        malformed one, raises :class:`~aievents.exceptions.EventValidationError`
        (naming the payload's type, or the bad field) only with a strict
        event client (tests); otherwise it is logged and nothing is
        recorded. ``answer`` is returned unchanged either way.
        """
        guarded(self, "record", lambda: self._learn(to_answer(answer)))
        return answer

    def _learn(self, facts: Answer) -> None:
        """Take the facts of one answer (see :meth:`record`)."""
        if self._finished:
            raise RuntimeError(
                f"request {self.request_id} has already ended: record its answer before it ends"
            )
        if facts.usage is not None:
            self._add_answer_usage(facts.usage, facts.request_id)
        if facts.images is not None:
            self.images = (self.images or 0) + facts.images
        self.learn_model(facts.model)
        self.learn_settings(size=facts.size, quality=facts.quality)
        self.update(request_id=facts.request_id)

    def _add_answer_usage(self, usage: ImageUsage, answer_id: str | None) -> None:
        """Add an answer's usage; a later part of an answer already seen replaces its earlier.

        The chunks of one streamed answer share its id and each carries the
        usage so far: the last one is the answer's, not their sum.
        """
        if answer_id is None:
            self._add_usage(usage)
            return
        seen = answer_id in self._answers
        self._answers[answer_id] = usage
        if not seen:
            self.usage = usage if self.usage is None else add_usage(self.usage, usage)
            return
        self.usage = self._loose
        for each in self._answers.values():
            self.usage = each if self.usage is None else add_usage(self.usage, each)

    def learn_model(self, model: str | None) -> None:
        """Take the model an answer names, which may be more exact than the one asked for.

        The events report it. When the price table lacks it but knows the
        model asked for, and nothing else is set to price the request as
        (``priced_as``), the request is priced as the model asked for.
        """
        if model is None or model == self.model:
            return
        if (
            self.priced_as is None
            and self._prices.lookup(model, self.provider) is None
            and self._prices.lookup(self.model, self.provider) is not None
        ):
            self.priced_as = self.model
        self.model = model

    def learn_settings(self, *, size: str | None = None, quality: str | None = None) -> None:
        """Take the size and quality an answer reports; ``auto`` never replaces a known value."""
        if size is not None and (self.size in (None, "auto") or size != "auto"):
            self.size = size
        if quality is not None and (self.quality in (None, "auto") or quality != "auto"):
            self.quality = quality

    def record_images(self, count: int) -> None:
        """Record how many images the request produced."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            report_failure("record_images", ValueError(f"images must be a count, got {count!r}"))
            return
        self.images = count

    def update(self, **facts: Any) -> None:
        """Set facts learned from the answer: ``model``, ``size``, ``quality``, ``request_id``.

        ``priced_as`` sets the model to price the request as (see the class).

        Other keyword arguments become fields of the events (for example
        ``user_id`` or ``thread_id``). A request id learned after the started
        event went out is kept as ``correlation_id``: one request keeps one id.
        """
        request_id = facts.pop("request_id", None)
        if request_id is not None and request_id != self.request_id:
            if self._started:  # the started event has gone out with the first id
                self.fields.setdefault("correlation_id", request_id)
            else:
                self.request_id = request_id
        for name in ("model", "size", "quality", "operation", "provider", "priced_as"):
            if name in facts:
                value = facts.pop(name)
                if value is not None:
                    setattr(self, name, value)
        self.fields.update(facts)

    def began(self, at: tuple[int, float]) -> None:
        """Note that the request began at ``at`` (as :func:`moment` gives it), before now.

        For a request reported after the fact (a gateway's callback, told
        when the call began): its started event is stamped with that moment,
        and its ``duration`` starts there.
        """
        self._start_ms, self._start = at
        self._start_ns = self._start_ms * _MS

    def answered(self, at: tuple[int, float] | None = None) -> None:
        """Note that the provider's answer arrived now (or ``at``, as :meth:`moment` gave it).

        The events that end the request (completed or error, then usage) are
        then stamped with that moment, and its ``duration`` ends there,
        however much later the caller reads the answer and the request is
        reported.
        """
        if at is None:
            now = time.time_ns()
            at = (now // _MS, time.perf_counter())
            self._answered_ns = now
        else:
            self._answered_ns = at[0] * _MS
        self._answered = at

    @property
    def duration_ms(self) -> float:
        """Milliseconds from the start to the answer (when noted), else to now."""
        end = self._answered[1] if self._answered is not None else time.perf_counter()
        return (end - self._start) * 1000.0

    def _ended(self) -> tuple[int, int]:
        """When the request ended: its ending events' timestamp (ms), and in epoch ns."""
        if self._answered is not None:
            return self._answered[0], self._answered_ns
        now = time.time_ns()
        return now // _MS, now

    # ------------------------------------------------------------------ events

    def _target(self) -> EventClient:
        return self._client if self._client is not None else get_client()

    @property
    def strict(self) -> bool:
        """Whether the event client re-raises handler errors (for tests)."""
        return self._target().strict

    def _common(self) -> dict[str, Any]:
        common = {
            "request_id": self.request_id,
            "provider": self.provider,
            "model": self.model,
            "operation": self.operation,
            "size": self.size,
            "quality": self.quality,
            "streaming": self.streaming,
        }
        common.update(self.fields)
        return common

    def _emit(
        self, what: str, build: type[BaseEvent], told: tuple[int, int | None] | None, **values: Any
    ) -> None:
        target = self._target()
        if told is not None:  # a span maker times the request's span in ns, not in ms
            _trace.timed(self.request_id, *told)
        try:
            target.emit(build(**values))
        except Exception as exc:
            if target.strict:  # a strict client is for tests: they see handler errors
                raise
            report_failure(what, exc)
        finally:
            if told is not None:
                _trace.timed(None)

    def start(self) -> None:
        """Emit ``image:request:started`` (once), stamped with the time the request began."""
        if self._started:
            return
        self._started = True
        if self.request_id is None:
            self.request_id = new_request_id()
        self._emit(
            "started",
            ImageRequestStartedEvent,
            (self._start_ns, None),
            timestamp=self._start_ms,
            prompt=self.prompt,
            number_of_images=self.number_of_images,
            image_input_count=self.image_input_count,
            **self._common(),
        )
        # A sink that made the request's span (OtelSink) told its ids while
        # the started event was delivered: the later events carry them.
        ids = _trace.take(self.request_id)
        if ids is not None:
            self.fields["trace_id"], self.fields["span_id"] = ids

    def complete(self) -> None:
        """Emit ``completed`` then ``image:usage`` (once).

        Every completed request is on the books: ``image:usage`` goes out
        whether or not the answer reported tokens, with ``cost=None`` when no
        price is known (a sink counts the request as unpriced, never as $0).
        """
        if self._finished:
            return
        self.start()
        self._finished = True
        duration = self.duration_ms
        common = self._common()
        ended, ended_ns = self._ended()
        self._emit(
            "completed",
            ImageRequestCompletedEvent,
            (self._start_ns, ended_ns),
            timestamp=ended,
            duration=duration,
            images=self.images,
            outputs=self.outputs,
            **common,
        )
        try:
            cost = self._prices.price_facts(
                self.priced_as or self.model,
                provider=self.provider,
                usage=self.usage,
                images=self.images,
                size=self.size,
                quality=self.quality,
                timestamp=ended,
            )
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the call
            report_failure("cost", exc)
            cost = None
        # usage.cost stays what the provider reported (None when it reported
        # nothing): the computed cost is the event's own ``cost``.
        usage = self.usage if self.usage is not None else ImageUsage()
        self._emit(
            "usage",
            ImageUsageEvent,
            None,
            timestamp=ended,
            usage=usage,
            cost=cost,
            images=self.images,
            **common,
        )

    def fail(
        self,
        error: BaseException,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        message: str | None = None,
    ) -> None:
        """Emit ``image:request:error`` for ``error`` (once)."""
        if self._finished:
            return
        self.start()
        self._finished = True
        if status_code is None:
            status = getattr(error, "status_code", None)
            status_code = status if isinstance(status, int) else None
        text = scrub_text(str(error) if message is None else message)
        ended, ended_ns = self._ended()
        self._emit(
            "error",
            ImageRequestErrorEvent,
            (self._start_ns, ended_ns),
            timestamp=ended,
            error_type=error_type or type(error).__name__,
            error_message=text[:MAX_ERROR_MESSAGE] or None,
            status_code=status_code,
            duration=self.duration_ms,
            **self._common(),
        )
