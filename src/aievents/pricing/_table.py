"""The price table: what each image model costs, with the source and date of each price.

A table is immutable; :meth:`PriceTable.with_prices` returns a new one. The
shipped table is ``prices.json`` beside this module; users load their own
file with :meth:`PriceTable.from_file` or override single models at runtime
with :func:`aievents.pricing.set_price`.

File format 2 (JSON; amounts are strings so that they stay exact)::

    {
      "format": 2,
      "version": "2026-12-01",
      "currency": "usd",
      "aliases": {"my-azure-deployment": "gpt-image-2"},
      "patterns": [{"match": "openrouter/*", "model": "*"}],
      "models": [
        {"provider": "openai", "model": "gpt-image-2", "unit": "tokens",
         "per_million_tokens": {"input_text": "5.00", "output_image": "30.00", ...},
         "per_image_estimate": [{"quality": "low", "size": "1024x1024", "price": "0.006"}],
         "released": "2026-04-21",
         "source": "...", "effective": "2026-10-01"},
        {"provider": "google", "model": "gemini-3.1-flash-image", "unit": "images",
         "per_image": [{"tier": "1K", "price": "0.067"}, {"tier": "2K", "price": "0.101"}],
         "source": "...", "effective": "2026-10-01"},
        {"provider": "fal", "model": "fal-ai/flux/dev", "unit": "megapixels",
         "per_megapixel": {"price": "0.025", "round": "up"},
         "source": "...", "effective": "2026-10-01"},
        {"provider": "openai", "model": "dall-e-3", "unit": "images",
         "per_image": [{"quality": "hd", "size": "1024x1792", "price": "0.120"}],
         "shutdown": "2026-05-12", "successor": "gpt-image-2",
         "source": "...", "effective": "2026-07-22"}
      ]
    }

An entry's ``unit`` is ``tokens`` (``per_million_tokens``, optional
``per_image_estimate`` rows and ``typical_tokens``), ``images``
(``per_image`` rows ``{price, size?, quality?, tier?}``), ``megapixels``
(``per_megapixel {price, pixels?, round?}``) or ``requests``
(``per_request``); any entry may price what a provider says it billed
(``per_billed_unit {"seconds": "0.01"}``). Lifecycle dates (``released``,
``deprecated``, ``shutdown``) and ``effective`` are ISO dates. Names: see
:mod:`aievents.pricing._names`. Format 1 files (``tokens`` and ``images``
entries, no names, ``source`` and ``effective`` optional) still load.

A file with anything wrong is refused whole (:class:`PriceTableError` naming
the file, the entry and the field); :func:`check_prices` lists every problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Final

import attrs

from aievents.exceptions import PriceTableError
from aievents.pricing._entry import ModelPrice, read_entry
from aievents.pricing._names import (
    MAX_STEPS,
    Pattern,
    Resolved,
    Via,
    check_names,
    next_name,
    read_aliases,
    read_patterns,
)
from aievents.pricing._reader import PriceProblem, Reader, Repeated

#: The file formats read; the last is the one written.
FORMATS: Final = (1, 2)
_TOP: Final = frozenset({"format", "version", "currency", "note", "models", "aliases", "patterns"})


def _as_models(models: Mapping[tuple[str, str], ModelPrice]) -> dict[tuple[str, str], ModelPrice]:
    return dict(models)


def _as_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
    return dict(aliases)


def _as_patterns(patterns: Iterable[Pattern]) -> tuple[Pattern, ...]:
    return tuple(patterns)


#: Names one table remembers resolving, at most.
_MAX_RESOLVED: Final = 4096


@attrs.frozen(slots=True)
class PriceTable:
    """An immutable set of model prices with a version, and the other names of the models.

    Attributes:
        version: Identifies the prices; a table changed at runtime gets
            ``"<version>+local.<n>"``.
        models: The entries, keyed by ``(provider, model)``.
        aliases: Exact other names: ``{name: the name it stands for}``.
        patterns: Name patterns with one ``*``, tried in order.
    """

    version: str
    models: Mapping[tuple[str, str], ModelPrice] = attrs.field(converter=_as_models)
    aliases: Mapping[str, str] = attrs.field(factory=dict, converter=_as_aliases, kw_only=True)
    patterns: tuple[Pattern, ...] = attrs.field(default=(), converter=_as_patterns, kw_only=True)
    _by_model: dict[str, ModelPrice] = attrs.field(init=False, repr=False, eq=False)
    _by_alias: dict[str, ModelPrice] = attrs.field(init=False, repr=False, eq=False)
    #: What :meth:`resolve` answered, by name and provider (the table never changes).
    _resolved: dict[tuple[str, str | None], Resolved | None] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        by_model: dict[str, ModelPrice] = {}
        by_alias: dict[str, ModelPrice] = {}
        for price in self.models.values():  # a later entry of a model name wins
            by_model[price.model] = price
            by_alias.update(dict.fromkeys(price.aliases, price))
        object.__setattr__(self, "_by_model", by_model)
        object.__setattr__(self, "_by_alias", by_alias)
        object.__setattr__(self, "_resolved", {})

    def resolve(self, name: str, provider: str | None = None) -> Resolved | None:
        """The entry that prices the model called ``name``, and how; ``None`` if none does.

        The name is looked up as it is (the provider's own entry first, then
        any provider's entry of that name, then an entry that lists it among
        its aliases); else it is mapped by one step (an exact alias, the
        first matching pattern, or a dated snapshot to its base name) and
        looked up again, at most a few times.
        """
        key = (name, provider)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        found = self._resolve(name, provider)
        if len(self._resolved) >= _MAX_RESOLVED:  # names callers made up: bounded
            self._resolved.clear()
        self._resolved[key] = found
        return found

    def _resolve(self, name: str, provider: str | None) -> Resolved | None:
        names = [name]
        via: Via | None = None
        current = name
        for _ in range(MAX_STEPS):
            price = self._entry(current, provider)
            if price is not None:
                return Resolved(price, price.model, via or "exact", tuple(names))
            price = self._by_alias.get(current)
            if price is not None:
                return Resolved(price, price.model, via or "alias", tuple(names))
            step = next_name(current, self.aliases, self.patterns)
            if step is None or step[0] in names:
                return None
            current = step[0]
            via = via or step[1]
            names.append(current)
        return None

    def _entry(self, name: str, provider: str | None) -> ModelPrice | None:
        if provider is not None:
            found = self.models.get((provider, name))
            if found is not None:
                return found
        return self._by_model.get(name)

    def lookup(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """The entry that prices ``model`` (see :meth:`resolve`), or ``None``."""
        resolved = self.resolve(model, provider)
        return None if resolved is None else resolved.price

    def with_prices(
        self, prices: Iterable[ModelPrice], *, version: str | None = None
    ) -> PriceTable:
        """A new table with ``prices`` added or replacing the same (provider, model)."""
        models = dict(self.models)
        for price in prices:
            models[(price.provider, price.model)] = price
        return PriceTable(
            version or _next_local(self.version),
            models,
            aliases=self.aliases,
            patterns=self.patterns,
        )

    def merged(self, other: PriceTable) -> PriceTable:
        """This table with ``other``'s entries, aliases and patterns added (``other``'s win).

        ``other``'s entries replace the same (provider, model); its patterns
        are tried first. A name ``other`` gives as an alias (top-level or an
        entry's) means what ``other`` says: this table's alias of that name
        is dropped, and so is this table's entry of that model name (a file
        aliasing ``dall-e-3`` to ``gpt-image-2`` prices ``dall-e-3`` as
        ``gpt-image-2``). The version is this table's, changed at runtime
        (``+local.<n>``).
        """
        names = set(other.aliases).union(*(price.aliases for price in other.models.values()))
        models = {
            key: _without_aliases(price, names)
            for key, price in self.models.items()
            if price.model not in names
        }
        matches = {pattern.match for pattern in other.patterns}
        return PriceTable(
            _next_local(self.version),
            {**models, **other.models},
            aliases={
                **{name: target for name, target in self.aliases.items() if name not in names},
                **other.aliases,
            },
            patterns=(*other.patterns, *(p for p in self.patterns if p.match not in matches)),
        )

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "price table") -> PriceTable:
        """Build a table from the file format (see the module docstring).

        Raises:
            PriceTableError: anything in ``data`` is wrong; the error names
                ``source``, the entry and the field (the first problem found:
                :func:`check_prices` lists them all).
        """
        reader = Reader()
        table = read_table(reader, data)
        reader.raise_first(source)
        assert table is not None
        return table

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> PriceTable:
        """Load a table from a JSON file in the file format.

        Raises:
            PriceTableError: the file is missing, not JSON, or malformed; the
                error names the file, the entry and the field.
        """
        return cls.from_dict(_load(path), source=str(path))


def read_table(reader: Reader, data: Any) -> PriceTable | None:
    """A table from the file format, or ``None`` (every problem noted in ``reader``)."""
    found = reader.mapping(data, "", "an object with 'version' and 'models'")
    if found is None:
        return None
    form = found.get("format", 1)
    if form not in FORMATS or isinstance(form, bool):
        reader.problem("format", form, f"must be one of {', '.join(map(str, FORMATS))}")
        return None
    if form >= 2:
        reader.keys(found, "", _TOP)
    if found.get("currency", "usd") != "usd":
        reader.problem("currency", found.get("currency"), "must be 'usd'")
    version = reader.text(found.get("version"), "version", required=True)
    models = found.get("models")
    if not isinstance(models, list):
        reader.problem("models", models, "must be a list of model prices")
        models = []
    entries: list[tuple[str, ModelPrice]] = []
    seen: dict[tuple[str, str], str] = {}
    for index, data_entry in enumerate(models):
        price = read_entry(reader, data_entry, f"models[{index}]", format=form)
        if price is None:
            continue
        path = f"models[{index}]({price.model})"
        key = (price.provider, price.model)
        if form >= 2 and key in seen:
            reader.problem(f"{path}.model", price.model, f"is priced again (first at {seen[key]})")
        seen.setdefault(key, path)
        entries.append((path, price))
    aliases = read_aliases(reader, found.get("aliases", {})) if form >= 2 else {}
    patterns = read_patterns(reader, found.get("patterns", [])) if form >= 2 else ()
    names = {
        e["model"] for e in models if isinstance(e, Mapping) and isinstance(e.get("model"), str)
    }
    check_names(reader, entries, aliases, patterns, names)
    if reader.problems or version is None:
        return None
    by_key = {(p.provider, p.model): p for _, p in entries}
    return PriceTable(version, by_key, aliases=aliases, patterns=patterns)


def _load(path: str | PathLike[str]) -> Any:
    """The JSON of a price file (objects as :class:`Repeated`, to see a key given twice)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceTableError(
            "path", str(path), f"cannot be read ({exc.strerror})", owner=str(path)
        ) from None
    try:
        return json.loads(text, object_pairs_hook=Repeated.of)
    except ValueError as exc:
        raise PriceTableError(
            "path", str(path), f"is not valid JSON ({exc})", owner=str(path)
        ) from None


def check_prices(path: str | PathLike[str]) -> list[PriceProblem]:
    """Every problem of the price file at ``path``; an empty list when it loads.

    Where :meth:`PriceTable.from_file` stops at the first problem, this goes
    on and lists each, by path (``models[3](gpt-image-2).per_image[0].price``),
    value and reason: what ``aievents prices --check FILE`` prints. A file
    that reads well is checked as it would be loaded onto the shipped
    table: an alias or a ``successor`` that names no model of either is a
    problem (:func:`unknown_names`).
    """
    try:
        data = _load(path)
    except PriceTableError as exc:
        return [PriceProblem("", exc.value, exc.reason)]
    reader = Reader()
    table = read_table(reader, data)
    if table is not None:
        return unknown_names(table, shipped_table().merged(table))
    return reader.problems


def unknown_names(table: PriceTable, within: PriceTable) -> list[PriceProblem]:
    """The names ``table`` (a file) points at that lead to no entry of ``within``.

    ``within`` is the table the file is used as: merged onto the table in
    force (where a file may name the shipped models), or alone. Each
    top-level alias's target and each entry's ``successor`` must resolve.
    """
    reader = Reader()
    for index, price in enumerate(table.models.values()):
        if price.successor is not None and within.resolve(price.successor) is None:
            where = f"models[{index}]({price.model}).successor"
            reader.problem(where, price.successor, "names no model of the table")
    for name, target in table.aliases.items():
        if within.resolve(target) is None:
            reader.problem(f"aliases.{name}", target, "names no model of the table")
    return reader.problems


def _without_aliases(price: ModelPrice, names: set[str]) -> ModelPrice:
    """``price`` without those of its aliases that are in ``names``."""
    if not names.intersection(price.aliases):
        return price
    return attrs.evolve(price, aliases=tuple(a for a in price.aliases if a not in names))


def _next_local(version: str) -> str:
    base, _, local = version.partition("+local.")
    return f"{base}+local.{int(local) + 1 if local.isdigit() else 1}"


def shipped_table() -> PriceTable:
    """The price table shipped with aievents (``prices.json``), freshly loaded."""
    text = resources.files("aievents.pricing").joinpath("prices.json").read_text("utf-8")
    data = json.loads(text, object_pairs_hook=Repeated.of)
    return PriceTable.from_dict(data, source="aievents/pricing/prices.json")
