"""AggregateSink: usage and cost sums in memory, answered as OpenAI's usage API answers.

Every ``image:usage`` event is added, in O(1), to the totals of its series:
its UTC minute and its dimensions (model, size, source, project, user, API
key, and beyond OpenAI's, provider and quality). :meth:`AggregateSink.usage`
and :meth:`AggregateSink.costs` answer from those totals through
:mod:`aievents.query`.

Memory stays bounded whatever the load:

- a request id already counted is not counted again (the last
  ``max_request_ids`` ids are remembered);
- at most ``max_series`` distinct dimension combinations are kept; events of
  any further combination are added to one overflow series (every
  dimension ``"(overflow)"``) and counted in :attr:`AggregateSink.overflowed`;
- minute detail is kept for ``minute_detail`` seconds, then rolled into its
  hour; hour detail for ``hour_detail``, then rolled into its day; days older
  than ``retention`` are dropped. A rolled-up total remembers the first and
  last minute of its events: a query counts it whole in the bucket of its
  first minute (so a ``1m`` or ``1h`` query over rolled-up time shows each
  roll-up in one bucket), and a query whose start or end falls between
  those minutes is refused (:class:`~aievents.query.QueryError` naming the
  edges to use) rather than answered short or long.

:meth:`AggregateSink.export` and :meth:`AggregateSink.merge` move the totals
between processes so that several processes' aggregates can be combined.

Costs are summed exactly, as whole numbers of 10**-15 USD (a part with finer
digits as a ``Decimal``). The common case, an event for a series already
held, is added by ``aievents._speedups`` when it was built (see
:attr:`AggregateSink.compiled`), else by its pure Python twin; both give the
same totals.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from aievents._validate import setting
from aievents.events import BaseEvent
from aievents.pricing import PriceBook, PriceTable, book_for
from aievents.query import Reports, Row, Scan
from aievents.sinks._reprice import Repricing
from aievents.sinks._series import OVERFLOW, SeriesTable

__all__ = ["OVERFLOW", "AggregateSink", "Repricing"]


class _Count:
    """A read-only counter of an AggregateSink, kept by its series table."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, sink: AggregateSink | None, owner: type | None = None) -> Any:
        return self if sink is None else sink._table.count(self._name)


class AggregateSink(Reports):
    """Sums ``image:usage`` events; answers OpenAI-shaped usage and costs pages.

    Args:
        max_series: Distinct dimension combinations kept; beyond, events go
            to the overflow series (a combination whose totals all aged out
            frees its place).
        max_entries: Totals kept in all (one per combination and minute,
            hour or day); past it, the oldest detail is rolled up early, and
            past that the oldest days go. Bounds memory (about 600 bytes each).
        max_request_ids: Request ids remembered to count each request once.
        minute_detail: Seconds of minute detail kept (default one day).
        hour_detail: Seconds of hour detail kept (default seven days).
        retention: Seconds of totals kept at all (default 400 days).
        prices: The :class:`~aievents.pricing.PriceBook` that prices events
            that carry no cost (the process default book by default).
        price_events: Price events that carry no ``cost`` with ``prices``; a
            request left without a cost (an unknown model) is counted in
            ``unpriced_requests``. The cost a provider reported
            (``usage.cost``) is summed apart, never as the computed cost.
        clock: Seconds since the epoch; for tests.
        compiled: Add events with the compiled ``aievents._speedups`` (built
            when the package was installed with a C compiler at hand):
            ``None`` when it is there and ``AIEVENTS_PURE_PYTHON`` is not set,
            ``True`` always (``ImportError`` without it), ``False`` never.
            Both give the same totals.

    Thread-safe; ``handle`` is O(1).
    """

    def __init__(
        self,
        *,
        max_series: int = 10_000,
        max_entries: int = 25_000,
        max_request_ids: int = 100_000,
        minute_detail: int = 86_400,
        hour_detail: int = 7 * 86_400,
        retention: int = 400 * 86_400,
        prices: PriceBook | PriceTable | None = None,
        price_events: bool = True,
        clock: Any = time.time,
        compiled: bool | None = None,
    ) -> None:
        minute_detail = setting("minute_detail", minute_detail, positive=True)
        hour_detail = setting("hour_detail", hour_detail, positive=True)
        retention = setting("retention", retention, positive=True)
        if not minute_detail <= hour_detail <= retention:
            raise ValueError("minute_detail <= hour_detail <= retention must hold")
        self._clock = clock
        self._table = SeriesTable(
            max_series=setting("max_series", max_series, positive=True),
            max_entries=setting("max_entries", max_entries, positive=True),
            max_request_ids=setting("max_request_ids", max_request_ids, positive=True),
            detail=(minute_detail // 60, hour_detail // 60, retention // 60),
            prices=book_for(prices),
            price_events=price_events,
            clock=clock,
            compiled=compiled,
        )
        # The tally's own handle, without a Python frame in between.
        self.handle = self._table.tally.handle  # type: ignore[method-assign]

    events = _Count("Events counted (neither a duplicate nor an expired one is).")
    duplicates = _Count("Events ignored because their request id was already counted.")
    overflowed = _Count("Events (and merged totals) added to the overflow series.")
    expired = _Count(
        "Requests older than ``retention`` when they arrived (an event, or totals "
        "merged in): counted here and logged, not added."
    )
    evicted = _Count("Totals dropped before their retention because of ``max_entries``.")
    future = _Count("Entries opened for a minute more than a day past the sink's clock.")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (events are ignored then)."""
        return bool(self._table.tally.closed)

    @property
    def compiled(self) -> bool:
        """Whether events are added by the compiled ``aievents._speedups``."""
        return self._table.compiled

    @property
    def series_count(self) -> int:
        """Distinct dimension combinations held (the overflow series included)."""
        return self._table.series_count()

    def handle(self, event: BaseEvent) -> None:
        """Add an ``image:usage`` event to its series (other events are ignored)."""
        self._table.tally.handle(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing is buffered: the sums are always current."""
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking events; the totals can still be queried and exported."""
        self._table.close()
        return True

    def scan(self, scan: Scan) -> Iterator[Row]:
        """Sum the series for a query (the :class:`aievents.query.Source` protocol).

        A rolled-up total counts in the bucket of its first event's minute.

        Raises:
            QueryError: the query's start or its given end falls between the
                first and the last minute of a rolled-up total it would
                count: the sink no longer knows which of its events are
                inside. (Without an end, "up to now", such a total counts
                whole.)
        """
        return iter(self._table.scan(scan))

    def reprice(self, prices: PriceBook | PriceTable | None = None) -> Repricing:
        """Price the totals again with ``prices`` (this sink's book by default), where they allow.

        The sink keeps sums, not requests, so a series (one model, size,
        source, project, user, API key, provider and quality) is priced
        again only when its sums give the same answer as pricing each of
        its requests would:

        - every request of the series was priced by its tokens: the token
          lanes are priced again (a token price is a sum over tokens, so
          the sum prices exactly as the requests one by one);
        - every request was priced per image (no tokens): the images are
          priced again when the new price of an image depends only on
          what the series keeps (model, size, provider, quality) and ``n``
          images cost ``n`` times one.

        What it cannot do (such a series is left as it is, its requests
        counted in :attr:`Repricing.kept` and the series named in
        :attr:`Repricing.not_repriced` with the reason): price requests
        that were unpriced when counted (an unknown model: the sink does
        not keep whether each one reported tokens or images, nor their
        quality), series whose costs came with the events as one amount,
        series that mix token-priced and per-image requests, the overflow
        series, models priced by what the provider billed (``per_billed_unit``
        in this sink's prices or the new ones: the sums do not keep it),
        prices that depend on the quality or the provider for a series
        that does not name them (its requests named none, or it was merged
        from an export of a release before they were dimensions), and
        prices per request. A store keeps each
        request and reprices all of them (:meth:`StoreSink.reprice`).

        Returns:
            What was examined and changed, the totals per model before
            and after, and the series left as they were.
        """
        book = self._table.prices if prices is None else book_for(prices)
        return self._table.reprice(book)

    def export(self) -> dict[str, Any]:
        """The totals as a JSON-ready dict, for :meth:`merge` in another process."""
        return self._table.export()

    def merge(self, state: Mapping[str, Any] | AggregateSink) -> None:
        """Add the totals of another sink (or its :meth:`export`) to these.

        Totals older than this sink's ``retention`` are not added: their
        requests are counted in :attr:`expired` (and logged).

        Raises:
            QueryError: the state is not an export of a compatible version;
                nothing is merged then.
        """
        if isinstance(state, AggregateSink):
            state = state.export()
        self._table.merge(state)
