"""Free-form fields: JSON values only, refused when built; private in errors and reprs."""

from __future__ import annotations

import collections
import datetime
import math
import pickle
import uuid
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from aievents import EventValidationError, ImageOutput, ImageUsage, from_dict, to_dict
from aievents.pricing import cost_of

from helpers import completed_event, error_event, started_event, usage_event

SECRET = "sk-proj-PLANTEDfreeform0123456789"
AZURE_KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PROMPT = "a confidential poster for Project Falcon"


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"x": value}
    return value


def looped() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


class TestJsonValuesOnly:
    """What JSON cannot write is refused when the event is built, naming where and what."""

    @pytest.mark.parametrize("field", ["options", "model_options"])
    @pytest.mark.parametrize(
        ("value", "path", "kind"),
        [
            ({"guidance": math.nan}, "['guidance']", "float"),
            ({"n": [1, math.inf]}, "['n'][1]", "float"),
            ({"when": datetime.datetime(2026, 1, 1)}, "['when']", "datetime"),
            ({"tags": {"a", "b"}}, "['tags']", "set"),
            ({"blob": b"\x00\x01"}, "['blob']", "bytes"),
            ({"price": Decimal("0.04")}, "['price']", "Decimal"),
            ({"id": uuid.UUID(int=1)}, "['id']", "UUID"),
            ({"inner": MappingProxyType({"a": 1})}, "['inner']", "mappingproxy"),
            ({"deep": deep(16)}, "['deep']" + "['x']" * 15, "dict"),
            ({"loop": looped()}, "['loop']" + "['self']" * 15, "dict"),
            ({"a": {2: "b"}}, "['a'][2]", "int"),
        ],
    )
    def test_refused(self, field: str, value: dict[str, Any], path: str, kind: str) -> None:
        """NaN, infinity, datetimes, sets, bytes, Decimals, objects, deep nesting, int keys."""
        with pytest.raises(EventValidationError) as info:
            started_event(**{field: value})
        error = info.value
        assert error.field == field + path
        message = str(error)
        assert repr(field + path) in message
        assert f"value of type {kind} (not shown: {field} is private)" in message

    @pytest.mark.parametrize(
        "value",
        [
            {"n": 2, "size": "1024x1024", "quality": None, "stream": True, "guidance": 7.5},
            {"huge": 2**80, "nested": {"list": [1, "two", [3.0, None]], "tuple": (1, 2)}},
            {"deep": deep(15)},
            collections.OrderedDict(a=1),
            MappingProxyType({"a": [1, 2]}),
            {"text": "lone \ud800 surrogate"},
        ],
    )
    def test_accepted(self, value: Any) -> None:
        """Numbers, text, booleans, None, lists, tuples and dicts, to 16 levels."""
        event = started_event(options=value)
        assert event.options is value

    @pytest.mark.parametrize("field", ["options", "model_options"])
    def test_int_too_long(self, field: str) -> None:
        """An int of more than 4300 digits (JSON cannot read it back) is refused by name."""
        with pytest.raises(EventValidationError) as info:
            started_event(**{field: {"seed": [1, 10**4300]}})
        assert info.value.field == f"{field}['seed'][1]"
        assert "4300 digits" in str(info.value)
        started_event(**{field: {"seed": 10**4300 - 1}})  # 4300 digits: accepted

    @pytest.mark.parametrize("field", ["input_tokens", "output_tokens"])
    def test_count_too_long(self, field: str) -> None:
        """A token count of more than 4300 digits is refused naming the field, not shown whole."""
        with pytest.raises(EventValidationError) as info:
            ImageUsage(**{field: 10**4300})
        assert info.value.field == field
        assert "4300 digits" in str(info.value)
        assert len(str(info.value)) < 400

    def test_still_lossless_in_process(self) -> None:
        """to_dict/from_dict keep every value, secrets included: scrubbing is for outputs."""
        options = {"api_key": SECRET, "n": 2, "nested": {"guidance": 7.5, "list": [1, None]}}
        event = started_event(options=options, prompt=f"{PROMPT} {SECRET}")
        data = to_dict(event)
        assert data["options"] == options
        assert from_dict(data) == event

    def test_devtools_payload(self) -> None:
        """A bus event's payload is held to the same rule."""
        pytest.importorskip("websockets")
        from aievents.devtools import BusEvent

        with pytest.raises(EventValidationError, match=r"payload\['usage'\]\['cost'\]"):
            BusEvent(name="text:usage", payload={"usage": {"cost": math.nan}})


class TestErrorMessages:
    """An error names a private field with its reason, never its value; others scrubbed."""

    @pytest.mark.parametrize(
        ("build", "field"),
        [
            (lambda: started_event(prompt=[PROMPT, SECRET]), "prompt"),
            (lambda: started_event(system_prompts=f"{PROMPT} {SECRET}"), "system_prompts"),
            (lambda: started_event(system_prompts=[PROMPT, 7]), "system_prompts[1]"),
            (lambda: started_event(options=[("api_key", SECRET)]), "options"),
            (lambda: started_event(options={"api_key": {SECRET}}), "options['api_key']"),
            (lambda: started_event(model_options=f"{PROMPT} {SECRET}"), "model_options"),
            (lambda: completed_event(outputs=f"data:{SECRET}"), "outputs"),
            (lambda: ImageOutput(b64_json=[SECRET]), "b64_json"),
            (lambda: ImageOutput(revised_prompt=[PROMPT, SECRET]), "revised_prompt"),
        ],
    )
    def test_private_fields_not_quoted(self, build: Any, field: str) -> None:
        """Prompts, options, images: the field, the type and the reason only."""
        with pytest.raises(EventValidationError) as info:
            build()
        error = info.value
        assert error.field == field
        for text in (str(error), repr(error), str(pickle.loads(pickle.dumps(error)))):
            assert SECRET not in text
            assert "Project Falcon" not in text
            assert "not shown" in text

    @pytest.mark.parametrize(
        ("fields", "secret"),
        [
            ({"user_id": [SECRET]}, SECRET),
            ({"request_id": {"Authorization": "Bearer PLANTEDbearer123"}}, "PLANTEDbearer123"),
            ({"size": {"api_key": "PLANTEDplain"}}, "PLANTEDplain"),
            ({"model": AZURE_KEY.encode()}, AZURE_KEY),
        ],
    )
    def test_other_fields_scrubbed(self, fields: dict[str, Any], secret: str) -> None:
        """A public field's bad value is shown, with the secrets in it scrubbed."""
        with pytest.raises(EventValidationError) as info:
            started_event(**fields)
        assert secret not in str(info.value)
        assert "[redacted]" in str(info.value)

    def test_wire_messages_not_quoted(self) -> None:
        """A wire message that does not parse is not quoted back."""
        from aievents import from_json

        with pytest.raises(EventValidationError) as info:
            from_json('{"options": {"api_key": "PLANTEDwire"}, "broken"')
        assert "PLANTEDwire" not in str(info.value)


class TestReprs:
    """An event's repr shows its fields scrubbed; private fields not at all."""

    def test_every_field(self) -> None:
        """Ids, labels, messages, costs and outputs: no planted secret in any repr."""
        planted = {
            "user_id": SECRET,
            "project_id": f"Bearer {SECRET}",
            "correlation_id": f"postgresql://app:p@ss{SECRET}@db/x",
            "provider": f"key={SECRET}",
            "model": f"azure {AZURE_KEY}",
        }
        usage = usage_event(**planted)
        events = [
            usage,
            usage_event(cost=cost_of(usage), **planted),
            started_event(prompt=SECRET, options={"api_key": SECRET}, **planted),
            completed_event(outputs=[ImageOutput(url=f"https://x/y?sig={SECRET}")], **planted),
            error_event(error_message=f"Incorrect API key {SECRET} / {AZURE_KEY}", **planted),
            ImageOutput(url=f"https://x/y?sig={SECRET}", revised_prompt=SECRET),
        ]
        for event in events:
            text = repr(event) + str(event)
            assert SECRET not in text
            assert AZURE_KEY not in text
            assert "PLANTED" not in text

    def test_ids_kept(self) -> None:
        """A request id of 32 hex digits is an id: shown as it is."""
        event = usage_event(AZURE_KEY, correlation_id=AZURE_KEY)
        assert repr(event).count(AZURE_KEY) == 2
