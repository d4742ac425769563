"""The OpenTelemetry GenAI facts of an event, shared by the OTLP encoder and OtelSink.

One mapping of what an image request used to attribute names, so that the
OTLP log records (:mod:`aievents.encoding.otlp`) and the spans of
:class:`~aievents.sinks.otel.OtelSink` say the same thing with the same
names: the conventions' ``gen_ai.usage.input_tokens`` and
``gen_ai.usage.output_tokens``, and ``aievents.*`` for what they lack (the
flat token counts of :func:`aievents.usage.flat_tokens`, the cost aievents
computed as ``aievents.cost_usd`` with ``aievents.priced_as``, and what the
provider reported: ``aievents.reported_cost_usd``,
``aievents.billed_quantity``, ``aievents.billed_unit``). The bucket
boundaries are the ones the conventions advise for the two histograms,
used by every metric output whatever extras are installed (the OTLP
messages, OtelSink, and the Prometheus histogram of
:mod:`aievents.sinks.prometheus`): this module needs no extra.
"""

from __future__ import annotations

from typing import Any, Final

from aievents.events import ImageUsageEvent
from aievents.usage import flat_reported, flat_token_counts

__all__ = ["DEFAULT_OPERATION_NAME", "DURATION_BOUNDARIES", "TOKEN_BOUNDARIES", "usage_values"]

#: ``gen_ai.operation.name`` by default: the conventions' value for a call
#: that generates content, which their conformance scenarios use for image
#: generation (with ``gen_ai.output.type = image``). The event's own
#: ``operation`` (``image.generation``, ``image.edit``...) goes beside it as
#: ``aievents.operation``.
DEFAULT_OPERATION_NAME: Final = "generate_content"

#: Bucket boundaries the GenAI conventions advise for token counts.
TOKEN_BOUNDARIES: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
#: Bucket boundaries the GenAI conventions advise for durations (seconds).
DURATION_BOUNDARIES: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip


def usage_values(
    event: ImageUsageEvent, values: dict[str, Any] | None = None, *, unknown: bool = True
) -> dict[str, Any]:
    """The usage and cost attributes of an ``image:usage`` event, added to ``values``.

    Amounts and quantities are doubles (finite, as an event's are bounded);
    counts are ints. The input and output token counts the provider did
    not report are None with ``unknown``, else left out.
    """
    if values is None:
        values = {}
    usage = event.usage
    counts = flat_token_counts(usage)
    if counts is None:
        if unknown:
            values["gen_ai.usage.input_tokens"] = values["gen_ai.usage.output_tokens"] = None
    else:
        given, taken, total, text, image, cached, out_image, out_text, images = counts
        if given is not None or unknown:
            values["gen_ai.usage.input_tokens"] = given
        if taken is not None or unknown:
            values["gen_ai.usage.output_tokens"] = taken
        if total is not None:
            values["aievents.total_tokens"] = total
        # The billed counts are always known (written out: this runs once per event).
        values["aievents.input_text_tokens"] = text
        values["aievents.input_image_tokens"] = image
        values["aievents.cached_tokens"] = cached
        values["aievents.output_image_tokens"] = out_image
        values["aievents.output_text_tokens"] = out_text
        values["aievents.image_tokens"] = images
    cost = event.cost
    if cost is not None:
        values["aievents.cost_usd"] = float(cost.total)
        values["aievents.priced_as"] = cost.priced_model
    if usage.cost is not None or usage.cost_details is not None or usage.billed is not None:
        for name, value in flat_reported(usage).items():
            values[f"aievents.{name}"] = value if isinstance(value, str) else float(value)
    return values
