"""OTLP metric points kept by attribute set, and Python values as OTLP attribute values.

What :mod:`aievents.encoding.otlp` builds its messages with: :class:`SumPoints`
and :class:`HistogramPoints` add values to the point of their attribute set,
for a batch (delta) or since a start (cumulative), and give them as an OTLP
``Metric``. A series keeps at most ``cap`` attribute sets; values of later
ones are added to :data:`OVERFLOW_ATTRIBUTES`, as the OpenTelemetry SDK does
past its cardinality limit.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

__all__ = [
    "INT64",
    "MAX_ATTRIBUTE_SETS",
    "OVERFLOW_ATTRIBUTES",
    "Dims",
    "HistogramPoints",
    "SumPoints",
    "any_value",
    "attributes",
]

#: The most attribute sets a metric keeps (OpenTelemetry's default cardinality limit).
MAX_ATTRIBUTE_SETS: Final = 2000
#: The attribute set the points past the limit are added to, as OpenTelemetry names it.
OVERFLOW_ATTRIBUTES: Final = (("otel.metric.overflow", True),)
#: The integers OTLP's 64-bit fields hold.
INT64: Final = range(-(2**63), 2**63)

#: The attributes of a metric point, in a fixed order.
Dims = tuple[tuple[str, Any], ...]


def any_value(value: Any) -> AnyValue:
    """A Python value as an OTLP AnyValue (an int past 64 bits as its exact string)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if value in INT64:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))  # exact, where an int64 would overflow
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def attributes(values: Mapping[str, Any]) -> list[KeyValue]:
    """OTLP attributes of the values that are set (None is left out, as OTLP has no null)."""
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items() if v is not None]


class Series:
    """A metric's points by attribute set: ``cap`` sets at most, later ones in the overflow set."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.points: dict[Dims, Any] = {}

    def key(self, dims: Dims) -> Dims:
        """The attribute set a point of ``dims`` is added to."""
        points = self.points
        if dims in points or len(points) - (OVERFLOW_ATTRIBUTES in points) < self.cap:
            return dims
        return OVERFLOW_ATTRIBUTES


class SumPoints(Series):
    """Running sums by attribute set."""

    def add(self, value: float, dims: Dims) -> None:
        """Add ``value`` to the sum of ``dims`` (or of the overflow set)."""
        key = self.key(dims)
        self.points[key] = self.points.get(key, 0) + value

    def metric(
        self, name: str, unit: str, description: str, times: tuple[int, int], temporality: int
    ) -> Metric:
        """The OTLP sum of the points, between ``times`` (start, end; Unix nanoseconds)."""
        return Metric(
            name=name,
            unit=unit,
            description=description,
            sum=Sum(
                data_points=[
                    number_point(dims, value, *times) for dims, value in self.points.items()
                ],
                aggregation_temporality=temporality,  # type: ignore[arg-type]
                is_monotonic=True,
            ),
        )


class Buckets:
    """One histogram point: counts by bucket, count, sum, min and max."""

    __slots__ = ("count", "counts", "max", "min", "sum")

    def __init__(self, buckets: int, value: float) -> None:
        self.counts = [0] * buckets
        self.count = 0
        self.sum = 0.0
        self.min = self.max = float(value)

    def add(self, value: float, bucket: int) -> None:
        """Count ``value``, in ``bucket``."""
        self.counts[bucket] += 1
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)


class HistogramPoints(Series):
    """Values recorded by their attribute sets, as OTLP histogram points."""

    def __init__(self, boundaries: Sequence[float], cap: int) -> None:
        super().__init__(cap)
        self.bounds = [float(b) for b in boundaries]

    def record(self, value: float, dims: Dims) -> None:
        """Count ``value`` in the point of ``dims`` (or of the overflow set)."""
        key = self.key(dims)
        point = self.points.get(key)
        if point is None:
            point = self.points[key] = Buckets(len(self.bounds) + 1, value)
        point.add(value, bisect.bisect_left(self.bounds, value))  # (bounds[i-1], bounds[i]]

    def metric(
        self, name: str, unit: str, description: str, times: tuple[int, int], temporality: int
    ) -> Metric:
        """The OTLP histogram of the points, between ``times`` (start, end; Unix nanoseconds)."""
        start, end = times
        points = [
            HistogramDataPoint(
                attributes=attributes(dict(dims)),
                start_time_unix_nano=start,
                time_unix_nano=end,
                count=point.count,
                sum=point.sum,
                bucket_counts=point.counts,
                explicit_bounds=self.bounds,
                min=point.min,
                max=point.max,
            )
            for dims, point in self.points.items()
        ]
        return Metric(
            name=name,
            unit=unit,
            description=description,
            histogram=Histogram(
                data_points=points,
                aggregation_temporality=temporality,  # type: ignore[arg-type]
            ),
        )


def number_point(dims: Dims, value: float, start: int, end: int) -> NumberDataPoint:
    """A sum's data point: an int as an int while it fits in 64 bits, else a double."""
    point = NumberDataPoint(
        attributes=attributes(dict(dims)), start_time_unix_nano=start, time_unix_nano=end
    )
    if isinstance(value, int) and value in INT64:
        point.as_int = value
    else:
        point.as_double = float(value)
    return point
