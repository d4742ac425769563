"""How a StoreSink reads: the sums a query asks for, from one snapshot of the store.

The daily roll-up answers ``1d`` queries over whole days, the hourly one
``1h`` queries over whole hours; the edges of a window, and ``1m``
queries, are summed from the rows. Cost parts
finer than cost units, kept as exact text, are read one row each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from aievents.query import DIMENSIONS, Row, Scan
from aievents.sinks._storedb import StoreDB
from aievents.sinks._storepg import lock_timeout
from aievents.sinks._storeschema import ROLLUPS, joined, lane_sums
from aievents.totals import COSTS, unit_totals

try:
    import sqlalchemy as sa
except ImportError:  # the store extra is not installed: StoreSink says so first
    sa = None  # type: ignore[assignment]

__all__ = ["StoreReader"]


class StoreReader:
    """Answers a :class:`~aievents.query.Scan` from a store."""

    def __init__(self, db: StoreDB) -> None:
        self._db = db

    def rows(self, scan: Scan, wait_until: float) -> list[Row]:
        """The sums for ``scan``, every part read from one snapshot of the database.

        Waits for other threads of the sink until ``wait_until`` (a
        ``time.monotonic()`` value), or for the busy timeout if that is later.

        Raises:
            StoreError: the store cannot be read (a lock held past the busy
                timeout, a lost connection...).
        """
        first, stop = scan.start // 60, scan.end // 60
        width = scan.width // 60
        spans: list[tuple[Any, int, int]] = []
        # The roll-up of the longest period a bucket is made of, if any.
        fits = [(p, name) for name, p in ROLLUPS.items() if width >= p and width % p == 0]
        if fits:
            period, name = max(fits)
            whole_first = -(-first // period) * period
            whole_stop = stop - stop % period
            if whole_first < whole_stop:
                table = self._db.tables[name]
                spans = [(None, first, whole_first), (table, whole_first, whole_stop)]
                spans.append((None, whole_stop, stop))
        if not spans:
            spans = [(None, first, stop)]
        deadline = max(wait_until, time.monotonic() + self._db.busy)
        try:
            return self._db.on_store(lambda: self._read(scan, spans, first, stop), deadline)
        except self._db.errors as error:
            raise self._db.error("cannot be read", error) from None

    def _read(
        self, scan: Scan, spans: list[tuple[Any, int, int]], first: int, stop: int
    ) -> list[Row]:
        with self._db.engine.connect() as connection:
            # Every part of the answer from one snapshot, whatever commits meanwhile.
            conn = connection
            if self._db.sqlite:
                conn.exec_driver_sql("BEGIN")
            else:
                conn = connection.execution_options(isolation_level="REPEATABLE READ")
                conn.exec_driver_sql(lock_timeout(self._db.busy))
                if self._db.read_timeout is not None:
                    limit = max(1, round(self._db.read_timeout * 1000))
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = '{limit}ms'")
            rows = [
                row
                for table, low, high in spans
                if low < high
                for row in self._sums(conn, scan, table, low, high)
            ]
            rows += self._exact(conn, scan, first, stop)
        return rows

    def _where(self, table: Any, column: str, scan: Scan, low: int, high: int) -> list[Any]:
        clauses = [table.c[column] >= low, table.c[column] < high]
        for name, allowed in scan.filters.items():
            clauses.append(table.c[name].in_(sorted(allowed)))
        return clauses

    def _sums(self, conn: Any, scan: Scan, table: Any, low: int, high: int) -> Iterator[Row]:
        width = scan.width // 60
        raw = table is None
        source = self._db.tables["usage"] if raw else table
        time_column = source.c["minute" if raw else "period"]
        bucket = (time_column // width).label("bucket")
        groups = [source.c[name] for name in scan.group_by]
        query = (
            sa.select(bucket, *groups, *lane_sums(source, raw))
            .where(*self._where(source, "minute" if raw else "period", scan, low, high))
            .group_by(bucket, *groups)
        )
        for record in conn.execute(query):
            values = list(record)
            start = values[0] * width * 60
            found = dict(zip(scan.group_by, values[1 : 1 + len(groups)], strict=True))
            key = tuple(found.get(name) for name in DIMENSIONS)
            yield start - start % scan.width, key, unit_totals(joined(values[1 + len(groups) :]))

    def _exact(self, conn: Any, scan: Scan, low: int, high: int) -> Iterator[Row]:
        """Cost parts kept as exact text (finer than cost units), one row each."""
        usage = self._db.tables["usage"]
        query = sa.select(
            usage.c.minute, *[usage.c[d] for d in DIMENSIONS], usage.c.cost_exact
        ).where(usage.c.cost_exact.is_not(None), *self._where(usage, "minute", scan, low, high))
        zeros = [0] * COSTS
        for record in conn.execute(query):
            start = record[0] * 60
            dims = record[1:-1]
            parts = [Decimal(v) for v in json.loads(record[-1])]
            yield start - start % scan.width, scan.group_key(dims), [*zeros, *parts]
