"""What the OpenTelemetry GenAI semantic conventions advise, as plain constants.

Kept apart from the OTLP encoding (which needs the ``[otel]`` extra) so that
every metric output uses the same figures whatever extras are installed:
the OTLP messages (:mod:`aievents.encoding.otlp`) and the Prometheus
histogram (:mod:`aievents.sinks.prometheus`) alike.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DURATION_BOUNDARIES", "TOKEN_BOUNDARIES"]

#: Bucket boundaries the GenAI conventions advise for token counts.
TOKEN_BOUNDARIES: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
#: Bucket boundaries the GenAI conventions advise for durations (seconds).
DURATION_BOUNDARIES: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
