"""Wire formats: snake_case dicts, TanStack envelopes, JSON.

Two shapes, both lossless for every field of every event class:

- **dict** (:func:`to_dict` / :func:`from_dict`): the Python field names,
  plus ``"type"`` holding the event name::

      {"type": "image:usage", "timestamp": 1713833628000, "request_id": "img-1", ...}

  ``cost`` is a decimal string (``"0.011"``), exact to the last digit, as
  is every amount and quantity (``usage.billed.quantity``,
  ``usage.cost_details.upstream_cost``).

- **envelope** (:func:`to_envelope` / :func:`from_envelope`): what TanStack
  AI's TypeScript event client puts on its bus, with camelCase fields and the
  timestamp in epoch milliseconds::

      {"type": "tanstack-ai-devtools:image:usage",
       "payload": {"requestId": "img-1", "usage": {"inputTokens": 50}, ...},
       "pluginId": "tanstack-ai-devtools"}

  ``cost`` is a JSON number, as TypeScript expects; a cost with more
  significant digits than a double holds exactly is sent as a string instead,
  so nothing is ever rounded. The same goes for every amount and quantity
  (``usage.billed.quantity``, ``usage.costDetails.upstreamCost``, ...).

Fields that are ``None`` are left out of both shapes. Parsing validates like
building an event does and raises
:class:`~aievents.exceptions.EventValidationError` naming the field; parsed
events keep exactly the fields the message had (no generated ``event_id``, no
context attribution).

The converters come from :func:`make_converter`; the module functions use one
of each style, built at import.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from aievents._fastjson import encoder
from aievents.events import FROM_WIRE, BaseEvent, ImageOutput, event_class
from aievents.exceptions import EventValidationError
from aievents.money import ImageCost
from aievents.usage import (
    Billed,
    CostDetails,
    ImageUsage,
    InputTokensDetails,
    OutputTokensDetails,
)

__all__ = [
    "COMPUTED_COST_MARK",
    "PLUGIN_ID",
    "Style",
    "from_data",
    "from_dict",
    "from_envelope",
    "from_json",
    "make_converter",
    "to_dict",
    "to_envelope",
    "to_json",
]

#: The plugin id of TanStack AI's event client; envelope types are ``"<PLUGIN_ID>:<name>"``.
PLUGIN_ID: Final = "tanstack-ai-devtools"
#: The payload key saying that ``usage.cost`` shows the computed cost (see
#: :func:`to_envelope`), not one the provider reported.
COMPUTED_COST_MARK: Final = "usageCostComputed"

Style = Literal["snake", "camel"]
E = TypeVar("E", bound=BaseEvent)

_CAMEL_RE: Final = re.compile(r"_([a-z0-9])")
#: Significant digits a JSON number (an IEEE double) carries exactly.
_DOUBLE_DIGITS: Final = 15


def camel_case(name: str) -> str:
    """``request_id`` -> ``requestId``."""
    return _CAMEL_RE.sub(lambda m: m.group(1).upper(), name)


def _decimal_to_number(value: Decimal) -> float | str:
    if len(value.as_tuple().digits) <= _DOUBLE_DIGITS:
        number = float(value)
        # Out of a double's range (inf, 0.0, subnormals) the digits would not survive.
        if math.isfinite(number) and Decimal(repr(number)) == value:
            return number
    return str(value)


def _identity(value: Any, _type: Any = None) -> Any:
    return value


def _as_list(value: Any) -> Any:
    return list(value)


def _mapping_copy(value: Any) -> Any:
    return dict(value)


def _record_hook(value: Any, _type: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    return value  # the field's own validator names the problem


def _nested(
    hook: Callable[[Any, Any], Any], prefix: str, cls: type, *, nullable: bool = False
) -> Callable[[Any, Any], Any]:
    """Structure a nested object, naming its fields under ``prefix`` in errors.

    ``nullable``: ``None`` (JSON ``null``) is accepted, as for the field left out.
    """

    def structure(value: Any, _type: Any) -> Any:
        if isinstance(value, cls) or (nullable and value is None):
            return value
        if not isinstance(value, Mapping):
            raise EventValidationError(prefix, value, "must be an object")
        try:
            return hook(value, _type)
        except EventValidationError as exc:
            raise exc.within(prefix, owner="") from None

    return structure


def _outputs_unhook(converter: cattrs.Converter) -> Callable[[Any], Any]:
    def unstructure(items: Any) -> Any:
        return [converter.unstructure(item, ImageOutput) for item in items]

    return unstructure


def _outputs_hook(converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    item = _nested(converter.get_structure_hook(ImageOutput), "", ImageOutput)

    def structure(value: Any, _type: Any) -> Any:
        if value is None or not isinstance(value, (list, tuple)):
            return value  # the field's own validator names the problem
        items = []
        for index, entry in enumerate(value):
            try:
                items.append(item(entry, ImageOutput))
            except EventValidationError as exc:
                field = exc.field.lstrip(".")
                path = f"outputs[{index}]" + (f".{field}" if field else "")
                raise exc.retarget(field=path, owner="") from None
        return tuple(items)

    return structure


_NESTED: Final[Mapping[type, str]] = {
    ImageCost: "cost",
    ImageUsage: "usage",
    InputTokensDetails: "input_tokens_details",
    OutputTokensDetails: "output_tokens_details",
    Billed: "billed",
    CostDetails: "cost_details",
}


def make_converter(style: Style = "snake") -> cattrs.Converter:
    """Build a converter between events and plain dicts.

    Args:
        style: ``"snake"`` keeps the Python field names and writes ``cost``
            as a decimal string; ``"camel"`` uses TanStack's camelCase names
            and writes ``cost`` as a number.

    The converter leaves ``None`` fields out when unstructuring and checks
    types through the event classes' own validation when structuring (no
    silent coercion of ``"5"`` into ``5``).
    """
    converter = cattrs.Converter(
        omit_if_default=True,
        forbid_extra_keys=False,
        prefer_attrib_converters=True,
        detailed_validation=False,
    )
    camel = style == "camel"
    for primitive in (str, int, float, bool):
        converter.register_structure_hook(primitive, _identity)
    converter.register_structure_hook(Decimal, _identity)
    converter.register_unstructure_hook(Decimal, _decimal_to_number if camel else str)

    def field_overrides(cls: type, *, structuring: bool) -> dict[str, Any]:
        overrides: dict[str, Any] = {}
        for field in attrs.fields(cls):
            kwargs: dict[str, Any] = {}
            if camel:
                kwargs["rename"] = camel_case(field.name)
            if field.name == "timestamp":
                kwargs["omit_if_default"] = False
            if field.name in ("system_prompts", "tool_names"):
                kwargs["unstruct_hook"] = _as_list
            elif field.name in ("options", "model_options"):
                kwargs["unstruct_hook"] = _mapping_copy
            elif field.name == "outputs":
                kwargs["unstruct_hook"] = _outputs_unhook(converter)
            if structuring:
                target = _nested_type(field.type)
                if target is not None:
                    kwargs["struct_hook"] = _nested(
                        converter.get_structure_hook(target),
                        _NESTED[target],
                        target,
                        nullable=field.default is None,
                    )
                elif field.name == "outputs":
                    kwargs["struct_hook"] = _outputs_hook(converter)
                elif field.name in ("options", "model_options"):
                    kwargs["struct_hook"] = _record_hook
            if kwargs:
                overrides[field.name] = override(**kwargs)
        return overrides

    def unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
        return make_dict_unstructure_fn(
            cls, converter, _cattrs_omit_if_default=True, **field_overrides(cls, structuring=False)
        )

    def structure_factory(cls: type) -> Callable[[Any, Any], Any]:
        return make_dict_structure_fn(cls, converter, **field_overrides(cls, structuring=True))

    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    converter.register_structure_hook_factory(attrs.has, structure_factory)
    return converter


def _nested_type(annotation: Any) -> type | None:
    for cls in _NESTED:
        if (
            annotation is cls
            or annotation == cls.__name__
            or (isinstance(annotation, str) and annotation.startswith(cls.__name__ + " "))
        ):
            return cls
        args = getattr(annotation, "__args__", ())
        if cls in args:
            return cls
    return None


_SNAKE: Final = make_converter("snake")
_CAMEL: Final = make_converter("camel")


def _structure(converter: cattrs.Converter, data: Any, cls: type[E], owner: str) -> E:
    if not isinstance(data, Mapping):
        raise EventValidationError("payload", data, "must be an object", owner=owner)
    if "timestamp" not in data:
        raise EventValidationError("timestamp", None, "is required on the wire", owner=owner)
    token = FROM_WIRE.set(True)
    try:
        return converter.structure(data, cls)
    except EventValidationError as exc:
        if exc.owner:
            raise
        raise exc.retarget(owner=owner) from None
    finally:
        FROM_WIRE.reset(token)


def to_dict(event: BaseEvent) -> dict[str, Any]:
    """The event as a JSON-ready snake_case dict with its ``"type"``."""
    data: dict[str, Any] = {"type": event.event_type}
    data.update(_SNAKE.unstructure(event, type(event)))
    return data


def from_dict(data: Mapping[str, Any], cls: type[E] | None = None) -> E:
    """Rebuild an event from :func:`to_dict`'s shape.

    Args:
        data: The dict; its ``"type"`` names the event class.
        cls: The class to build, when ``data`` has no ``"type"``.

    Raises:
        EventValidationError: unknown type, or a field is missing or wrong.
    """
    if not isinstance(data, Mapping):
        raise EventValidationError("event", data, "must be an object", owner="event")
    if cls is None:
        cls = event_class(data.get("type"))  # type: ignore[assignment,arg-type]
    assert cls is not None
    return _structure(_SNAKE, data, cls, cls.event_type)


def to_envelope(
    event: BaseEvent, *, plugin_id: str = PLUGIN_ID, show_computed_cost: bool = False
) -> dict[str, Any]:
    """The event as a TanStack envelope: ``{"type", "payload", "pluginId"}``.

    Args:
        event: The event.
        plugin_id: The plugin the envelope's ``type`` names.
        show_computed_cost: For a panel that reads only ``usage.cost``
            (TanStack's devtools): an ``image:usage`` whose provider reported
            no cost (``usage.cost`` is None) and whose computed ``cost``
            priced every part shows the computed total as ``usage.cost``, and
            the payload says so with ``"usageCostComputed": true``, which
            :func:`from_envelope` undoes: the event read back is the event
            sent. Off, ``usage.cost`` is only ever the provider's.
    """
    payload = _CAMEL.unstructure(event, type(event))
    if show_computed_cost:
        _show_computed_cost(event, payload)
    return {"type": f"{plugin_id}:{event.event_type}", "payload": payload, "pluginId": plugin_id}


def _show_computed_cost(event: BaseEvent, payload: dict[str, Any]) -> None:
    usage = getattr(event, "usage", None)
    cost = getattr(event, "cost", None)
    if (
        isinstance(usage, ImageUsage)
        and usage.cost is None
        and isinstance(cost, ImageCost)
        and cost.complete
    ):
        payload["usage"] = {**payload["usage"], "cost": _decimal_to_number(cost.total)}
        payload[COMPUTED_COST_MARK] = True


def _hide_computed_cost(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The payload without the computed cost :func:`to_envelope` showed as ``usage.cost``."""
    if payload.get(COMPUTED_COST_MARK) is not True:
        return payload
    payload = {key: value for key, value in payload.items() if key != COMPUTED_COST_MARK}
    usage = payload.get("usage")
    if isinstance(usage, Mapping):
        payload["usage"] = {key: value for key, value in usage.items() if key != "cost"}
    return payload


def envelope_name(envelope: Mapping[str, Any], *, plugin_id: str = PLUGIN_ID) -> str:
    """The event name of an envelope: its ``type`` without the ``"<plugin_id>:"`` prefix.

    Raises:
        EventValidationError: the type is not a string of the form
            ``"<plugin_id>:<event name>"``, or the envelope's ``pluginId``
            names another plugin.
    """
    kind = envelope.get("type")
    prefix = f"{plugin_id}:"
    if not isinstance(kind, str) or not kind.startswith(prefix) or kind == prefix:
        raise EventValidationError(
            "type", kind, f"must be '{plugin_id}:<event name>'", owner="envelope"
        )
    declared = envelope.get("pluginId", plugin_id)
    if declared != plugin_id:
        raise EventValidationError("pluginId", declared, f"must be {plugin_id!r}", owner="envelope")
    return kind[len(prefix) :]


def from_envelope(envelope: Mapping[str, Any], *, plugin_id: str = PLUGIN_ID) -> BaseEvent:
    """Rebuild an event from a TanStack envelope.

    The envelope's ``type`` must be ``"<pluginId>:<event name>"`` with a
    known event name. A TypeScript ``image:request:completed`` payload whose
    ``images`` is the list of produced images is understood too: the list
    becomes ``outputs`` and its length ``images``. A payload marked
    ``"usageCostComputed": true`` (see :func:`to_envelope`) showed the
    computed cost as ``usage.cost``: it is left out, the provider having
    reported none.

    Raises:
        EventValidationError: not an envelope, unknown type, or a bad field.
    """
    if not isinstance(envelope, Mapping):
        raise EventValidationError("envelope", envelope, "must be an object", owner="envelope")
    cls = event_class(envelope_name(envelope, plugin_id=plugin_id))
    payload = envelope.get("payload")
    if isinstance(payload, Mapping):
        payload = _hide_computed_cost(payload)
    if isinstance(payload, Mapping) and isinstance(payload.get("images"), list):
        produced = payload["images"]
        payload = {**payload, "images": len(produced), "outputs": produced}
    return _structure(_CAMEL, payload, cls, cls.event_type)


def to_json(event: BaseEvent, *, form: Literal["dict", "envelope"] = "dict") -> str:
    """The event as compact JSON, in the dict or the envelope shape."""
    if form == "dict":
        try:  # the compiled encoder writes to_dict's JSON without building the dict
            return encoder(type(event), type_name=event.event_type)(event)
        except TypeError:
            pass
    data = to_envelope(event) if form == "envelope" else to_dict(event)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def from_data(data: Mapping[str, Any]) -> BaseEvent:
    """Rebuild an event from either shape: an envelope has a ``payload``, a dict has not.

    This is how a line of a JSON Lines file of events is read (``aievents
    ingest``, ``aievents usage --events``).

    Raises:
        EventValidationError: not an object, unknown type, or a bad field.
    """
    if isinstance(data, Mapping) and "payload" in data:
        return from_envelope(data)
    return from_dict(data)


def from_json(text: str | bytes) -> BaseEvent:
    """Parse one event from JSON in either shape (see :func:`from_data`).

    Raises:
        EventValidationError: the text is not JSON, or not a valid event.
    """
    try:
        data = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise EventValidationError(
            "json", text, f"is not valid JSON ({exc})", owner="event"
        ) from None
    return from_data(data)
