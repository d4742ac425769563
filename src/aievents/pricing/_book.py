"""PriceBook: a price table that changes at runtime, and what pricing with it warned about."""

from __future__ import annotations

import datetime
import functools
import threading
from collections.abc import Mapping
from decimal import Decimal
from os import PathLike
from typing import Any, Final

from aievents._diag import log
from aievents._fork import after_fork
from aievents.events import BaseEvent
from aievents.exceptions import EventValidationError
from aievents.money import ImageCost
from aievents.pricing._cost import request_cost
from aievents.pricing._entry import ModelPrice
from aievents.pricing._estimate import Estimate, check_images, estimate_for
from aievents.pricing._names import Resolved
from aievents.pricing._overrides import Override
from aievents.pricing._table import PriceTable, shipped_table, unknown_names
from aievents.pricing._warned import Warned
from aievents.usage import ImageUsage


class PriceBook:
    """A price table that can change at runtime, and the warnings pricing with it gave.

    Everything that prices events takes a book (``prices=``): instrumentation
    (:func:`~aievents.instrument.instrument_openai`,
    :class:`~aievents.instrument.image_request`), sinks
    (:class:`~aievents.sinks.AggregateSink`, :class:`~aievents.sinks.StoreSink`)
    and the command (:func:`aievents.cli.main`). Without one they use the
    process default book, :func:`default_book`, which the module functions
    (:func:`set_price`, :func:`load_prices`, :func:`image_cost`, ...) act on.
    Two books price the same event differently in the same process, each
    with its own overrides and its own once-per-model warnings::

        contract = PriceBook()
        contract.set_price("gpt-image-1", tokens={"output_image": "32.00"})
        sink = AggregateSink(prices=contract)

    Thread-safe: overrides made at the same time from many threads are all
    kept, and a cost is always computed from one whole table.

    Args:
        table: The table to start from; the shipped table (loaded on first
            use) by default.
    """

    def __init__(self, table: PriceTable | None = None) -> None:
        if table is not None and not isinstance(table, PriceTable):
            raise TypeError(f"table must be a PriceTable, got {table!r}")
        self._table = table
        self._lock = threading.Lock()
        self._warned = Warned()
        after_fork(self)

    def __repr__(self) -> str:
        table = self._table
        if table is None:
            return "PriceBook(<shipped table, not loaded yet>)"
        return f"PriceBook(version={table.version!r}, models={len(table.models)})"

    @property
    def table(self) -> PriceTable:
        """The table in use now, with every runtime change applied (immutable)."""
        table = self._table
        if table is None:
            with self._lock:
                table = self._current()
        return table

    def _current(self) -> PriceTable:
        """The table in use; called with the lock held."""
        if self._table is None:
            self._table = shipped_table()
        return self._table

    def set_table(self, table: PriceTable) -> PriceTable:
        """Use ``table`` from now on; returns the table used until now."""
        if not isinstance(table, PriceTable):
            raise TypeError(f"table must be a PriceTable, got {table!r}")
        with self._lock:
            previous = self._current()
            self._table = table
        return previous

    def reset(self, table: PriceTable | None = None) -> None:
        """Start over: ``table`` (the shipped table by default) and no warning given yet.

        For tests: ``default_book().reset()`` undoes every ``set_price`` and
        ``load_prices`` of the module functions.
        """
        if table is not None and not isinstance(table, PriceTable):
            raise TypeError(f"table must be a PriceTable, got {table!r}")
        with self._lock:
            self._table = table
        self._warned.clear()

    def lookup(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """The entry that prices ``model`` (see :meth:`PriceTable.lookup`), or ``None``."""
        return self.table.lookup(model, provider)

    def resolve(self, model: str, provider: str | None = None) -> Resolved | None:
        """The entry that prices ``model`` and how it was found (:meth:`PriceTable.resolve`)."""
        return self.table.resolve(model, provider)

    def load_prices(self, path: str | PathLike[str], *, replace: bool = False) -> PriceTable:
        """Load a price file into this book.

        Args:
            path: A JSON file in the price table format.
            replace: Use the file's table alone instead of adding its entries to
                (and overriding the same models of) the current table.

        Returns:
            The table now in use.

        Raises:
            PriceTableError: the file is missing or malformed, or an alias or
                a ``successor`` of it names no model of the table it would
                make; the table in use is unchanged.
        """
        loaded = PriceTable.from_file(path)
        with self._lock:
            table = loaded if replace else self._current().merged(loaded)
            unknown = unknown_names(loaded, table)
            if unknown:
                raise unknown[0].error(str(path), len(unknown) - 1)
            self._table = table
        return table

    def set_price(
        self,
        model: str,
        *,
        provider: str | None = None,
        tokens: Mapping[str, Any] | None = None,
        per_image: Any = None,
        estimates: Any = None,
        per_megapixel: Any = None,
        per_request: Any = None,
        source: str = "set at runtime",
        effective: str | None = None,
    ) -> ModelPrice:
        """Set or override one model's price in this book.

        Use it for a negotiated rate or a model the table does not know yet::

            book.set_price("gpt-image-1", tokens={"output_image": "32.00"})  # other rates kept
            book.set_price("acme-image-v2", provider="acme", per_image="0.05")
            book.set_price("dall-e-3", per_image=[{"quality": "hd", "price": "0.07"}])
            book.set_price("acme-flux", provider="acme", per_megapixel="0.02")
            book.set_price("acme-upscale", provider="acme", per_request="0.01")

        Args:
            model: The model name.
            provider: The provider the price applies to; by default the provider
                of the model's current entry, or ``openai`` for a new model.
            tokens: Rates per 1M tokens by name (``input_text``, ``input_image``,
                ``cached_input_text``, ``cached_input_image``, ``output_image``,
                ``output_text``); for a model already priced by tokens, the rates
                given replace those rates only.
            per_image: A per-image price for every size and quality, a mapping of
                size to price, or a list of ``{"price", "size"?, "quality"?, "tier"?}``.
            estimates: Per-image estimates for a token-billed model, same forms.
            per_megapixel: A price per megapixel (rounded up), or
                ``{"price", "pixels"?, "round"?}``.
            per_request: A price per request.
            source: Where the price comes from.
            effective: Date the price applies from (default today).

        Prices in one unit only may be given; what is not given (the other
        rates, the estimates, the lifecycle dates, the aliases) is kept.

        Returns:
            The entry now in the table.

        Raises:
            PriceTableError: a rate or price is malformed; nothing is changed.
        """
        override = Override.parse(
            model,
            tokens=tokens,
            per_image=per_image,
            estimates=estimates,
            per_megapixel=per_megapixel,
            per_request=per_request,
        )
        with self._lock:  # read, merge and write as one step: concurrent overrides are all kept
            table = self._current()
            current = table.lookup(model, provider)
            if current is not None and current.model != model:
                current = None  # an alias or snapshot's entry: the name gets its own
            if provider is None:
                provider = current.provider if current is not None else "openai"
            elif current is not None and current.provider != provider:
                current = None
            price = override.apply(current, provider, source, effective)
            self._table = table.with_prices([price])
        return price

    def image_cost(
        self,
        model: str,
        *,
        provider: str | None = None,
        usage: ImageUsage | None = None,
        images: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        billed: Any = None,
        when: datetime.date | None = None,
        table: PriceTable | None = None,
    ) -> ImageCost | None:
        """The cost of one image request, or ``None`` when it cannot be known.

        The model is priced as the entry its name resolves to
        (:meth:`PriceTable.resolve`: aliases, patterns, dated snapshots);
        the cost's ``priced_model`` names that entry. Reported token usage
        comes first (on a token-billed entry), then what the provider billed
        (when the entry prices its unit), then the entry's own unit (per
        image, per megapixel, per request), then a token-billed entry's
        per-image estimate (``cost.basis`` says which). A model the table
        does not know, or a request it cannot price, is logged
        (``price_unknown``) once per model and reason by each book. A model
        past its shutdown date on ``when``
        is still priced and logged once (``model_retired``, with its
        successor); a deprecated one is noted once at info level
        (``model_deprecated``).

        Args:
            model: The model the request used.
            provider: The provider, to prefer its own entry.
            usage: The request's token usage, when the response reported it.
            images: Images returned (for per-image prices and estimates).
            size: Size of the images produced: ``WxH`` or a resolution tier
                (``1K``, ``2K``, ``4K``, ``512``).
            quality: Quality of the images produced.
            billed: What the provider says it billed (``usage.billed``: a
                ``quantity`` and a ``unit``), priced when the entry prices
                that unit.
            when: The day of the request (a ``datetime`` counts by its own
                day); today (UTC) by default.
            table: Price with this table instead of the book's.

        Returns:
            The cost with its breakdown, or ``None`` for a model the table does
            not know, or when the facts it needs (usage, or images with a priced
            size and quality) are missing. Never a made-up 0.

        Raises:
            EventValidationError: ``images`` is not a whole number, 0 or more.
        """
        if images is not None and (
            isinstance(images, bool) or not isinstance(images, int) or images < 0
        ):
            raise EventValidationError(
                "images", images, "must be a whole number of images, 0 or more", owner="image_cost"
            )
        table = table if table is not None else self.table
        resolved = self._resolve(table, model, provider, when)
        if resolved is None:
            return None
        try:
            return request_cost(
                resolved.price,
                table.version,
                functools.partial(self._warn_for, provider) if provider else self._warn,
                usage=usage,
                images=images,
                size=size,
                quality=quality,
                billed=billed,
            )
        except EventValidationError as exc:  # a cost past what an amount may be: unknown
            price = resolved.price
            self._warn(provider or price.provider, price.model, f"cost {exc.reason}")
            return None

    def cost_of(self, event: BaseEvent, *, table: PriceTable | None = None) -> ImageCost | None:
        """The cost of the request an image event describes (see :meth:`image_cost`).

        It is priced on the event's own day, with what its usage says was
        billed (``usage.billed``) when there is that.
        """
        model = event.model
        if model is None:
            return None
        return self.price_facts(
            model,
            provider=event.provider,
            usage=getattr(event, "usage", None),
            images=getattr(event, "images", None),
            size=getattr(event, "size", None),
            quality=getattr(event, "quality", None),
            timestamp=event.timestamp,
            table=table,
        )

    def price_facts(
        self,
        model: str,
        *,
        provider: str | None,
        usage: ImageUsage | None,
        images: int | None,
        size: str | None,
        quality: str | None,
        timestamp: int,
        table: PriceTable | None = None,
    ) -> ImageCost | None:
        """The cost of a request from an image event's facts (see :meth:`image_cost`).

        The one place an event's facts become a price: :meth:`cost_of` and
        the instrumentation (:class:`~aievents.instrument.image_request`)
        both call it, so an event gets the same price either way. It is
        priced on the day of ``timestamp`` (ms since the epoch, UTC), with
        what the usage says was billed (``usage.billed``) when there is that.
        """
        return self.image_cost(
            model,
            provider=provider,
            usage=usage,
            images=images,
            size=size,
            quality=quality,
            billed=getattr(usage, "billed", None),
            when=datetime.datetime.fromtimestamp(timestamp / 1000, datetime.timezone.utc).date(),
            table=table,
        )

    def estimate(
        self,
        model: str,
        *,
        size: str | None = None,
        quality: str | None = None,
        n: int = 1,
        provider: str | None = None,
        table: PriceTable | None = None,
    ) -> Estimate | None:
        """What a request for ``n`` images will cost, before it is sent.

        From the entry's price per image (for the size, quality and tier),
        per megapixel or per request; for a token-billed model, from its
        per-image estimate for the size and quality, else from the tokens
        of a typical image at its rates, times ``n``. The answer says which
        (:attr:`Estimate.method`).

        Args:
            model: The model the request will use (an alias or snapshot name
                is estimated as its entry).
            size: The size asked for: ``WxH`` or a tier (``1K``, ``2K``, ``4K``).
            quality: The quality asked for.
            n: The images asked for.
            provider: The provider, to prefer its own entry.
            table: Estimate with this table instead of the book's.

        Returns:
            The estimate, or ``None`` (logged once per model and reason, as
            :meth:`image_cost` does) for a model the table does not know or
            a size and quality it has no price for.

        Raises:
            ValueError: ``n`` is not a whole number of 1 or more.
        """
        images = check_images(n)
        table = table if table is not None else self.table
        resolved = self._resolve(table, model, provider, None)
        if resolved is None:
            return None
        price = resolved.price
        found = estimate_for(
            price, size, quality, images, priced_as=resolved.priced_as, version=table.version
        )
        if isinstance(found, str):
            self._warn(provider or price.provider, price.model, found, size=size, quality=quality)
            return None
        return found

    def _resolve(
        self, table: PriceTable, model: str, provider: str | None, when: datetime.date | None
    ) -> Resolved | None:
        """The entry ``model`` is priced as (warned about when unknown or retired)."""
        resolved = table.resolve(model, provider)
        if resolved is None:
            self._warn(provider, model, "model not in the price table")
            return None
        self._warned.lifecycle(resolved.price, model, when)
        return resolved

    def cost_for(self, event: Any, *, price: bool = True) -> ImageCost | Decimal | None:
        """The computed cost a sink counts for an image usage event.

        The event's ``cost``, else (when ``price``) what this book prices it
        at (:meth:`cost_of`); None when unknown. The cost a provider reported
        (in the usage) is never taken for it: sinks sum that one apart.
        """
        cost: ImageCost | Decimal | None = event.cost
        if cost is None and price:
            cost = self.cost_of(event)
        return cost

    def _warn_for(self, provider: str, _entry: Any, model: str, reason: str, **facts: Any) -> None:
        self._warn(provider, model, reason, **facts)  # the request's provider, not the entry's

    def _warn(self, provider: str | None, model: str, reason: str, **facts: Any) -> None:
        if self._warned.first(model, reason):
            named: dict[str, Any] = {"model": model, "provider": provider, "reason": reason}
            log("pricing", "warning", "price_unknown", **named, **facts)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it


_DEFAULT: Final = PriceBook()


def default_book() -> PriceBook:
    """The process default book: what is used where no ``prices=`` is given.

    The module functions (:func:`set_price`, :func:`load_prices`,
    :func:`image_cost`, :func:`cost_of`, :func:`default_table`,
    :func:`set_default_table`) act on it. It is the same object for the
    life of the process; ``default_book().reset()`` starts it over.
    """
    return _DEFAULT


def book_for(prices: PriceBook | PriceTable | None) -> PriceBook:
    """The book a ``prices=`` argument stands for.

    ``None`` is the default book and a book is itself. A bare
    :class:`PriceTable` is priced as it is, with its unknown models warned
    about once per process by the default book.
    """
    if prices is None:
        return _DEFAULT
    if isinstance(prices, PriceBook):
        return prices
    if isinstance(prices, PriceTable):
        book = PriceBook(prices)
        book._warned = _DEFAULT._warned  # warned once per process, as before books
        return book
    raise TypeError(f"prices must be a PriceBook or a PriceTable, got {prices!r}")


def default_table() -> PriceTable:
    """The default book's table: the one cost is computed with unless another is given.

    The shipped table, loaded on first use, with every runtime change applied.
    """
    return _DEFAULT.table


def set_default_table(table: PriceTable) -> PriceTable:
    """Replace the default book's table; returns the previous one."""
    return _DEFAULT.set_table(table)


load_prices = _DEFAULT.load_prices
"""Load a price file into the default book (:meth:`PriceBook.load_prices`)."""

set_price = _DEFAULT.set_price
"""Set or override one model's price in the default book (:meth:`PriceBook.set_price`)."""

image_cost = _DEFAULT.image_cost
"""The cost of one image request by the default book (:meth:`PriceBook.image_cost`)."""

cost_of = _DEFAULT.cost_of
"""The cost of the request an event describes, by the default book (:meth:`PriceBook.cost_of`)."""


def estimate(
    model: str,
    *,
    size: str | None = None,
    quality: str | None = None,
    n: int = 1,
    provider: str | None = None,
    prices: PriceBook | PriceTable | None = None,
) -> Estimate | None:
    """What a request will cost before it is sent (:meth:`PriceBook.estimate`).

    By the default book, or by ``prices`` (a book, or a table: see
    :func:`book_for`).

    >>> from aievents.pricing import PriceBook, PriceTable
    >>> book = PriceBook(PriceTable("mine", {}))
    >>> _ = book.set_price("acme-paint", provider="acme", per_image="0.04")
    >>> estimate("acme-paint", n=3, prices=book).total
    Decimal('0.12')
    """
    return book_for(prices).estimate(model, size=size, quality=quality, n=n, provider=provider)
