"""OtelSink's metrics: the instruments, their names, and the attribute sets they are recorded with.

The instruments are made once, from the meter the sink was given (or the
global one: the API's proxy instruments follow a meter provider set later).
Attribute dicts are built once per (provider, model, operation, project,
user) and reused: the SDK keys its series by them, and building them per
event would be most of what the mapping costs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, Final

import attrs

from aievents._genai import DURATION_BOUNDARIES, TOKEN_BOUNDARIES
from aievents.events import ImageEvent, ImageRequestErrorEvent, ImageUsageEvent
from aievents.sinks._labels import CappedLabel

__all__ = ["MetricNames", "Metrics"]

#: Attribute sets kept, at most, before the cache starts afresh.
_MAX_DIMS: Final = 4096
#: An instrument name, as the OpenTelemetry specification allows it.
_INSTRUMENT_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_./-]{0,254}")


def _instrument_name(_: Any, attribute: Any, value: Any) -> None:
    """Refuse a name the SDK would refuse (it raises, or drops the instrument)."""
    if not isinstance(value, str) or _INSTRUMENT_NAME.fullmatch(value) is None:
        raise ValueError(
            f"metric_names[{attribute.name!r}] must be an instrument name: a letter, then"
            f" at most 254 letters, digits, '_', '.', '/' or '-'; got {value!r}"
        )


def _name(default: str) -> Any:
    return attrs.field(default=default, validator=_instrument_name)


@attrs.frozen(kw_only=True)
class MetricNames:
    """The names of OtelSink's instruments (the conventions' names are still moving).

    Attributes:
        token_usage: Histogram of tokens per request, by ``gen_ai.token.type``.
        operation_duration: Histogram of request seconds (``error.type`` on failures).
        requests: Counter of requests, one per ``image:usage`` event.
        errors: Counter of failed requests (``image:request:error``), by ``error.type``.
        images: Counter of images produced.
        cost: Counter of the cost in USD aievents computed (priced requests only).
        unpriced_requests: Counter of the requests without a price.
        reported_cost: Counter of the cost in USD the providers reported.
    """

    token_usage: str = _name("gen_ai.client.token.usage")
    operation_duration: str = _name("gen_ai.client.operation.duration")
    requests: str = _name("aievents.requests")
    errors: str = _name("aievents.request_errors")
    images: str = _name("aievents.images")
    cost: str = _name("aievents.cost")
    unpriced_requests: str = _name("aievents.unpriced_requests")
    reported_cost: str = _name("aievents.reported_cost")

    def __attrs_post_init__(self) -> None:
        # The SDK keys instruments by name, case aside: two of one name would be one.
        first: dict[str, str] = {}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            other = first.setdefault(value.lower(), field.name)
            if other != field.name:
                raise ValueError(
                    f"metric_names[{field.name!r}] is {value!r}, the name of"
                    f" metric_names[{other!r}] already: each instrument needs its own name"
                )

    @classmethod
    def of(cls, names: MetricNames | Mapping[str, str] | None) -> MetricNames:
        """``names`` as MetricNames: a mapping overrides the defaults it names.

        Raises:
            ValueError: a key that is not an instrument; a name that is not an
                instrument name (``[A-Za-z][A-Za-z0-9_./-]{0,254}``), or the
                name of another instrument.
        """
        if names is None:
            return cls()
        if isinstance(names, MetricNames):
            return names
        known = {field.name for field in attrs.fields(cls)}
        for key in dict(names):
            if key not in known:
                listing = ", ".join(sorted(known))
                raise ValueError(f"metric_names[{key!r}] is not an instrument ({listing})")
        return cls(**dict(names))


class Metrics:
    """The instruments of one sink and what it records on them per event."""

    def __init__(
        self,
        meter: Any,
        names: MetricNames,
        operation_name: str,
        project: CappedLabel | None,
        user: CappedLabel | None,
    ) -> None:
        self.tokens = meter.create_histogram(
            names.token_usage,
            unit="{token}",
            description="Tokens used per request",
            explicit_bucket_boundaries_advisory=TOKEN_BOUNDARIES,
        )
        self.duration = meter.create_histogram(
            names.operation_duration,
            unit="s",
            description="Duration of requests",
            explicit_bucket_boundaries_advisory=DURATION_BOUNDARIES,
        )
        self.requests = meter.create_counter(
            names.requests, unit="{request}", description="Requests (one per image:usage event)"
        )
        self.errors = meter.create_counter(
            names.errors, unit="{request}", description="Failed requests"
        )
        self.images = meter.create_counter(
            names.images, unit="{image}", description="Images produced"
        )
        self.cost = meter.create_counter(
            names.cost, unit="USD", description="Cost of the requests, as aievents priced them"
        )
        self.unpriced = meter.create_counter(
            names.unpriced_requests, unit="{request}", description="Requests without a price"
        )
        self.reported = meter.create_counter(
            names.reported_cost, unit="USD", description="Cost of the requests, as reported"
        )
        self._operation = operation_name
        self._project = project
        self._user = user
        self._labelled = project is not None or user is not None
        #: Attribute sets by key: (plain, input tokens, output tokens).
        self._dims: dict[tuple[Any, ...], tuple[dict[str, Any], ...]] = {}
        self._errors: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def forked(self) -> None:
        """In a forked child: a new lock (the parent's may have been held at the fork)."""
        self._lock = threading.Lock()

    def _key(self, event: ImageEvent) -> tuple[Any, ...]:
        project, user = self._project, self._user
        project_id, user_id = event.project_id, event.user_id
        # dims() builds this key itself when both labels are off: keep the two alike.
        return (  # a missing value is no label (not an empty one)
            event.provider,
            event.model,
            event.operation,
            None if project is None or project_id is None else project(project_id),
            None if user is None or user_id is None else user(user_id),
        )

    def _build(self, key: tuple[Any, ...]) -> tuple[dict[str, Any], ...]:
        provider, model, operation, project, user = key
        plain: dict[str, Any] = {"gen_ai.operation.name": self._operation}
        if provider is not None:
            plain["gen_ai.provider.name"] = provider
        if model is not None:
            plain["gen_ai.request.model"] = model
        if operation is not None:
            plain["aievents.operation"] = operation
        if project is not None:
            plain["aievents.project_id"] = project
        if user is not None:
            plain["aievents.user_id"] = user
        found = (
            plain,
            {**plain, "gen_ai.token.type": "input"},
            {**plain, "gen_ai.token.type": "output"},
        )
        with self._lock:
            if len(self._dims) >= _MAX_DIMS:
                self._dims.clear()
                self._errors.clear()
            self._dims[key] = found
        return found

    def dims(self, event: ImageEvent) -> tuple[dict[str, Any], ...]:
        """The attribute sets of ``event``: plain, input tokens, output tokens."""
        if self._labelled:
            key = self._key(event)
        else:  # _key without the opt-in labels, written out: this runs on every event
            key = (event.provider, event.model, event.operation, None, None)
        found = self._dims.get(key)
        return found if found is not None else self._build(key)

    def usage(self, event: ImageUsageEvent) -> None:
        """Record a request's usage: tokens, one request, its images and cost."""
        plain, given, taken = self.dims(event)
        usage = event.usage
        if usage.input_tokens is not None:
            self.tokens.record(usage.input_tokens, given)
        if usage.output_tokens is not None:
            self.tokens.record(usage.output_tokens, taken)
        self.requests.add(1, plain)
        if event.images:
            self.images.add(event.images, plain)
        cost = event.cost
        if cost is None:
            self.unpriced.add(1, plain)
        else:
            self.cost.add(float(cost.total), plain)
        reported = usage.reported_cost
        if reported is not None:
            self.reported.add(float(reported), plain)

    def ended(self, event: ImageEvent, duration: float | None) -> None:
        """Record the duration (milliseconds) of a request that completed."""
        if duration is not None:
            self.duration.record(duration / 1000.0, self.dims(event)[0])

    def failed(self, event: ImageRequestErrorEvent) -> None:
        """Record a failed request: one error and its duration, by ``error.type``."""
        key = (*self._key(event), event.error_type)
        found = self._errors.get(key)
        if found is None:
            plain = self.dims(event)[0]
            found = {**plain, "error.type": event.error_type}
            with self._lock:
                self._errors[key] = found
        self.errors.add(1, found)
        if event.duration is not None:
            self.duration.record(event.duration / 1000.0, found)
