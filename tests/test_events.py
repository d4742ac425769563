"""Tests for aievents.events: the registry, validation, immutability, stamping and attribution."""

from __future__ import annotations

import contextvars
import math
import os
import threading
import time
import warnings
from collections.abc import Iterator
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievents.context import (
    BOUND,
    bind_context,
    clear_context,
    context,
    get_context,
    unbind_context,
)
from aievents.events import (
    EVENT_TYPES,
    BaseEvent,
    ImageOutput,
    ImageRequestCompletedEvent,
    ImageRequestErrorEvent,
    ImageRequestStartedEvent,
    ImageUsageEvent,
    event_class,
    new_event_id,
)
from aievents.exceptions import EventValidationError
from aievents.money import ImageCost
from aievents.usage import ImageUsage
from aievents.wire import to_dict

from helpers import check_names

# The event names of DESIGN.md section 3 and the TanStack reference.
NAMES: dict[str, type[BaseEvent]] = {
    "image:request:started": ImageRequestStartedEvent,
    "image:request:completed": ImageRequestCompletedEvent,
    "image:usage": ImageUsageEvent,
    "image:request:error": ImageRequestErrorEvent,
}
CLASSES = list(NAMES.values())

# The smallest valid keyword arguments of each class: its required fields.
REQUIRED_KWARGS: dict[type[BaseEvent], dict[str, Any]] = {
    ImageRequestStartedEvent: {"request_id": "req-1", "provider": "openai", "model": "gpt-image-1"},
    ImageRequestCompletedEvent: {
        "request_id": "req-1",
        "provider": "openai",
        "model": "gpt-image-1",
        "duration": 1234.5,
    },
    ImageUsageEvent: {
        "request_id": "req-1",
        "model": "gpt-image-1",
        "usage": ImageUsage(input_tokens=50, output_tokens=50, total_tokens=100),
    },
    ImageRequestErrorEvent: {
        "request_id": "req-1",
        "provider": "openai",
        "model": "gpt-image-1",
        "error_type": "RateLimitError",
    },
}
REQUIRED_FIELDS = [(cls, name) for cls, kwargs in REQUIRED_KWARGS.items() for name in kwargs]

OPTIONAL_STRING_FIELDS = [
    "event_id",
    "stream_id",
    "hook_id",
    "thread_id",
    "run_id",
    "message_id",
    "tool_call_id",
    "client_id",
    "runtime_id",
    "correlation_id",
    "related_event_id",
    "size",
    "quality",
    "user_id",
    "project_id",
    "api_key_id",
]
COUNT_FIELDS = [
    (cls, name) for cls in CLASSES for name in ("sequence", "message_count", "images")
] + [
    (ImageRequestStartedEvent, "number_of_images"),
    (ImageRequestStartedEvent, "image_input_count"),
    (ImageRequestStartedEvent, "video_input_count"),
    (ImageRequestStartedEvent, "audio_input_count"),
    (ImageRequestErrorEvent, "status_code"),
]
BOOL_FIELDS = ["has_tools", "streaming"]
LIST_FIELDS = ["system_prompts", "tool_names"]
MAPPING_FIELDS = ["options", "model_options"]

A_TIMESTAMP_MS = 1_713_833_628_000  # 2024-04-23, the spec example's `created`, in ms

non_strings = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=4),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_counts = st.one_of(
    st.integers(max_value=-1),
    st.floats(),
    st.booleans(),
    st.text(max_size=5),
    st.decimals(allow_nan=False),
)
bad_durations = st.one_of(
    st.floats(max_value=-1e-9),
    st.just(math.nan),
    st.just(math.inf),
    st.booleans(),
    st.text(max_size=5),
)


def build(cls: type[BaseEvent], **overrides: Any) -> Any:
    """Build ``cls`` from its required fields, with ``overrides`` on top."""
    return cls(**{**REQUIRED_KWARGS[cls], **overrides})


def raises_naming(cls: type[BaseEvent], field: str, value: Any) -> EventValidationError:
    """Build ``cls`` with ``field=value``; return the error, checked to name field and value."""
    with pytest.raises(EventValidationError) as info:
        build(cls, **{field: value})
    return check_names(info.value, field, value)


class TestRegistry:
    """The event-name registry."""

    @pytest.mark.parametrize(("name", "cls"), NAMES.items())
    def test_class_registered_under_its_name(self, name: str, cls: type[BaseEvent]) -> None:
        """Each image event class is in EVENT_TYPES under its name and says so itself."""
        assert EVENT_TYPES[name] is cls
        assert cls.event_type == name

    @pytest.mark.parametrize(("name", "cls"), NAMES.items())
    def test_event_class_finds_it(self, name: str, cls: type[BaseEvent]) -> None:
        """event_class() returns the class registered for a name."""
        assert event_class(name) is cls

    def test_registry_holds_exactly_the_image_events(self) -> None:
        """EVENT_TYPES holds the four image events and nothing else."""
        assert dict(EVENT_TYPES) == NAMES

    def test_registry_is_read_only(self) -> None:
        """EVENT_TYPES cannot be changed at run time."""
        with pytest.raises(TypeError):
            EVENT_TYPES["image:other"] = ImageUsageEvent  # type: ignore[index]
        assert "image:other" not in EVENT_TYPES

    @given(name=st.text(max_size=30).filter(lambda n: n not in NAMES))
    def test_unknown_name_is_refused(self, name: str) -> None:
        """An unknown name raises EventValidationError (a ValueError) naming field 'type'."""
        with pytest.raises(ValueError, match="must be a known event type") as info:
            event_class(name)
        assert isinstance(info.value, EventValidationError)
        check_names(info.value, "type", name)

    @pytest.mark.parametrize("name", [None, 1, ["image:usage"], {"image:usage": 1}])
    def test_non_string_name_is_refused(self, name: Any) -> None:
        """A name that is not even a string (unhashable ones too) is refused the same way."""
        with pytest.raises(EventValidationError) as info:
            event_class(name)
        check_names(info.value, "type", name)

    def test_prefixed_envelope_name_is_not_an_event_name(self) -> None:
        """The TanStack envelope's prefixed type is not an event name."""
        with pytest.raises(EventValidationError):
            event_class("tanstack-ai-devtools:image:usage")


class TestRequiredFields:
    """Required fields of each event class."""

    @pytest.mark.parametrize("cls", CLASSES)
    def test_required_fields_suffice(self, cls: type[BaseEvent]) -> None:
        """The required fields alone build the event and are kept as given."""
        event = build(cls)
        for name, value in REQUIRED_KWARGS[cls].items():
            assert getattr(event, name) is value

    @pytest.mark.parametrize(("cls", "field"), REQUIRED_FIELDS)
    def test_missing_required_field(self, cls: type[BaseEvent], field: str) -> None:
        """Leaving out a required field raises an error naming it and the event type."""
        kwargs = {k: v for k, v in REQUIRED_KWARGS[cls].items() if k != field}
        with pytest.raises(EventValidationError) as info:
            cls(**kwargs)
        err = info.value
        assert err.field == field
        assert err.missing is True
        assert err.value is None
        message = str(err)
        assert repr(field) in message
        assert "missing" in message
        assert cls.event_type in message

    @pytest.mark.parametrize(("cls", "field"), REQUIRED_FIELDS)
    def test_required_field_none(self, cls: type[BaseEvent], field: str) -> None:
        """Passing None for a required field is refused, naming the field and None."""
        raises_naming(cls, field, None)

    @pytest.mark.parametrize(
        ("cls", "field"), [(c, f) for c, f in REQUIRED_FIELDS if f not in ("usage", "duration")]
    )
    def test_required_string_empty(self, cls: type[BaseEvent], field: str) -> None:
        """A required string field may not be empty."""
        raises_naming(cls, field, "")

    def test_missing_error_is_a_value_error(self) -> None:
        """The error for a missing field is catchable as ValueError."""
        with pytest.raises(ValueError, match="'request_id' is required"):
            ImageUsageEvent(model="m", usage=ImageUsage())  # type: ignore[call-arg]


class TestFieldValidation:
    """Every field refuses values of the wrong type or out of range."""

    @pytest.mark.parametrize(("cls", "field"), COUNT_FIELDS)
    @given(value=bad_counts)
    def test_bad_count(self, cls: type[BaseEvent], field: str, value: Any) -> None:
        """Counts refuse negatives, floats (integral ones too), strings, bools, decimals."""
        raises_naming(cls, field, value)

    @pytest.mark.parametrize(("cls", "field"), COUNT_FIELDS)
    @given(value=st.integers(min_value=0))
    def test_good_count_is_kept(self, cls: type[BaseEvent], field: str, value: int) -> None:
        """Any non-negative integer is a valid count."""
        assert getattr(build(cls, **{field: value}), field) == value

    @pytest.mark.parametrize("cls", CLASSES)
    @pytest.mark.parametrize("value", [-1, 1.0, 2.5, "3", True, False])
    def test_bad_count_examples(self, cls: type[BaseEvent], value: Any) -> None:
        """The classic mistakes are refused on ``images``: -1, 1.0, 2.5, '3', True, False."""
        raises_naming(cls, "images", value)

    @pytest.mark.parametrize("field", OPTIONAL_STRING_FIELDS)
    @given(value=non_strings)
    def test_bad_optional_string(self, field: str, value: Any) -> None:
        """Optional string fields refuse anything that is not a string."""
        raises_naming(ImageRequestStartedEvent, field, value)

    @pytest.mark.parametrize(("cls", "field"), REQUIRED_FIELDS)
    @given(value=non_strings)
    def test_bad_required_value(self, cls: type[BaseEvent], field: str, value: Any) -> None:
        """Required fields refuse values of the wrong type."""
        if field == "duration" and type(value) in (int, float) and math.isfinite(value):
            value = -abs(value) - 1  # numbers are the right type for a duration
        raises_naming(cls, field, value)

    @pytest.mark.parametrize(
        ("cls", "field"),
        [(ImageRequestCompletedEvent, "duration"), (ImageRequestErrorEvent, "duration")],
    )
    @given(value=bad_durations)
    def test_bad_duration(self, cls: type[BaseEvent], field: str, value: Any) -> None:
        """Durations must be finite, non-negative numbers of milliseconds."""
        raises_naming(cls, field, value)

    @pytest.mark.parametrize("value", [0, 0.0, 12, 1234.5])
    def test_good_duration_is_kept(self, value: float) -> None:
        """An int or float number of milliseconds is a valid duration."""
        assert build(ImageRequestCompletedEvent, duration=value).duration == value

    @pytest.mark.parametrize("field", BOOL_FIELDS)
    @given(value=st.one_of(st.integers(), st.text(max_size=5), st.floats(), st.lists(st.none())))
    def test_bad_bool(self, field: str, value: Any) -> None:
        """Boolean fields take True or False only, not 1, 0 or 'yes'."""
        raises_naming(ImageUsageEvent, field, value)

    @pytest.mark.parametrize("field", LIST_FIELDS)
    @given(
        value=st.one_of(
            st.text(max_size=5),
            st.integers(),
            st.frozensets(st.text(max_size=3), max_size=2),
            st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        )
    )
    def test_bad_list(self, field: str, value: Any) -> None:
        """List fields refuse a bare string, a number, a set or a mapping."""
        raises_naming(ImageRequestStartedEvent, field, value)

    @pytest.mark.parametrize("field", LIST_FIELDS)
    @given(
        items=st.lists(st.text(max_size=5), max_size=4),
        bad=st.one_of(st.integers(), st.none(), st.binary(max_size=3)),
        data=st.data(),
    )
    def test_bad_list_item(self, field: str, items: list[str], bad: Any, data: Any) -> None:
        """A non-string item of a list field is named by its index."""
        index = data.draw(st.integers(min_value=0, max_value=len(items)))
        items.insert(index, bad)
        with pytest.raises(EventValidationError) as info:
            build(ImageRequestStartedEvent, **{field: items})
        check_names(info.value, f"{field}[{index}]", bad)

    def test_bad_list_item_error_value_is_the_item(self) -> None:
        """The error for a bad list item carries the item, not the whole list."""
        with pytest.raises(EventValidationError) as info:
            build(ImageUsageEvent, tool_names=["search", 7])
        check_names(info.value, "tool_names[1]", 7)

    @pytest.mark.parametrize("field", MAPPING_FIELDS)
    @given(
        value=st.one_of(
            st.text(max_size=5),
            st.integers(),
            st.lists(st.tuples(st.text(max_size=3), st.integers()), max_size=2),
        )
    )
    def test_bad_mapping(self, field: str, value: Any) -> None:
        """Mapping fields refuse strings, numbers and lists of pairs."""
        raises_naming(ImageRequestCompletedEvent, field, value)

    @pytest.mark.parametrize("field", MAPPING_FIELDS)
    @pytest.mark.parametrize("key", [1, None, ("a",)])
    def test_mapping_with_non_string_key(self, field: str, key: Any) -> None:
        """A mapping key that is not a string is named in the field path."""
        with pytest.raises(EventValidationError) as info:
            build(ImageRequestStartedEvent, **{field: {"ok": 1, key: 2}})
        check_names(info.value, f"{field}[{key!r}]", key)

    @pytest.mark.parametrize("cls", CLASSES)
    @given(
        value=st.one_of(
            st.text(max_size=20).filter(
                lambda s: s not in ("image.generation", "image.edit", "image.variation")
            ),
            st.sampled_from(["IMAGE.GENERATION", "image.generation ", "generation", "images"]),
            st.integers(),
            st.lists(st.just("image.edit"), min_size=1, max_size=1),
            st.dictionaries(st.just("image.edit"), st.integers(), min_size=1, max_size=1),
        )
    )
    def test_unknown_operation(self, cls: type[BaseEvent], value: Any) -> None:
        """``operation`` is one of OpenAI's usage sources, nothing else (unhashables too)."""
        err = raises_naming(cls, "operation", value)
        assert "image.generation" in str(err)

    @pytest.mark.parametrize("operation", ["image.generation", "image.edit", "image.variation"])
    def test_known_operation_is_kept(self, operation: str) -> None:
        """The three OpenAI usage sources are valid operations."""
        assert build(ImageUsageEvent, operation=operation).operation == operation

    @given(
        value=st.one_of(
            st.text(max_size=20).filter(lambda s: s not in ("client", "server", "devtools")),
            st.sampled_from(["Client", "browser", "SERVER"]),
            st.integers(),
            st.lists(st.just("client"), min_size=1, max_size=1),
        )
    )
    def test_unknown_source(self, value: Any) -> None:
        """``source`` is client, server or devtools, nothing else."""
        err = raises_naming(ImageRequestStartedEvent, "source", value)
        assert "'client'" in str(err)

    @pytest.mark.parametrize("source", ["client", "server", "devtools"])
    def test_known_source_is_kept(self, source: str) -> None:
        """client, server and devtools are valid sources."""
        assert build(ImageRequestStartedEvent, source=source).source == source

    @given(value=st.text(max_size=20).filter(lambda s: "-" not in s))
    def test_unknown_visibility(self, value: str) -> None:
        """``visibility`` takes TanStack's four values only."""
        raises_naming(ImageUsageEvent, "visibility", value)

    @pytest.mark.parametrize("value", [{"input_tokens": 1}, None, 100, ImageOutput()])
    def test_usage_must_be_image_usage(self, value: Any) -> None:
        """``usage`` must be an ImageUsage, not a provider payload left unconverted."""
        err = raises_naming(ImageUsageEvent, "usage", value)
        assert "ImageUsage" in str(err)

    @pytest.mark.parametrize("value", ["https://x/a.png", 3, ImageOutput(url="u")])
    def test_outputs_must_be_a_list(self, value: Any) -> None:
        """``outputs`` is a list of ImageOutput, not a single one or a string."""
        raises_naming(ImageRequestCompletedEvent, "outputs", value)

    @pytest.mark.parametrize("item", [{"url": "https://x/a.png"}, "https://x/a.png", None])
    def test_outputs_item_must_be_image_output(self, item: Any) -> None:
        """A raw dict or string among the outputs is named by its index."""
        with pytest.raises(EventValidationError) as info:
            build(ImageRequestCompletedEvent, outputs=[ImageOutput(url="u"), item])
        check_names(info.value, "outputs[1]", item)

    @pytest.mark.parametrize("field", ["url", "b64_json", "revised_prompt"])
    @given(value=non_strings)
    def test_image_output_fields(self, field: str, value: Any) -> None:
        """ImageOutput refuses non-string fields and says it was building an ImageOutput."""
        with pytest.raises(EventValidationError) as info:
            ImageOutput(**{field: value})
        err = check_names(info.value, field, value)
        assert "ImageOutput" in str(err)

    def test_error_names_the_event_type(self) -> None:
        """The message starts with the type of event being built."""
        with pytest.raises(EventValidationError) as info:
            build(ImageRequestErrorEvent, status_code=-1)
        assert info.value.owner == "image:request:error"
        assert str(info.value).startswith("image:request:error: ")


class TestCostUsd:
    """ImageUsageEvent.cost_usd: the computed total, never the provider's figure."""

    @pytest.mark.parametrize(
        ("priced", "reported", "expected"),
        [
            pytest.param("0.042", "0.5", Decimal("0.042"), id="priced"),
            pytest.param(None, "0.5", None, id="reported-only"),
            pytest.param(None, None, None, id="unknown"),
        ],
    )
    def test_cost_usd(self, priced: str | None, reported: str | None, expected: Any) -> None:
        """The breakdown's total, else None; the provider's cost stays in usage.reported_cost."""
        cost = (
            ImageCost(total=priced, basis="tokens", price_version="t", priced_model="gpt-image-2")
            if priced is not None
            else None
        )
        event = ImageUsageEvent(
            request_id="img-1",
            model="gpt-image-2",
            usage=ImageUsage(input_tokens=10, cost=reported),
            cost=cost,
        )
        assert event.cost_usd == expected
        assert event.usage.reported_cost == (None if reported is None else Decimal(reported))


class TestPricedAs:
    """ImageUsageEvent.priced_as: the price entry used (cost.priced_model), None when unpriced."""

    def test_priced(self) -> None:
        """A dated snapshot the caller named is priced as its base model's entry."""
        cost = ImageCost(
            total="0.04", basis="images", price_version="t", priced_model="gpt-image-1"
        )
        event = ImageUsageEvent(
            request_id="img-1", model="gpt-image-1-2025-04-15", usage=ImageUsage(), cost=cost
        )
        assert (event.model, event.priced_as) == ("gpt-image-1-2025-04-15", "gpt-image-1")

    def test_unpriced(self) -> None:
        """No cost, no entry: None (even when the provider reported a cost)."""
        event = ImageUsageEvent(request_id="img-1", model="m", usage=ImageUsage(cost="0.5"))
        assert event.priced_as is None

    def test_not_on_the_wire(self) -> None:
        """A property of the cost, not a field: the wire formats carry priced_model only."""
        assert "priced_as" not in {field.name for field in attrs.fields(ImageUsageEvent)}
        cost = ImageCost(total="0.04", basis="images", price_version="t", priced_model="x")
        event = ImageUsageEvent(request_id="r", model="m", usage=ImageUsage(), cost=cost)
        assert "priced_as" not in to_dict(event)
        assert to_dict(event)["cost"]["priced_model"] == "x"


class TestTimestamp:
    """``timestamp`` is epoch milliseconds; seconds and microseconds are refused."""

    def test_seconds_are_refused(self) -> None:
        """A timestamp in seconds (the spec's ``created``) is refused with a hint."""
        err = raises_naming(ImageUsageEvent, "timestamp", 1_713_833_628)
        assert "seconds" in str(err)

    def test_microseconds_are_refused(self) -> None:
        """A timestamp in microseconds is refused."""
        err = raises_naming(ImageUsageEvent, "timestamp", 1_713_833_628_000_000)
        assert "microseconds" in str(err)

    @given(value=st.integers(min_value=1, max_value=10_000_000_000))
    def test_any_plausible_seconds_refused(self, value: int) -> None:
        """Any epoch-seconds value up to year 2286 is refused."""
        raises_naming(ImageRequestStartedEvent, "timestamp", value)

    @given(value=st.integers(min_value=10**15, max_value=10**19))
    def test_any_plausible_micro_or_nanoseconds_refused(self, value: int) -> None:
        """Epoch microseconds and nanoseconds of this century are refused."""
        raises_naming(ImageRequestStartedEvent, "timestamp", value)

    @given(value=st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text()))
    def test_non_positive_or_non_int_refused(self, value: Any) -> None:
        """Zero, negatives, floats (even integral ones), bools and strings are refused."""
        raises_naming(ImageRequestStartedEvent, "timestamp", value)

    def test_integral_float_millis_refused(self) -> None:
        """A float of milliseconds is refused: timestamps are integers."""
        raises_naming(ImageUsageEvent, "timestamp", float(A_TIMESTAMP_MS))

    @given(value=st.integers(min_value=10**12, max_value=10**13))
    def test_milliseconds_are_kept(self, value: int) -> None:
        """Epoch milliseconds from 2001 to 2286 are kept exactly."""
        assert build(ImageUsageEvent, timestamp=value).timestamp == value

    @pytest.mark.parametrize("cls", CLASSES)
    def test_defaults_to_now_in_ms(self, cls: type[BaseEvent]) -> None:
        """Without a timestamp, the event gets the current time in epoch milliseconds."""
        before = time.time_ns() // 1_000_000
        event = build(cls)
        after = time.time_ns() // 1_000_000
        assert type(event.timestamp) is int
        assert before <= event.timestamp <= after

    def test_explicit_timestamp_is_kept(self) -> None:
        """An explicit timestamp is not replaced by now."""
        assert build(ImageRequestErrorEvent, timestamp=A_TIMESTAMP_MS).timestamp == A_TIMESTAMP_MS


class TestImmutability:
    """Events cannot be changed once built: handlers share one instance."""

    @pytest.mark.parametrize("cls", CLASSES)
    @pytest.mark.parametrize("field", ["model", "request_id", "timestamp", "event_id", "user_id"])
    def test_assignment_raises(self, cls: type[BaseEvent], field: str) -> None:
        """Assigning any field raises FrozenInstanceError and leaves the event as it was."""
        event = build(cls)
        before = getattr(event, field)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(event, field, "changed")
        assert getattr(event, field) == before

    @pytest.mark.parametrize("cls", CLASSES)
    def test_deletion_and_new_attributes_raise(self, cls: type[BaseEvent]) -> None:
        """Fields cannot be deleted, nor new attributes added."""
        event = build(cls)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            del event.model
        with pytest.raises((attrs.exceptions.FrozenInstanceError, AttributeError)):
            event.extra = 1

    @pytest.mark.parametrize("field", LIST_FIELDS)
    def test_lists_become_tuples(self, field: str) -> None:
        """List fields are stored as tuples, detached from the caller's list."""
        given_list = ["a", "b"]
        event = build(ImageRequestStartedEvent, **{field: given_list})
        value = getattr(event, field)
        assert type(value) is tuple
        assert value == ("a", "b")
        given_list.append("c")
        assert getattr(event, field) == ("a", "b")

    def test_tuples_are_kept(self) -> None:
        """A tuple given for a list field is kept as is."""
        names = ("search", "draw")
        assert build(ImageUsageEvent, tool_names=names).tool_names is names

    def test_outputs_become_a_tuple(self) -> None:
        """``outputs`` given as a list is stored as a tuple of ImageOutput."""
        outputs = [ImageOutput(url="https://x/1.png"), ImageOutput(b64_json="aGk=")]
        event = build(ImageRequestCompletedEvent, outputs=outputs)
        assert event.outputs == tuple(outputs)
        assert type(event.outputs) is tuple

    def test_image_output_is_frozen(self) -> None:
        """ImageOutput is frozen too."""
        output = ImageOutput(url="u")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            output.url = "v"  # type: ignore[misc]

    def test_events_are_slotted(self) -> None:
        """Events carry no per-instance __dict__."""
        assert not hasattr(build(ImageUsageEvent), "__dict__")


class TestEventId:
    """``event_id`` is generated unique, or kept when given."""

    @pytest.mark.parametrize("cls", CLASSES)
    def test_generated(self, cls: type[BaseEvent]) -> None:
        """An event built without an id gets a non-empty string id."""
        event_id = build(cls).event_id
        assert isinstance(event_id, str)
        assert event_id

    def test_unique_across_events_and_classes(self) -> None:
        """Ids of many events of every class never repeat."""
        ids = [build(cls).event_id for _ in range(500) for cls in CLASSES]
        ids += [new_event_id() for _ in range(500)]
        assert len(set(ids)) == len(ids)

    def test_unique_across_threads(self) -> None:
        """Events built at the same time in several threads get distinct ids."""
        barrier = threading.Barrier(4)
        results: list[list[str]] = []

        def work() -> None:
            barrier.wait()
            results.append([build(ImageUsageEvent).event_id for _ in range(500)])

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ids = [event_id for chunk in results for event_id in chunk]
        assert len(ids) == 2000
        assert len(set(ids)) == 2000

    @pytest.mark.parametrize("cls", CLASSES)
    def test_explicit_id_is_kept(self, cls: type[BaseEvent]) -> None:
        """An explicit event_id is not replaced."""
        assert build(cls, event_id="evt-given").event_id == "evt-given"

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_distinct_in_forked_child(self) -> None:
        """A forked child never hands out an id its parent hands out after the fork."""
        count = 200
        before_fork = new_event_id()
        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns when forking while other threads run; the
            # child below only builds ids, writes them and leaves.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: no pytest machinery past this point
            code = 1
            try:
                os.close(read_fd)
                ids = [new_event_id() for _ in range(count)]
                ids.append(build(ImageUsageEvent).event_id)
                data = "\n".join(ids).encode()
                while data:
                    data = data[os.write(write_fd, data) :]
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        parent_ids = [new_event_id() for _ in range(count)]
        parent_ids.append(build(ImageUsageEvent).event_id)
        with os.fdopen(read_fd, "rb") as pipe:
            child_ids = pipe.read().decode().split("\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert len(child_ids) == count + 1
        assert len(set(child_ids)) == count + 1
        assert not set(child_ids) & set(parent_ids)
        assert before_fork not in child_ids


class TestAttribution:
    """Attribution bound to the context fills events built inside it."""

    @pytest.fixture(name="isolated_context", autouse=True)
    def _isolated_context(self) -> Iterator[None]:
        """Run each test with no bindings and restore whatever was bound before."""
        token = BOUND.set(MappingProxyType({}))
        yield
        BOUND.reset(token)

    @pytest.mark.parametrize("cls", CLASSES)
    def test_context_fills_unset_fields(self, cls: type[BaseEvent]) -> None:
        """Inside context(), events carry the bound user_id and project_id."""
        with context(user_id="user-42", project_id="proj_abc") as bound:
            event = build(cls)
        assert bound == {"user_id": "user-42", "project_id": "proj_abc"}
        assert event.user_id == "user-42"
        assert event.project_id == "proj_abc"
        assert event.api_key_id is None

    def test_nothing_bound_nothing_filled(self) -> None:
        """Without bindings, attribution fields stay None."""
        event = build(ImageUsageEvent)
        assert (event.user_id, event.project_id, event.api_key_id) == (None, None, None)

    def test_context_exit_restores(self) -> None:
        """After the with block, events no longer carry the bindings."""
        with context(user_id="user-42"):
            pass
        assert build(ImageUsageEvent).user_id is None
        assert get_context() == {}

    def test_context_exit_restores_after_an_exception(self) -> None:
        """The bindings are restored even when the block raises."""
        with pytest.raises(RuntimeError), context(user_id="user-42"):
            raise RuntimeError
        assert get_context() == {}

    def test_nested_contexts(self) -> None:
        """An inner context overrides and adds; leaving it restores the outer one."""
        with context(user_id="outer", project_id="proj-1"):
            with context(user_id="inner", api_key_id="key-1"):
                inner = build(ImageRequestStartedEvent)
            outer = build(ImageRequestStartedEvent)
        assert (inner.user_id, inner.project_id, inner.api_key_id) == ("inner", "proj-1", "key-1")
        assert (outer.user_id, outer.project_id, outer.api_key_id) == ("outer", "proj-1", None)

    @pytest.mark.parametrize("cls", CLASSES)
    def test_explicit_fields_win(self, cls: type[BaseEvent]) -> None:
        """A field given explicitly is not overwritten by the bound value."""
        with context(user_id="bound-user", project_id="bound-proj"):
            event = build(cls, user_id="explicit-user")
        assert event.user_id == "explicit-user"
        assert event.project_id == "bound-proj"

    def test_bind_context_and_token_reset(self) -> None:
        """bind_context() binds until its token is reset; reset restores the previous state."""
        first = bind_context(user_id="u-1")
        second = bind_context(user_id="u-2", project_id="p-2")
        assert build(ImageUsageEvent).user_id == "u-2"
        second.reset()
        event = build(ImageUsageEvent)
        assert (event.user_id, event.project_id) == ("u-1", None)
        first.reset()
        assert build(ImageUsageEvent).user_id is None

    def test_unbind_removes_only_the_named_fields(self) -> None:
        """unbind_context() drops the named fields and keeps the others."""
        bind_context(user_id="u-1", project_id="p-1", api_key_id="key-1")
        unbind_context("user_id", "api_key_id", "client_id")
        event = build(ImageRequestErrorEvent)
        assert (event.user_id, event.project_id, event.api_key_id) == (None, "p-1", None)
        assert get_context() == {"project_id": "p-1"}

    def test_clear_context(self) -> None:
        """clear_context() removes every binding."""
        bind_context(user_id="u-1", correlation_id="corr-1")
        clear_context()
        event = build(ImageUsageEvent)
        assert (event.user_id, event.correlation_id) == (None, None)

    @pytest.mark.parametrize(
        "field",
        ["api_key_id", "client_id", "thread_id", "run_id", "runtime_id", "correlation_id"],
    )
    def test_other_bindable_fields(self, field: str) -> None:
        """Every bindable field of the base context is filled too."""
        with context(**{field: "bound-value"}):
            event = build(ImageRequestCompletedEvent)
        assert getattr(event, field) == "bound-value"

    @pytest.mark.parametrize("name", ["model", "provider", "request_id", "usage", "userId", "x"])
    def test_binding_an_unknown_name_raises(self, name: str) -> None:
        """A name that is not bindable is refused, naming it; nothing is bound."""
        bind_context(user_id="before")
        with pytest.raises(EventValidationError) as info:
            bind_context(project_id="p-1", **{name: "value"})
        check_names(info.value, name, "value")
        assert get_context() == {"user_id": "before"}
        with pytest.raises(EventValidationError), context(**{name: "value"}):
            pass  # pragma: no cover
        assert get_context() == {"user_id": "before"}

    @pytest.mark.parametrize("name", ["user_id", "project_id", "api_key_id"])
    @given(value=st.one_of(non_strings, st.none(), st.just("")))
    def test_binding_a_non_string_raises(self, name: str, value: Any) -> None:
        """A bound value must be a non-empty string; the error names the field and value."""
        with pytest.raises(EventValidationError) as info:
            bind_context(**{name: value})
        check_names(info.value, name, value)
        assert get_context() == {}

    def test_contexts_do_not_leak_between_threads(self) -> None:
        """Threads binding different users at the same time each see only their own."""
        barrier = threading.Barrier(3)
        seen: dict[str, Any] = {}

        def bound_worker(user: str) -> None:
            with context(user_id=user):
                barrier.wait()  # every worker has bound before any builds
                seen[user] = build(ImageUsageEvent).user_id
                barrier.wait()  # nobody unbinds before every worker has built

        def unbound_worker() -> None:
            barrier.wait()
            seen["unbound"] = build(ImageUsageEvent).user_id
            barrier.wait()

        with context(user_id="main"):
            threads = [
                threading.Thread(target=bound_worker, args=("alice",)),
                threading.Thread(target=bound_worker, args=("bob",)),
                threading.Thread(target=unbound_worker),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            main_user = build(ImageUsageEvent).user_id
        assert seen == {"alice": "alice", "bob": "bob", "unbound": None}
        assert main_user == "main"

    def test_copied_context_carries_bindings_into_a_thread(self) -> None:
        """A thread run in a copy of the context sees the bindings, and its binds stay its own."""
        result: dict[str, Any] = {}

        def work() -> None:
            result["before"] = build(ImageUsageEvent).user_id
            bind_context(user_id="changed-in-thread")
            result["after"] = build(ImageUsageEvent).user_id

        with context(user_id="user-42"):
            copied = contextvars.copy_context()
            thread = threading.Thread(target=copied.run, args=(work,))
            thread.start()
            thread.join()
            assert build(ImageUsageEvent).user_id == "user-42"
        assert result == {"before": "user-42", "after": "changed-in-thread"}
