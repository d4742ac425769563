"""LogSink: one structlog line per event, flattened, private by default, never a secret.

The event name is the log message; the usage and accounting fields are
flattened into key-value pairs::

    image:usage  request_id=req_1 model=gpt-image-1 images=1 input_tokens=50
                 output_tokens=1056 image_tokens=1056 cost_usd=0.04249 ...

``cost_usd`` is the cost aievents computed (with ``cost_basis``,
``price_version`` and ``priced_as``, the price entry used); what the provider
reported has its own fields: ``reported_cost_usd``, ``billed_quantity`` and
``billed_unit``. Each is left out when unknown. Amounts and quantities are
numbers (doubles, as ``cost_usd`` is; the exact figures are in the store and
the wire formats): an event's amounts are below 1E+15 USD and its
quantities below 1E+18, with no digit finer than 1E-30, so each is a finite
double, and not 0 unless it is 0.

It logs through ``structlog.get_logger()``, so the application's structlog
configuration (JSON or console rendering, the stdlib integration) applies.

Privacy: prompts, system prompts, options, model options and the produced
images (data and URLs) are left out unless opted in. Secrets are scrubbed
whatever the settings, opt-ins and redact hook included: values under keys
named like ``key``, ``secret``, ``token``, ``password`` or
``authorization``, and values that look like API keys or bearer tokens.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from aievents._diag import RateLimitedLog
from aievents._redact import scrub, scrub_outputs
from aievents._validate import option
from aievents.events import BaseEvent, ImageUsageEvent
from aievents.usage import flat_reported, flat_tokens

__all__ = ["LEVELS", "LogSink"]

#: The log levels a LogSink can use.
LEVELS: Final = ("debug", "info", "warning", "error", "critical")
#: Default level per event name; other events log at ``info``.
DEFAULT_LEVELS: Final[Mapping[str, str]] = {"image:request:error": "warning"}

#: Fields left out unless opted in, by opt-in.
_PROMPT_FIELDS: Final = frozenset({"prompt", "system_prompts"})
_OPTION_FIELDS: Final = frozenset({"options", "model_options"})
_OUTPUT_FIELDS: Final = frozenset({"outputs"})
#: Fields that are structure, not facts: flattened or dropped.
_NESTED: Final = frozenset({"usage", "cost"})
#: Keys structlog gives a meaning of its own; event fields of these names are renamed.
_RESERVED: Final = frozenset({"event", "log_level", "level", "logger", "exc_info", "stack_info"})

Redact = Callable[[dict[str, Any]], dict[str, Any]]
_NONE: Final = object()


class LogSink:
    """Logs every event it gets as one structlog line.

    Args:
        logger: A structlog logger, or the name to get one with
            ``structlog.get_logger(name)`` at each line (default
            ``"aievents"``), so that later configuration applies.
        levels: Level per event name (``"debug"`` to ``"critical"``);
            ``image:request:error`` logs at ``warning``, the rest at ``info``.
        include: Only these fields (after flattening), when given.
        exclude: Never these fields.
        include_prompts: Log ``prompt`` and ``system_prompts``.
        include_options: Log ``options`` and ``model_options``.
        include_outputs: Log ``outputs`` (image URLs and data).
        redact: Called with the fields of each line; returns the fields to
            log. Secrets are scrubbed from what it returns as well.

    Raises:
        ValueError: a level is not one of :data:`LEVELS`.
    """

    def __init__(
        self,
        logger: Any = "aievents",
        *,
        levels: Mapping[str, str] | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        include_prompts: bool = False,
        include_options: bool = False,
        include_outputs: bool = False,
        redact: Redact | None = None,
    ) -> None:
        merged = {**DEFAULT_LEVELS, **(levels or {})}
        for name, level in merged.items():
            option(f"levels[{name!r}]", level, LEVELS)
        if redact is not None and not callable(redact):
            raise TypeError(f"redact must be callable, got {redact!r}")
        import structlog  # noqa: PLC0415 - loaded by the first LogSink, not by import aievents

        self._get_logger = structlog.get_logger
        self._logger = logger
        self._levels = merged
        self._include = None if include is None else frozenset(include)
        hidden = set(exclude)
        if not include_prompts:
            hidden |= _PROMPT_FIELDS
        if not include_options:
            hidden |= _OPTION_FIELDS
        if not include_outputs:
            hidden |= _OUTPUT_FIELDS
        self._exclude = frozenset(hidden)
        self._redact = redact
        self._closed = False
        self._lock = threading.Lock()
        self._diag = RateLimitedLog("log")
        self.lines = 0
        self.failures = 0

    def fields(self, event: BaseEvent) -> dict[str, Any]:
        """The key-value pairs logged for ``event``: flattened, filtered, scrubbed.

        Raises:
            TypeError: the redact hook did not return a dict.
        """
        values = _flatten(event)
        include, exclude = self._include, self._exclude
        values = {
            key: value
            for key, value in values.items()
            if key not in exclude and (include is None or key in include)
        }
        if self._redact is not None:
            # The hook gets its own copy: editing it cannot touch the event.
            values = self._redact(copy.deepcopy(values))
            if not isinstance(values, dict):
                raise TypeError(f"the redact hook must return a dict, got {values!r:.40}")
        outputs = values.pop("outputs", _NONE)  # an image's URL and data: rules of their own
        scrubbed: dict[str, Any] = scrub(values)
        if outputs is not _NONE:
            scrubbed["outputs"] = scrub_outputs(outputs)
        for reserved in _RESERVED.intersection(scrubbed):  # structlog's own keys
            scrubbed[f"field_{reserved}"] = scrubbed.pop(reserved)
        return scrubbed

    def handle(self, event: BaseEvent) -> None:
        """Log one line for ``event`` at its level; a failure is counted, never raised."""
        if self._closed:
            return
        try:
            fields = self.fields(event)
            level = self._levels.get(event.event_type, "info")
            logger = self._logger
            if isinstance(logger, str):
                # bind() makes the logger now (as a log call would), so that only
                # a factory refusing the name, not the log call, is retried.
                try:
                    logger = self._get_logger(logger).bind()
                except TypeError:  # a logger factory that takes no name
                    logger = self._get_logger().bind()
            getattr(logger, level)(event.event_type, **fields)
        except Exception as exc:  # noqa: BLE001 - logging must not break the host
            with self._lock:
                self.failures += 1
            # Named by type only (no message, no frame): the event's data stays out.
            # Through the library's diagnostics, never the default structlog
            # logger (which prints to stdout).
            self._diag(
                ("failed", type(exc)),
                "warning",
                "log_sink_failed",
                error=type(exc).__name__,
                event_type=event.event_type,
            )
            return
        with self._lock:
            self.lines += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Lines are written as events come: nothing to flush."""
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop logging."""
        self._closed = True
        return True


def _flatten(event: BaseEvent) -> dict[str, Any]:
    """The event's fields that are set, with usage and cost as flat numbers."""
    values: dict[str, Any] = {}
    for name, value in _set_fields(event):
        if name in _NESTED:
            continue
        if name == "timestamp":  # structlog's own timestamp key stays the application's
            values["timestamp_ms"] = value
        elif name == "outputs":
            values[name] = [
                {k: v for k, v in (("url", o.url), ("b64_json", o.b64_json)) if v is not None}
                for o in value
            ]
        elif isinstance(value, tuple):
            values[name] = list(value)
        elif isinstance(value, Mapping):
            values[name] = dict(value)
        else:
            values[name] = value
    if isinstance(event, ImageUsageEvent):
        values.update(_usage_fields(event))
    return values


def _set_fields(event: BaseEvent) -> Iterable[tuple[str, Any]]:
    for field in attrs.fields(type(event)):
        if not field.init:
            continue
        value = getattr(event, field.name)
        if value is not None:
            yield field.name, value


def _usage_fields(event: ImageUsageEvent) -> dict[str, Any]:
    """Tokens, the computed cost (``cost_usd``) and what the provider reported, flat."""
    flat: dict[str, Any] = flat_tokens(event.usage)
    cost = event.cost
    if cost is not None:
        flat["cost_usd"] = float(cost.total)
        flat["cost_basis"] = cost.basis
        flat["price_version"] = cost.price_version
        flat["priced_as"] = cost.priced_model
        if cost.unpriced:
            flat["cost_unpriced"] = list(cost.unpriced)
    for name, value in flat_reported(event.usage).items():
        flat[name] = value if isinstance(value, str) else float(value)
    return flat
