"""Repricing a store: each row's request rebuilt from its raw usage and priced again.

A row keeps the raw usage of its request: its lanes (images, tokens by
modality), model, provider, size, quality and what the provider billed.
The request is rebuilt from them and priced by :func:`event_lanes`, the
function the store writes rows with, so that a store priced with an old
table and repriced equals a store written with the new table from the
start. Rows are read in batches (by minute, then request id); each batch
is read, priced and written in one transaction that holds the store's
write lock, and its changes are added to the roll-ups as differences:
a crash leaves every batch whole, and rows other writers add meanwhile
are neither lost nor counted twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from aievents._diag import log
from aievents.events import ImageUsageEvent
from aievents.exceptions import EventValidationError
from aievents.pricing import PriceBook
from aievents.query import DIMENSIONS, instant
from aievents.sinks import _reprice as share
from aievents.sinks._reprice import COMPUTED_FIELDS, Repricing
from aievents.sinks._storedb import SETTLE, StoreDB
from aievents.sinks._storeschema import (
    BIGINT_MAX,
    HOUR,
    LANE_COLUMNS,
    ROLLUPS,
    USAGE_COLUMNS,
    regrouped,
    roll_up_row,
)
from aievents.sinks._storewrite import event_lanes, price_columns
from aievents.totals import COSTS, LANES, fit
from aievents.usage import Billed

try:
    import sqlalchemy as sa
except ImportError:  # the store extra is not installed: StoreSink says so first
    sa = None  # type: ignore[assignment]

__all__ = ["BATCH", "Progress", "reprice", "since_ms"]

#: Rows read, priced and written per transaction.
BATCH: Final = 500
#: Told the rows done and the rows to do, after each batch.
Progress = Callable[[int, int], None]

_AT: Final = {name: i for i, name in enumerate(USAGE_COLUMNS)}
_LANES: Final = slice(_AT[LANE_COLUMNS[0]], _AT[LANE_COLUMNS[-1]] + 1)
_DIMS: Final = [_AT[name] for name in DIMENSIONS]
#: Where the cost lanes start among a row's lanes (FIELDS[1:]).
_COST_AT: Final = COSTS - 1
_UNPRICED: Final = LANE_COLUMNS.index("unpriced_requests")
#: The columns a reprice sets.
_SET: Final = (
    "unpriced_requests",
    *COMPUTED_FIELDS,
    "cost_exact",
    "price_version",
    "priced_as",
    "cost_basis",
)
#: The columns that say how a row was priced.
_STAMPS: Final = ("price_version", "priced_as", "cost_basis")


def since_ms(since: int | dt.datetime | dt.date | None) -> int | None:
    """``since`` (Unix seconds, an aware datetime, a UTC date; None: all) in epoch milliseconds.

    Read as a query reads its times (:func:`aievents.query.instant`): a
    QueryError names ``since`` and the value when it is none of these.
    """
    return None if since is None else instant("since", since) * 1000


def reprice(
    db: StoreDB,
    book: PriceBook,
    *,
    since: int | None,
    dry_run: bool,
    progress: Progress | None,
) -> Repricing:
    """Price the rows from ``since`` (epoch ms; None: all) again with ``book``.

    Raises the database's own errors (the sink words them).
    """
    usage = db.tables["usage"]
    where = [] if since is None else [usage.c.minute >= since // 60_000, usage.c.timestamp >= since]
    version = book.table.version
    total = db.on_store(lambda: _count(db, where), _deadline(db))
    summary = share.Summary()
    after: tuple[int, str] | None = None
    done = 0
    if progress is not None:
        progress(0, total)
    while True:
        batch = functools.partial(_batch, db, book, where, after, dry_run)
        outcome = db.on_store(batch, _deadline(db))
        rows, after, parts = outcome
        for part in parts:
            part(summary)
        done += rows
        if progress is not None:
            progress(done, max(total, done))
        if rows < BATCH:
            break
    return summary.result(version, dry_run)


def _deadline(db: StoreDB) -> float:
    return time.monotonic() + 2 * db.busy + SETTLE


def _count(db: StoreDB, where: list[Any]) -> int:
    usage = db.tables["usage"]
    with db.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(usage).where(*where)).scalar() or 0
        )


def _batch(
    db: StoreDB,
    book: PriceBook,
    where: list[Any],
    after: tuple[int, str] | None,
    dry_run: bool,
) -> tuple[int, tuple[int, str] | None, list[Callable[[share.Summary], None]]]:
    """One batch, in one transaction: (rows read, the last row's key, what to count)."""
    usage = db.tables["usage"]
    query = sa.select(*[usage.c[name] for name in USAGE_COLUMNS]).where(*where)
    if after is not None:
        minute, request_id = after
        query = query.where(
            sa.or_(
                usage.c.minute > minute,
                sa.and_(usage.c.minute == minute, usage.c.request_id > request_id),
            )
        )
    query = query.order_by(usage.c.minute, usage.c.request_id).limit(BATCH)
    with db.engine.connect() as conn:
        if not dry_run:
            if db.sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                # Writers wait for the batch (and it for them), never readers.
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{round(db.busy * 1000)}ms'")
                conn.exec_driver_sql("SET LOCAL statement_timeout = '60s'")
                conn.exec_driver_sql("LOCK TABLE aievents_usage IN SHARE ROW EXCLUSIVE MODE")
        rows = conn.execute(query).all()
        parts: list[Callable[[share.Summary], None]] = []
        updates: list[dict[str, Any]] = []
        deltas: dict[tuple[Any, ...], list[int]] = {}
        for row in rows:
            parts.append(_row(book, tuple(row), updates, deltas))
        if updates and not dry_run:
            values: dict[str, Any] = {name: sa.bindparam(f"new_{name}") for name in _SET}
            statement = usage.update().where(usage.c.request_id == sa.bindparam("key"))
            conn.execute(statement.values(values), updates)
            for table, period in ROLLUPS.items():  # none when only the price version changed
                sums = deltas if period == HOUR else regrouped(deltas, period)
                rollup = [roll_up_row(key[0], key[1:], delta) for key, delta in sums.items()]
                if rollup:
                    conn.exec_driver_sql(db.sql[table], rollup)
        if not dry_run:
            conn.commit()
    last = (rows[-1][_AT["minute"]], rows[-1][_AT["request_id"]]) if rows else after
    return len(rows), last, parts


def _row(
    book: PriceBook,
    row: tuple[Any, ...],
    updates: list[dict[str, Any]],
    deltas: dict[tuple[Any, ...], list[int]],
) -> Callable[[share.Summary], None]:
    """Price one row again; note its update and roll-up difference; return what to count."""
    model = row[_AT["model"]] or ""
    lanes = [int(v) for v in row[_LANES]]
    text = row[_AT["cost_exact"]]
    extra = None if text is None else [Decimal(v) for v in json.loads(text)]
    costs = lanes[_COST_AT:]
    old = share.computed_total(costs, extra)
    unpriced = lanes[_UNPRICED]

    def keep(field: str) -> Callable[[share.Summary], None]:
        def kept(summary: share.Summary) -> None:
            setattr(summary, field, getattr(summary, field) + 1)
            summary.add(
                model, 1, old=old, new=old, changed=False, unpriced=unpriced, old_unpriced=unpriced
            )

        return kept

    if _given(row, lanes, extra):
        return keep("kept")
    name = _pricing_name(book, row)
    if name is None:
        # Nothing in these prices to price it by: its cost, known or not, stays.
        return keep("not_in_prices")
    event = _request(row, lanes, name)
    if event is None:
        return keep("kept")
    fresh, fresh_extra, cost = event_lanes(event, book, True)
    new_costs, new_extra = share.replace_costs(costs, extra, fresh[_COST_AT:], fresh_extra)
    new = [*lanes[:_COST_AT], *new_costs]
    new[_UNPRICED] = fresh[_UNPRICED]
    if max(new) > BIGINT_MAX:
        fitted, new_extra = fit(new, new_extra, BIGINT_MAX)
        assert fitted is not None  # only cost lanes moved: the counts were stored
        new = fitted
    new_total = share.computed_total(new[_COST_AT:], new_extra)
    changed = new != lanes or share.differ(extra, new_extra)
    version, priced_as, _, _, basis = price_columns(cost, None)
    stamps = (version, priced_as, basis)
    if changed or stamps != tuple(row[_AT[name]] for name in _STAMPS):
        update: dict[str, Any] = {"key": row[_AT["request_id"]]}
        for name in ("unpriced_requests", *COMPUTED_FIELDS):
            update[f"new_{name}"] = new[LANE_COLUMNS.index(name)]
        update["new_cost_exact"] = (
            None if new_extra is None else json.dumps([str(v) for v in new_extra])
        )
        update["new_price_version"], update["new_priced_as"], update["new_cost_basis"] = stamps
        updates.append(update)
    if new != lanes:
        minute = int(row[_AT["minute"]])
        key = (minute - minute % HOUR, *(row[i] for i in _DIMS))
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = [0] * LANES
        for i, (before, after) in enumerate(zip(lanes, new, strict=True), 1):
            delta[i] += after - before
    still = new[_UNPRICED]

    def counted(summary: share.Summary) -> None:
        summary.add(
            model, 1, old=old, new=new_total, changed=changed, unpriced=still, old_unpriced=unpriced
        )

    return counted


def _given(row: tuple[Any, ...], lanes: list[int], extra: list[Decimal] | None) -> bool:
    """Whether a row's cost came with its event as an amount, not from a price table.

    Such a row is priced, has no table version, and holds its cost as one
    amount (``cost_other``) rather than a table's breakdown. A row of an
    older version priced by a table has a breakdown; one without any cost
    is unpriced: both are repriced.
    """
    if lanes[_UNPRICED] or row[_AT["price_version"]] is not None:
        return False
    parts = len(COMPUTED_FIELDS) - 1  # the breakdown, without cost_other
    breakdown = any(lanes[_COST_AT : _COST_AT + parts]) or (
        extra is not None and any(extra[:parts])
    )
    return not breakdown


def _pricing_name(book: PriceBook, row: tuple[Any, ...]) -> str | None:
    """The model to price a row as: its own, else the one it was priced as; None: neither is known.

    A request priced as another model (an Azure deployment mapped to its
    model, ``image_request(priced_as=...)``) keeps the caller's name as its
    model and the entry that priced it as ``priced_as``.
    """
    model = str(row[_AT["model"]] or "")
    provider = row[_AT["provider"]]
    if book.lookup(model, provider) is not None:
        return model
    stored = row[_AT["priced_as"]]
    if stored and stored != model and book.lookup(stored, provider) is not None:
        return str(stored)
    return None


def _request(row: tuple[Any, ...], lanes: list[int], model: str) -> ImageUsageEvent | None:
    """The request a row was written from, as far as pricing goes (None: it cannot be rebuilt).

    ``model`` is the name to price it as (:func:`_pricing_name`). A row no
    event of this release would write is named in a warning.
    """
    counts = dict(zip(LANE_COLUMNS, lanes, strict=True))
    quantity = row[_AT["billed_quantity"]]
    try:
        billed = (
            None
            if quantity is None
            else Billed(quantity=Decimal(quantity), unit=row[_AT["billed_unit"]])
        )
        return ImageUsageEvent(
            request_id=row[_AT["request_id"]],
            timestamp=int(row[_AT["timestamp"]]),
            provider=row[_AT["provider"]],
            model=model,
            size=row[_AT["size"]],
            quality=row[_AT["quality"]],
            images=counts["images"] or None,
            operation=row[_AT["source"]],
            project_id=row[_AT["project_id"]],
            user_id=row[_AT["user_id"]],
            api_key_id=row[_AT["api_key_id"]],
            # Priced by its tokens: it reported them, were they all 0.
            usage=share.usage_of(counts, billed, tokens=row[_AT["cost_basis"]] == "tokens"),
        )
    except (EventValidationError, TypeError, ValueError, ArithmeticError) as error:
        log(
            "store",
            "warning",
            "reprice_row_kept",
            error=error,
            request_id=row[_AT["request_id"]],
            reason="the row cannot be read back as a request: kept as it is",
        )
        return None
