"""Tests for aievents.wire: snake_case dicts, TanStack envelopes and JSON."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aievents
from aievents import (
    EVENT_TYPES,
    OPERATIONS,
    SOURCES,
    Billed,
    CostDetails,
    EventValidationError,
    ImageOutput,
    ImageRequestCompletedEvent,
    ImageRequestStartedEvent,
    ImageUsage,
    ImageUsageEvent,
    InputTokensDetails,
    OutputTokensDetails,
    _fastjson,
    from_dict,
    from_envelope,
    from_json,
    to_dict,
    to_envelope,
    to_json,
)
from aievents._validate import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from aievents.encoding.jsonl import encode, encode_lines
from aievents.events import VISIBILITIES, BaseEvent
from aievents.money import COST_BASES, ImageCost
from aievents.usage import BILLED_UNITS
from aievents.wire import PLUGIN_ID, make_converter

TS = 1713833628000
EVENT_CLASSES = list(EVENT_TYPES.values())
EVENT_NAMES = list(EVENT_TYPES)


# --------------------------------------------------------------------------- strategies

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=8,
)


def wire_fields(cls: type) -> list[attrs.Attribute[Any]]:
    """The fields an event or payload class puts on the wire (init=False ones are derived)."""
    return [field for field in attrs.fields(cls) if field.init]


def _decimal_from_parts(digits: list[int], exponent: int) -> Decimal:
    return Decimal((0, tuple(digits), exponent))


#: Any amount an event may carry (below 1E+15, no digit finer than 1E-30):
#: everyday amounts, and digit strings longer than a double holds.
COSTS = st.one_of(
    st.decimals(min_value=0, max_value=10**14, places=6),
    st.lists(st.integers(0, 9), min_size=1, max_size=40).flatmap(
        lambda digits: st.builds(
            _decimal_from_parts, st.just(digits), st.integers(-30, 15 - len(digits))
        )
    ),
)

#: Strategies for fields whose valid values are narrower than their type.
BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": st.integers(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS),
    "source": st.sampled_from(SOURCES),
    "visibility": st.sampled_from(VISIBILITIES),
    "operation": st.sampled_from(OPERATIONS),
    "currency": st.just("usd"),
    "basis": st.sampled_from(COST_BASES),
    "unit": st.sampled_from(BILLED_UNITS),
    "trace_id": st.integers(1, 2**128 - 1).map("{:032x}".format),
    "span_id": st.integers(1, 2**64 - 1).map("{:016x}".format),
    "traceparent": st.builds(
        "00-{:032x}-{:016x}-{:02x}".format,
        st.integers(1, 2**128 - 1),
        st.integers(1, 2**64 - 1),
        st.sampled_from((0, 1)),
    ),
}
#: Strategies by (resolved) field type.
BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    int: st.integers(min_value=0),
    bool: st.booleans(),
    float: st.floats(min_value=0, allow_nan=False, allow_infinity=False) | st.integers(0, 10**9),
    Decimal: COSTS,
    Mapping[str, Any]: st.dictionaries(st.text(), JSON_VALUES, max_size=4),
}


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        return inner, True
    return hint, False


def _value_strategy(
    owner: type, name: str, hint: Any, *, optional: bool, nones: bool
) -> st.SearchStrategy[Any]:
    if name in BY_NAME:
        return BY_NAME[name]
    if hint is str:
        return st.text() if optional else st.text(min_size=1)
    if hint in BY_TYPE:
        return BY_TYPE[hint]
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        items = _value_strategy(owner, name, args[0], optional=True, nones=nones)
        return st.lists(items, max_size=3).map(tuple)
    if isinstance(hint, type) and attrs.has(hint):
        return instances(hint, nones=nones)
    raise TypeError(
        f"no strategy for {owner.__name__}.{name} of type {hint!r}; add one to tests/test_wire.py"
    )


def instances(cls: type, *, nones: bool = True) -> st.SearchStrategy[Any]:
    """Valid instances of the attrs class ``cls`` with every field drawn.

    Optional fields are sometimes None when ``nones``, never otherwise. Fields are taken from
    ``wire_fields(cls)``, so a newly added field is covered automatically; a field whose type has
    no strategy raises ``TypeError``.
    """
    hints = typing.get_type_hints(cls)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in wire_fields(cls):
        hint, optional = _unwrap_optional(hints[field.name])
        value = _value_strategy(cls, field.name, hint, optional=optional, nones=nones)
        fields[field.name] = st.none() | value if optional and nones else value
    return st.builds(cls, **fields)


#: Per class: events with some optional fields None, mixed with events that have every field set.
EVENT_STRATEGIES = {cls: instances(cls) | instances(cls, nones=False) for cls in EVENT_CLASSES}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _keys(value: Any) -> set[str]:
    """Every dict key at any depth of a JSON-like value."""
    if isinstance(value, dict):
        return set(value).union(*(_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(item) for item in value))
    return set()


# --------------------------------------------------------------------------- fixtures

FULL_USAGE = ImageUsage(
    input_tokens=50,
    output_tokens=60,
    total_tokens=110,
    input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40, cached_tokens=5),
    output_tokens_details=OutputTokensDetails(text_tokens=0, image_tokens=60),
    cost=Decimal("0.011"),
)

#: A non-None value for every field of every event class.
FULL_VALUES: dict[str, Any] = {
    "timestamp": TS,
    "event_id": "evt-1",
    "request_id": "img-1",
    "stream_id": "stream-1",
    "hook_id": "hook-1",
    "thread_id": "thread-1",
    "run_id": "run-1",
    "message_id": "msg-1",
    "tool_call_id": "call-1",
    "client_id": "client-1",
    "runtime_id": "runtime-1",
    "source": "server",
    "visibility": "server-internal",
    "sequence": 3,
    "correlation_id": "corr-1",
    "related_event_id": "evt-0",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "53995c3f42cd8ad8",
    "provider": "openai",
    "model": "gpt-image-1",
    "system_prompts": ("Be brief.",),
    "options": {"n": 2, "nested": {"list": [1, 2.5, None]}},
    "model_options": {"background": "transparent"},
    "tool_names": ("search",),
    "message_count": 2,
    "has_tools": True,
    "streaming": False,
    "operation": "image.edit",
    "size": "1024x1024",
    "quality": "high",
    "images": 1,
    "user_id": "user-42",
    "project_id": "proj_abc",
    "api_key_id": "key_1",
    "prompt": "a fox, watercolour",
    "number_of_images": 1,
    "image_input_count": 1,
    "video_input_count": 0,
    "audio_input_count": 0,
    "duration": 812.5,
    "outputs": (
        ImageOutput(url="https://img.example/1.png", b64_json="aGVsbG8=", revised_prompt="a fox"),
    ),
    "usage": FULL_USAGE,
    "cost": ImageCost(
        total=Decimal("0.00245"),
        basis="tokens",
        input_text=Decimal("0.00005"),
        input_image=Decimal("0.0004"),
        output_image=Decimal("0.002"),
        price_version="2026-07-22",
        priced_model="gpt-image-1",
        unpriced=("output_text",),
    ),
    "error_type": "RateLimitError",
    "error_message": "slow down",
    "status_code": 429,
}

USAGE_ENVELOPE = (
    '{"type":"tanstack-ai-devtools:image:usage","payload":{"requestId":"img-1",'
    '"model":"gpt-image-1","usage":{"inputTokens":50,"outputTokens":50,"totalTokens":100},'
    '"timestamp":1713833628000},"pluginId":"tanstack-ai-devtools"}'
)


@pytest.fixture(name="full_event", params=EVENT_CLASSES, ids=EVENT_NAMES)
def _full_event(request: pytest.FixtureRequest) -> BaseEvent:
    """An event of each class with every field set."""
    cls: type[BaseEvent] = request.param
    return cls(**{field.name: FULL_VALUES[field.name] for field in wire_fields(cls)})


@pytest.fixture(name="usage_envelope")
def _usage_envelope() -> str:
    return USAGE_ENVELOPE


def _usage_dict(**fields: Any) -> dict[str, Any]:
    """A valid image:usage message in the dict shape, updated with ``fields``."""
    return {
        "type": "image:usage",
        "timestamp": TS,
        "request_id": "img-1",
        "model": "gpt-image-1",
        "usage": {"input_tokens": 50},
        **fields,
    }


def _envelope(name: str, **payload: Any) -> dict[str, Any]:
    return {"type": f"{PLUGIN_ID}:{name}", "payload": payload, "pluginId": PLUGIN_ID}


def _usage_envelope_dict(**fields: Any) -> dict[str, Any]:
    """A valid image:usage envelope, its payload updated with ``fields``."""
    payload = {"timestamp": TS, "requestId": "img-1", "model": "gpt-image-1", "usage": {}}
    return _envelope("image:usage", **{**payload, **fields})


def _completed_envelope(**fields: Any) -> dict[str, Any]:
    payload = {
        "timestamp": TS,
        "requestId": "img-1",
        "provider": "openai",
        "model": "gpt-image-1",
        "duration": 812,
    }
    return _envelope("image:request:completed", **{**payload, **fields})


@attrs.frozen(kw_only=True)
class _Listed(ImageRequestStartedEvent):
    """An application's subclass with fields the compiled encoder has no writer for."""

    tags: list[str] = attrs.field(factory=list)
    shots: list[ImageOutput] = attrs.field(factory=list)


# --------------------------------------------------------------------------- tests


class TestStrategies:
    """The event strategies fill every field and refuse field types they do not know."""

    def test_unknown_field_type_fails_loudly(self) -> None:
        """A field whose type has no strategy raises instead of being skipped."""

        @attrs.frozen(kw_only=True)
        class Odd:
            ratio: complex | None = None

        with pytest.raises(TypeError, match=r"Odd\.ratio"):
            instances(Odd)

    @pytest.mark.parametrize("cls", EVENT_CLASSES, ids=EVENT_NAMES)
    @given(data=st.data())
    def test_full_events_fill_every_field(self, cls: type[BaseEvent], data: st.DataObject) -> None:
        """Without Nones, every field at every depth of a drawn event is set."""
        event = data.draw(instances(cls, nones=False))

        def unset(obj: Any, prefix: str = "") -> list[str]:
            missing = []
            for field in wire_fields(type(obj)):
                value = getattr(obj, field.name)
                if value is None:
                    missing.append(prefix + field.name)
                elif attrs.has(type(value)):
                    missing += unset(value, f"{prefix}{field.name}.")
            return missing

        assert unset(event) == []


class TestRoundTrip:
    """Every event of every class survives every wire shape unchanged."""

    @pytest.mark.parametrize("cls", EVENT_CLASSES, ids=EVENT_NAMES)
    @given(data=st.data())
    def test_compiled_encoder_matches(self, cls: type[BaseEvent], data: st.DataObject) -> None:
        """The forwarding encoder writes to_dict's JSON of the scrubbed event; it parses back."""
        from aievents._outbound import outbound

        event = data.draw(EVENT_STRATEGIES[cls])
        line = encode(event, "dict")
        assert json.loads(line) == to_dict(outbound(event))
        assert from_json(line) == outbound(event)
        assert to_json(outbound(event)) == line

    def test_fields_the_compiled_encoder_does_not_know(self) -> None:
        """A subclass with list fields is written through to_dict, the same JSON every time."""
        event = _Listed(
            request_id="img-1",
            provider="openai",
            model="gpt-image-1",
            tags=["a", "b"],
            shots=[ImageOutput(url="https://example.test/1.png")],
        )
        expected = to_dict(event)
        assert expected["tags"] == ["a", "b"]
        assert expected["shots"] == [{"url": "https://example.test/1.png"}]

        for _ in range(2):  # the refusal is cached; the fallback still answers
            assert json.loads(to_json(event)) == expected
            assert json.loads(encode(event, "dict")) == expected
        with pytest.raises(TypeError, match=r"list\["):
            _fastjson.encoder(_Listed, type_name=event.event_type)(event)

    @pytest.mark.parametrize("cls", EVENT_CLASSES, ids=EVENT_NAMES)
    @given(data=st.data())
    def test_all_shapes(self, cls: type[BaseEvent], data: st.DataObject) -> None:
        """dict, envelope and both JSON forms rebuild an equal event; the dicts are JSON-ready."""
        event = data.draw(EVENT_STRATEGIES[cls])

        as_dict = to_dict(event)
        envelope = to_envelope(event)

        assert from_dict(as_dict) == event
        assert from_envelope(envelope) == event
        assert from_json(to_json(event)) == event
        assert from_json(to_json(event, form="envelope")) == event
        from aievents.wire import from_data

        assert from_data(as_dict) == from_data(envelope) == event
        without_plugin_id = {k: v for k, v in envelope.items() if k != "pluginId"}
        assert from_data(without_plugin_id) == event

        for shape in (as_dict, envelope):
            assert json.loads(json.dumps(shape, allow_nan=False)) == shape
        for text in (to_json(event), to_json(event, form="envelope")):
            again = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
            assert again == text

    @pytest.mark.parametrize("cls", EVENT_CLASSES, ids=EVENT_NAMES)
    @given(data=st.data())
    def test_explicit_nulls(self, cls: type[BaseEvent], data: st.DataObject) -> None:
        """An optional field sent as null, at any depth, reads like a field left out."""
        event = data.draw(EVENT_STRATEGIES[cls])

        def with_nulls(shape: dict[str, Any], obj: Any, name: Callable[[str], str]) -> None:
            for field in wire_fields(type(obj)):
                value = getattr(obj, field.name)
                if value is None:
                    shape[name(field.name)] = None
                elif attrs.has(type(value)):
                    with_nulls(shape[name(field.name)], value, name)

        as_dict = to_dict(event)
        with_nulls(as_dict, event, str)
        envelope = to_envelope(event)
        with_nulls(envelope["payload"], event, _camel)

        assert from_dict(as_dict) == event
        assert from_envelope(envelope) == event

    def test_custom_plugin_id(self, full_event: BaseEvent) -> None:
        """An envelope under another plugin id round-trips when read with that id."""
        envelope = to_envelope(full_event, plugin_id="my-app")

        assert envelope["type"] == f"my-app:{full_event.event_type}"
        assert envelope["pluginId"] == "my-app"
        assert from_envelope(envelope, plugin_id="my-app") == full_event


class TestTanStackEnvelope:
    """Envelopes as TanStack AI's TypeScript event client sends them are understood."""

    def test_usage_envelope_parses(self, usage_envelope: str) -> None:
        """The seed's image:usage envelope becomes an ImageUsageEvent with its fields."""
        event = from_json(usage_envelope)

        assert isinstance(event, ImageUsageEvent)
        assert event.timestamp == TS
        assert event.request_id == "img-1"
        assert event.model == "gpt-image-1"
        assert event.usage == ImageUsage(input_tokens=50, output_tokens=50, total_tokens=100)
        assert from_envelope(json.loads(usage_envelope)) == event

    def test_usage_envelope_serialises_back(self, usage_envelope: str) -> None:
        """Parsing and serialising the envelope gives the same JSON."""
        event = from_json(usage_envelope)

        assert json.loads(to_json(event, form="envelope")) == json.loads(usage_envelope)
        assert to_envelope(event) == json.loads(usage_envelope)

    def test_completed_with_images_list(self) -> None:
        """A TypeScript completed payload's images list becomes the count and the outputs."""
        images = [{"url": "https://img.example/1.png"}, {"b64Json": "aGVsbG8="}]

        event = from_envelope(_completed_envelope(images=images))

        assert isinstance(event, ImageRequestCompletedEvent)
        assert event.images == 2
        assert event.outputs == (
            ImageOutput(url="https://img.example/1.png"),
            ImageOutput(b64_json="aGVsbG8="),
        )
        assert event.duration == 812

    def test_completed_with_empty_images_list(self) -> None:
        """An empty images list means no images were produced."""
        event = from_envelope(_completed_envelope(images=[]))

        assert isinstance(event, ImageRequestCompletedEvent)
        assert event.images == 0
        assert event.outputs == ()


class TestNaming:
    """Envelopes use camelCase names, dicts snake_case names with a type; None is left out."""

    def test_envelope_is_camel_case(self, full_event: BaseEvent) -> None:
        """Every field appears in the payload under its camelCase name."""
        envelope = to_envelope(full_event)

        assert set(envelope) == {"type", "payload", "pluginId"}
        payload = envelope["payload"]
        assert set(payload) == {_camel(f.name) for f in wire_fields(type(full_event))}
        assert "requestId" in payload
        assert "systemPrompts" in payload
        assert [key for key in _keys(payload) if "_" in key] == []

    def test_dict_is_snake_case(self, full_event: BaseEvent) -> None:
        """Every field appears under its Python name, next to the event type."""
        data = to_dict(full_event)

        assert data["type"] == full_event.event_type
        assert set(data) == {"type"} | {f.name for f in wire_fields(type(full_event))}
        assert data["request_id"] == "img-1"
        assert data["system_prompts"] == ["Be brief."]
        assert data["options"] == FULL_VALUES["options"]

    def test_nested_names(self) -> None:
        """Usage details and outputs are camelCase in the envelope, snake_case in the dict."""
        usage = ImageUsageEvent(
            **{n: FULL_VALUES[n] for n in ("timestamp", "request_id", "model")}, usage=FULL_USAGE
        )
        completed = ImageRequestCompletedEvent(
            timestamp=TS,
            request_id="img-1",
            provider="openai",
            model="gpt-image-1",
            duration=1,
            outputs=FULL_VALUES["outputs"],
        )

        assert to_envelope(usage)["payload"]["usage"] == {
            "inputTokens": 50,
            "outputTokens": 60,
            "totalTokens": 110,
            "inputTokensDetails": {"textTokens": 10, "imageTokens": 40, "cachedTokens": 5},
            "outputTokensDetails": {"textTokens": 0, "imageTokens": 60},
            "cost": 0.011,
        }
        assert to_dict(usage)["usage"] == {
            "input_tokens": 50,
            "output_tokens": 60,
            "total_tokens": 110,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40, "cached_tokens": 5},
            "output_tokens_details": {"text_tokens": 0, "image_tokens": 60},
            "cost": "0.011",
        }
        output = {"url": "https://img.example/1.png", "revised_prompt": "a fox"}
        assert to_envelope(completed)["payload"]["outputs"] == [
            {"url": output["url"], "b64Json": "aGVsbG8=", "revisedPrompt": "a fox"}
        ]
        assert to_dict(completed)["outputs"] == [{**output, "b64_json": "aGVsbG8="}]

    def test_none_left_out(self) -> None:
        """Fields that are None are absent from both shapes; falsy values are kept."""
        event = ImageUsageEvent(
            timestamp=TS,
            event_id="evt-1",
            request_id="img-1",
            model="gpt-image-1",
            has_tools=False,
            message_count=0,
            size="",
            usage=ImageUsage(input_tokens=0, output_tokens_details=OutputTokensDetails()),
        )

        assert to_dict(event) == {
            "type": "image:usage",
            "timestamp": TS,
            "event_id": "evt-1",
            "request_id": "img-1",
            "model": "gpt-image-1",
            "has_tools": False,
            "message_count": 0,
            "size": "",
            "usage": {"input_tokens": 0, "output_tokens_details": {}},
        }
        assert to_envelope(event)["payload"] == {
            "timestamp": TS,
            "eventId": "evt-1",
            "requestId": "img-1",
            "model": "gpt-image-1",
            "hasTools": False,
            "messageCount": 0,
            "size": "",
            "usage": {"inputTokens": 0, "outputTokensDetails": {}},
        }


class TestCost:
    """Cost is a decimal string in dicts and a JSON number in envelopes, never rounded."""

    @pytest.mark.parametrize(
        ("cost", "number"),
        [
            ("0.011", 0.011),
            ("0", 0.0),
            ("12.50", 12.5),
            ("123456789012345", 123456789012345.0),
            ("1.23E+14", 1.23e14),
        ],
    )
    def test_number_in_envelope(self, cost: str, number: float) -> None:
        """A cost a double holds exactly is a JSON number in the envelope."""
        event = ImageUsageEvent(
            timestamp=TS, request_id="r", model="m", usage=ImageUsage(cost=Decimal(cost))
        )

        sent = to_envelope(event)["payload"]["usage"]["cost"]

        assert type(sent) is float
        assert sent == number
        assert to_dict(event)["usage"]["cost"] == cost
        assert from_json(to_json(event, form="envelope")) == event

    @pytest.mark.parametrize(
        "cost",
        [
            "999999999999999.999",
            "0.30000000000000004",
            "0.1234567890123456789",
            "0.100000000000000000000000000001",
        ],
    )
    def test_string_when_a_double_cannot_hold_it(self, cost: str) -> None:
        """More digits than a double holds: the envelope sends the exact string."""
        event = ImageUsageEvent(
            timestamp=TS, request_id="r", model="m", usage=ImageUsage(cost=Decimal(cost))
        )

        assert to_envelope(event)["payload"]["usage"]["cost"] == cost
        assert to_dict(event)["usage"]["cost"] == cost
        parsed = from_json(to_json(event, form="envelope"))
        assert isinstance(parsed, ImageUsageEvent)
        assert parsed.usage.cost == Decimal(cost)
        assert from_json(to_json(event)) == event

    def test_json_text(self) -> None:
        """In JSON text the envelope's cost is a bare number, the dict's a quoted string."""
        event = ImageUsageEvent(
            timestamp=TS, request_id="r", model="m", usage=ImageUsage(cost=Decimal("0.011"))
        )

        assert '"cost":0.011' in to_json(event, form="envelope")
        assert '"cost":"0.011"' in to_json(event)


class TestReportedUsage:
    """What the provider reported (billed, cost details) on the wire: exact, in both styles."""

    USAGE = ImageUsage(
        input_tokens=12,
        cost=Decimal("0.0431"),
        billed=Billed(Decimal("3.008"), "seconds"),
        cost_details=CostDetails(
            upstream_cost=Decimal("0.04249"), upstream_output_cost=Decimal("0.04224")
        ),
    )

    def event(self, usage: ImageUsage | None = None) -> ImageUsageEvent:
        """An image:usage event carrying ``usage``."""
        return ImageUsageEvent(timestamp=TS, request_id="r", model="m", usage=usage or self.USAGE)

    def test_dict_shape(self) -> None:
        """snake_case names; quantity and amounts as decimal strings."""
        assert to_dict(self.event())["usage"] == {
            "input_tokens": 12,
            "cost": "0.0431",
            "billed": {"quantity": "3.008", "unit": "seconds"},
            "cost_details": {"upstream_cost": "0.04249", "upstream_output_cost": "0.04224"},
        }

    def test_envelope_shape(self) -> None:
        """TanStack's names (billed, costDetails.upstreamCost...), numbers as numbers."""
        assert to_envelope(self.event())["payload"]["usage"] == {
            "inputTokens": 12,
            "cost": 0.0431,
            "billed": {"quantity": 3.008, "unit": "seconds"},
            "costDetails": {"upstreamCost": 0.04249, "upstreamOutputCost": 0.04224},
        }

    @pytest.mark.parametrize(
        "quantity",
        ["0.100000000000000005551115123126", "999999999999999999.5", "123456789012345678.9"],
    )
    def test_quantity_exact_in_every_shape(self, quantity: str) -> None:
        """A quantity no double holds exactly is a string in the envelope; it comes back exact."""
        event = self.event(ImageUsage(billed=Billed(Decimal(quantity), "tokens")))
        assert to_envelope(event)["payload"]["usage"]["billed"]["quantity"] == quantity
        for form in ("dict", "envelope"):
            parsed = from_json(to_json(event, form=form))  # type: ignore[arg-type]
            assert parsed == event
            assert isinstance(parsed, ImageUsageEvent)
            assert parsed.usage.billed is not None
            assert str(parsed.usage.billed.quantity) == quantity

    def test_json_lines(self) -> None:
        """Lines of both shapes read back as the event, Decimals exact."""
        event = self.event()
        for shape in ("dict", "envelope"):
            (line,) = encode_lines([event], shape)  # type: ignore[arg-type]
            assert from_json(line) == event

    def test_typescript_token_usage_payload(self) -> None:
        """A TanStack envelope whose usage carries billed and costDetails parses them."""
        envelope = {
            "type": "tanstack-ai-devtools:image:usage",
            "payload": {
                "timestamp": TS,
                "requestId": "ts-1",
                "model": "fal-ai/flux/dev",
                "usage": {
                    "billed": {"quantity": 1.5, "unit": "megapixels"},
                    "cost": 0.0375,
                    "costDetails": {"upstreamCost": 0.0375},
                },
            },
        }
        event = from_envelope(envelope)
        assert isinstance(event, ImageUsageEvent)
        assert event.usage.billed == Billed(Decimal("1.5"), "megapixels")
        assert event.usage.reported_cost == Decimal("0.0375")


class TestParsedFields:
    """Parsed events keep exactly the message's fields."""

    def test_no_generated_id_or_bound_attribution(self, usage_envelope: str) -> None:
        """Parsing inside a bound context adds neither an event_id nor the bound fields."""
        as_dict = _usage_dict()
        with aievents.context(user_id="user-ctx", project_id="proj-ctx"):
            built = ImageUsageEvent(request_id="r", model="m", usage=ImageUsage())
            parsed = [
                from_json(usage_envelope),
                from_envelope(json.loads(usage_envelope)),
                from_dict(as_dict),
                from_json(json.dumps(as_dict)),
            ]

        assert (built.user_id, built.project_id) == ("user-ctx", "proj-ctx")
        assert built.event_id is not None
        for event in parsed:
            assert isinstance(event, ImageUsageEvent)
            assert event.event_id is None
            assert event.user_id is None
            assert event.project_id is None

    def test_message_attribution_kept(self) -> None:
        """Attribution in the message wins over the bound context."""
        with aievents.context(user_id="user-ctx"):
            event = from_dict(_usage_dict(user_id="user-msg", event_id="evt-msg"))

        assert isinstance(event, ImageUsageEvent)
        assert event.user_id == "user-msg"
        assert event.event_id == "evt-msg"

    def test_building_after_a_failed_parse_stamps_again(self) -> None:
        """A parse that fails does not leave event building in wire mode."""
        with pytest.raises(EventValidationError):
            from_dict(_usage_dict(sequence="5"))

        with aievents.context(user_id="user-ctx"):
            event = ImageUsageEvent(request_id="r", model="m", usage=ImageUsage())

        assert event.event_id is not None
        assert event.user_id == "user-ctx"


BAD_DICTS = [
    pytest.param(_usage_dict(type="image:nope"), "type", "image:nope", id="unknown-type"),
    pytest.param(
        {k: v for k, v in _usage_dict().items() if k != "type"}, "type", None, id="no-type"
    ),
    pytest.param(_usage_dict(sequence="5"), "sequence", "5", id="str-for-int"),
    pytest.param(_usage_dict(images="5"), "images", "5", id="str-for-count"),
    pytest.param(_usage_dict(sequence=5.0), "sequence", 5.0, id="float-for-int"),
    pytest.param(_usage_dict(message_count=True), "message_count", True, id="bool-for-int"),
    pytest.param(_usage_dict(timestamp=str(TS)), "timestamp", str(TS), id="str-timestamp"),
    pytest.param(
        _usage_dict(timestamp=TS // 1000), "timestamp", TS // 1000, id="seconds-timestamp"
    ),
    pytest.param(_usage_dict(has_tools="true"), "has_tools", "true", id="str-for-bool"),
    pytest.param(_usage_dict(source="browser"), "source", "browser", id="unknown-source"),
    pytest.param(_usage_dict(request_id=""), "request_id", "", id="empty-required"),
    pytest.param(_usage_dict(request_id=None), "request_id", None, id="null-required"),
    pytest.param(_usage_dict(system_prompts="hi"), "system_prompts", "hi", id="str-for-list"),
    pytest.param(_usage_dict(tool_names=["a", 1]), "tool_names[1]", 1, id="int-in-list"),
    pytest.param(_usage_dict(options=[1]), "options", [1], id="list-for-options"),
    pytest.param(_usage_dict(model_options="x"), "model_options", "x", id="str-for-options"),
    pytest.param(_usage_dict(usage=[50]), "usage", [50], id="list-for-usage"),
    pytest.param(
        _usage_dict(usage={"input_tokens": "5"}), "usage.input_tokens", "5", id="str-in-usage"
    ),
    pytest.param(
        _usage_dict(usage={"input_tokens_details": {"text_tokens": "5"}}),
        "usage.input_tokens_details.text_tokens",
        "5",
        id="str-in-details",
    ),
    pytest.param(
        _usage_dict(usage={"output_tokens_details": {"image_tokens": -1}}),
        "usage.output_tokens_details.image_tokens",
        -1,
        id="negative-in-details",
    ),
    pytest.param(
        _usage_dict(usage={"input_tokens_details": 5}),
        "usage.input_tokens_details",
        5,
        id="int-for-details",
    ),
    pytest.param(_usage_dict(usage={"cost": "cheap"}), "usage.cost", "cheap", id="bad-cost"),
    pytest.param(
        _usage_dict(usage={"billed": {"quantity": "lots", "unit": "images"}}),
        "usage.billed.quantity",
        "lots",
        id="bad-billed-quantity",
    ),
    pytest.param(
        _usage_dict(usage={"billed": {"quantity": 1, "unit": "credits"}}),
        "usage.billed.unit",
        "credits",
        id="bad-billed-unit",
    ),
    pytest.param(_usage_dict(usage={"billed": [1]}), "usage.billed", [1], id="list-for-billed"),
    pytest.param(
        _usage_dict(usage={"cost_details": {"upstream_cost": "n/a"}}),
        "usage.cost_details.upstream_cost",
        "n/a",
        id="bad-upstream-cost",
    ),
    pytest.param(
        {**_usage_dict(type="image:request:completed"), "provider": "openai", "duration": "812"},
        "duration",
        "812",
        id="str-duration",
    ),
    pytest.param(
        {
            **_usage_dict(type="image:request:completed"),
            "provider": "p",
            "duration": 1,
            "outputs": [{"url": 5}],
        },
        "outputs[0].url",
        5,
        id="int-in-output",
    ),
    pytest.param(
        {
            **_usage_dict(type="image:request:completed"),
            "provider": "p",
            "duration": 1,
            "outputs": ["https://img.example/1.png"],
        },
        "outputs[0]",
        "https://img.example/1.png",
        id="str-for-output",
    ),
]


class TestBadMessages:
    """Bad messages raise EventValidationError naming the field and the value."""

    @pytest.mark.parametrize(("data", "field", "value"), BAD_DICTS)
    def test_bad_dict(self, data: dict[str, Any], field: str, value: Any) -> None:
        """A wrong field in the dict shape is named, in dicts and in JSON text."""
        for parse in (from_dict, lambda d: from_json(json.dumps(d))):
            with pytest.raises(EventValidationError) as info:
                parse(data)

            assert info.value.field == field
            assert info.value.value == value
            assert isinstance(info.value, ValueError)

    @pytest.mark.parametrize(
        ("envelope", "field", "value"),
        [
            pytest.param(
                _envelope("image:nope", timestamp=TS), "type", "image:nope", id="unknown-type"
            ),
            pytest.param(
                {**_usage_envelope_dict(), "type": "other-plugin:image:usage"},
                "type",
                "other-plugin:image:usage",
                id="wrong-prefix",
            ),
            pytest.param(
                {"type": "other-plugin:image:usage", "payload": {"timestamp": TS}},
                "type",
                "other-plugin:image:usage",
                id="wrong-prefix-no-plugin-id",
            ),
            pytest.param(
                {**_usage_envelope_dict(), "type": "other:image:usage", "pluginId": "other"},
                "type",
                "other:image:usage",
                id="other-plugin-consistent",
            ),
            pytest.param(
                {**_usage_envelope_dict(), "pluginId": "other"},
                "pluginId",
                "other",
                id="plugin-id-disagrees-with-type",
            ),
            pytest.param(
                {**_usage_envelope_dict(), "type": "image"}, "type", "image", id="no-prefix"
            ),
            pytest.param(
                {**_usage_envelope_dict(), "payload": []}, "payload", [], id="list-payload"
            ),
            pytest.param(
                {**_usage_envelope_dict(), "payload": "x"}, "payload", "x", id="str-payload"
            ),
            pytest.param(
                _usage_envelope_dict(usage={"inputTokensDetails": {"textTokens": "5"}}),
                "usage.input_tokens_details.text_tokens",
                "5",
                id="str-in-details",
            ),
            pytest.param(
                _usage_envelope_dict(messageCount="5"), "message_count", "5", id="str-for-int"
            ),
            pytest.param(
                _completed_envelope(images=[{"url": "u"}, 7]),
                "outputs[1]",
                7,
                id="int-in-images",
            ),
        ],
    )
    def test_bad_envelope(self, envelope: dict[str, Any], field: str, value: Any) -> None:
        """A wrong field in an envelope is named (by its Python name), in dicts and JSON text."""
        for parse in (from_envelope, lambda e: from_json(json.dumps(e))):
            with pytest.raises(EventValidationError) as info:
                parse(envelope)

            assert info.value.field == field
            assert info.value.value == value

    def test_envelope_without_payload(self) -> None:
        """An envelope without a payload is refused; from_json reads it as a dict of no type."""
        envelope = {k: v for k, v in _usage_envelope_dict().items() if k != "payload"}

        with pytest.raises(EventValidationError) as info:
            from_envelope(envelope)
        assert (info.value.field, info.value.value) == ("payload", None)

        with pytest.raises(EventValidationError) as info:
            from_json(json.dumps(envelope))
        assert (info.value.field, info.value.value) == ("type", envelope["type"])

    @pytest.mark.parametrize(
        ("parse", "data"),
        [
            pytest.param(
                from_dict, {k: v for k, v in _usage_dict().items() if k != "timestamp"}, id="dict"
            ),
            pytest.param(
                from_envelope,
                _envelope("image:usage", requestId="img-1", model="gpt-image-1", usage={}),
                id="envelope",
            ),
        ],
    )
    def test_missing_timestamp(self, parse: Callable[[Any], BaseEvent], data: Any) -> None:
        """A message without a timestamp is refused rather than stamped with the time now."""
        with pytest.raises(EventValidationError, match="timestamp") as info:
            parse(data)

        assert info.value.field == "timestamp"

    @pytest.mark.parametrize(
        ("name", "field"),
        [
            ("image:usage", "request_id"),
            ("image:usage", "model"),
            ("image:usage", "usage"),
            ("image:request:started", "provider"),
            ("image:request:completed", "duration"),
            ("image:request:error", "error_type"),
        ],
    )
    def test_missing_required_field(self, name: str, field: str) -> None:
        """A message without a required field names it as missing, in both shapes."""
        cls = EVENT_TYPES[name]
        full = cls(**{f.name: FULL_VALUES[f.name] for f in wire_fields(cls)})
        as_dict = to_dict(full)
        del as_dict[field]
        envelope = to_envelope(full)
        del envelope["payload"][_camel(field)]

        for parse, data in ((from_dict, as_dict), (from_envelope, envelope)):
            with pytest.raises(EventValidationError, match="required") as info:
                parse(data)

            assert info.value.field == field
            assert info.value.owner == name

    @pytest.mark.parametrize(
        "text", ["{", "", "not json", '{"type": "image:usage",}', b"\xff\xfe{"]
    )
    def test_invalid_json(self, text: str | bytes) -> None:
        """Text that is not JSON is refused as field 'json'."""
        with pytest.raises(EventValidationError) as info:
            from_json(text)

        assert info.value.field == "json"
        assert info.value.value == text

    @pytest.mark.parametrize("text", ["[1]", "null", "5", '"image:usage"'])
    def test_json_not_an_object(self, text: str) -> None:
        """JSON that is not an object is refused as field 'event'."""
        with pytest.raises(EventValidationError) as info:
            from_json(text)

        assert info.value.field == "event"
        assert info.value.value == json.loads(text)

    def test_from_dict_needs_no_type_when_given_the_class(self) -> None:
        """With an explicit class the dict needs no type key; without one it is refused."""
        data = {k: v for k, v in _usage_dict().items() if k != "type"}

        assert from_dict(data, ImageUsageEvent) == from_dict(_usage_dict())
        with pytest.raises(EventValidationError):
            from_dict(data)


class TestMakeConverter:
    """make_converter returns a new, independent converter for each call and style."""

    def test_new_converter_per_call(self) -> None:
        """Each call builds a fresh converter."""
        assert make_converter("snake") is not make_converter("snake")
        assert make_converter("camel") is not make_converter("camel")
        assert make_converter("snake") is not make_converter("camel")

    def test_styles(self, full_event: BaseEvent) -> None:
        """snake unstructures like to_dict, camel like the envelope payload; both structure back."""
        cls = type(full_event)
        snake = make_converter("snake")
        camel = make_converter("camel")

        as_dict = to_dict(full_event)
        del as_dict["type"]
        assert snake.unstructure(full_event, cls) == as_dict
        assert make_converter().unstructure(full_event, cls) == as_dict
        assert camel.unstructure(full_event, cls) == to_envelope(full_event)["payload"]
        assert snake.structure(as_dict, cls) == full_event
        assert camel.structure(to_envelope(full_event)["payload"], cls) == full_event

    @pytest.mark.parametrize("style", ["snake", "camel"])
    def test_hooks_do_not_leak(self, style: typing.Literal["snake", "camel"]) -> None:
        """A hook registered on one converter changes neither a sibling nor the module's."""
        changed = make_converter(style)
        sibling = make_converter(style)
        changed.register_unstructure_hook(Decimal, lambda _: "changed")
        usage = ImageUsage(cost=Decimal("0.011"))
        event = ImageUsageEvent(timestamp=TS, request_id="r", model="m", usage=usage)
        expected = "0.011" if style == "snake" else 0.011

        assert changed.unstructure(usage, ImageUsage) == {"cost": "changed"}
        assert sibling.unstructure(usage, ImageUsage) == {"cost": expected}
        assert to_dict(event)["usage"]["cost"] == "0.011"
        assert to_envelope(event)["payload"]["usage"]["cost"] == 0.011
