"""Other names of priced models: exact aliases, patterns and dated snapshots.

A table maps a name to the entry that prices it in steps, each name looked
up again until an entry is found (:meth:`aievents.pricing.PriceTable.resolve`):

1. an entry of that model name (the provider's own first), or one that lists
   the name among its ``aliases``;
2. else a top-level exact alias (``{"my-deployment": "gpt-image-2"}``; a
   target may itself be an alias);
3. else the first pattern that matches (``{"match": "openrouter/*", "model": "*"}``:
   ``openrouter/google/gemini-3-pro-image`` is looked up as
   ``google/gemini-3-pro-image``);
4. else, for a name that ends in a real date (``gpt-image-2-2026-04-21``,
   ``-20260421``, or a month and day: ``-0613``), the name without it.

A file whose names could lead two ways is refused: the same alias to two
targets, an alias that is also a model name, two patterns that can match
one name, aliases in a cycle (:func:`read_names`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from aievents.pricing._entry import ModelPrice
from aievents.pricing._reader import Reader

Via = Literal["exact", "alias", "pattern", "snapshot"]

#: A dated snapshot suffix: -2026-04-21, -20260421 or -0613 (month and day);
#: :func:`snapshot_base` accepts it only when it is a real date.
SNAPSHOT: Final = re.compile(r"-(?:(\d{4})-(\d{2})-(\d{2})|(\d{4})(\d{2})(\d{2})|(\d{2})(\d{2}))$")
#: The year a month-and-day suffix is read in: a leap year, so that -0229 is a date.
_LEAP_YEAR: Final = 2000
_PATTERN_FIELDS: Final = frozenset({"match", "model"})
#: The most names one lookup goes through (a chain of aliases and patterns).
MAX_STEPS: Final = 16


@attrs.frozen(slots=True)
class Pattern:
    """A name pattern with one ``*``, and the name it stands for.

    Attributes:
        match: The names it matches: ``openrouter/*``, ``fal-ai/*``, ``*-azure``.
        model: The name looked up instead; a ``*`` in it is what the match's
            ``*`` matched (``"*"`` is that part alone).
    """

    match: str
    model: str

    def apply(self, name: str) -> str | None:
        """The name ``name`` stands for, or ``None`` when it does not match."""
        head, _, tail = self.match.partition("*")
        if len(name) <= len(head) + len(tail) or not name.startswith(head):
            return None
        if not name.endswith(tail):
            return None
        middle = name[len(head) : len(name) - len(tail)]
        return self.model.replace("*", middle, 1)

    def loops(self) -> bool:
        """Whether every name it gives matches it again, so that it never leads anywhere.

        ``gw/*`` to ``gw/*`` (or ``gw/v2/*``) maps each name to one it maps
        again; so does a fixed ``model`` that the match itself matches.
        ``openrouter/*`` to ``*`` does not: its answers shrink.
        """
        if "*" not in self.model:
            return self.apply(self.model) is not None
        head, _, tail = self.match.partition("*")
        before, _, after = self.model.partition("*")
        return before.startswith(head) and after.endswith(tail)

    def overlaps(self, other: Pattern) -> bool:
        """Whether some name matches both patterns.

        With one ``*`` each, a long enough name starts with both heads and
        ends with both tails exactly when one head starts the other and one
        tail ends the other.
        """
        head, _, tail = self.match.partition("*")
        other_head, _, other_tail = other.match.partition("*")
        heads = head.startswith(other_head) or other_head.startswith(head)
        tails = tail.endswith(other_tail) or other_tail.endswith(tail)
        return heads and tails


@attrs.frozen(slots=True)
class Resolved:
    """The entry that prices a name, and how the name led to it.

    Attributes:
        price: The entry.
        priced_as: The entry's model name (what the cost says it was priced as).
        via: ``exact`` (the entry's own name), ``alias`` (an exact alias),
            ``pattern`` or ``snapshot``: the first step taken from the name asked.
        names: Every name looked up on the way, the one asked first.
    """

    price: ModelPrice
    priced_as: str
    via: Via
    names: tuple[str, ...] = ()


def read_aliases(reader: Reader, data: Any) -> dict[str, str]:
    """The top-level ``aliases`` ``{name: target}`` (problems noted)."""
    found = reader.mapping(data, "aliases", "an object of {name: model name}")
    aliases: dict[str, str] = {}
    for name, target in (found or {}).items():
        if (text := reader.text(target, f"aliases.{name}", required=True)) is not None:
            if name:
                aliases[name] = text
            else:
                reader.problem("aliases", name, "has an empty name")
    return aliases


def read_patterns(reader: Reader, data: Any) -> tuple[Pattern, ...]:
    """The ``patterns`` ``[{match, model}]`` (problems noted)."""
    if not isinstance(data, list):
        reader.problem("patterns", data, "must be a list of {match, model}")
        return ()
    patterns: list[Pattern] = []
    for index, row in enumerate(data):
        path = f"patterns[{index}]"
        found = reader.record(row, path, "an object {match, model}", _PATTERN_FIELDS)
        if found is None:
            continue
        match = reader.text(found.get("match"), f"{path}.match", required=True)
        model = reader.text(found.get("model"), f"{path}.model", required=True)
        if match is not None and match.count("*") != 1:
            reader.problem(f"{path}.match", match, "must hold exactly one '*'")
            match = None
        if model is not None and model.count("*") > 1:
            reader.problem(f"{path}.model", model, "must hold at most one '*'")
            model = None
        if match is not None and model is not None:
            pattern = Pattern(match, model)
            if pattern.loops():
                reader.problem(f"{path}.model", model, f"gives names that {match!r} matches again")
            else:
                patterns.append(pattern)
    return tuple(patterns)


def check_names(
    reader: Reader,
    entries: Sequence[tuple[str, ModelPrice]],
    aliases: Mapping[str, str],
    patterns: Sequence[Pattern],
    models: set[str],
) -> None:
    """Note every way the names of a file could lead two ways or round in a circle.

    Args:
        reader: Where the problems go.
        entries: The entries with their paths (``models[3](gpt-image-2)``).
        aliases: The top-level exact aliases.
        patterns: The patterns, in order.
        models: Every model name of the file (of malformed entries too).
    """
    owner: dict[str, tuple[str, str]] = {}  # alias -> (path, target model)
    for path, price in entries:
        for index, name in enumerate(price.aliases):
            where = f"{path}.aliases[{index}]"
            if name in models:
                reader.problem(where, name, "is the name of a model")
            elif name in owner and owner[name][1] != price.model:
                reader.problem(where, name, f"is also an alias at {owner[name][0]}")
            else:
                owner[name] = (where, price.model)
    for name, target in aliases.items():
        where = f"aliases.{name}"
        if name in models:
            reader.problem(where, target, f"aliases {name!r}, the name of a model")
        elif name in owner and owner[name][1] != target:
            reader.problem(where, target, f"gives {name!r} a second target ({owner[name][0]})")
        elif (cycle := _cycle(name, aliases)) is not None:
            reader.problem(where, target, f"is in a cycle of aliases: {' -> '.join(cycle)}")
    for index, pattern in enumerate(patterns):
        for earlier, other in enumerate(patterns[:index]):
            if pattern.overlaps(other):
                reader.problem(
                    f"patterns[{index}].match",
                    pattern.match,
                    f"can match the same names as patterns[{earlier}] ({other.match!r})",
                )


def _cycle(name: str, aliases: Mapping[str, str]) -> list[str] | None:
    """The aliases from ``name`` back to itself, if following them comes back."""
    chain = [name]
    current = aliases.get(name)
    while current is not None:
        chain.append(current)
        if current == name:
            return chain
        if current in chain[:-1]:
            return None  # a cycle further on: reported from its own names
        current = aliases.get(current)
    return None


def next_name(
    name: str, aliases: Mapping[str, str], patterns: Sequence[Pattern]
) -> tuple[str, Via] | None:
    """The name ``name`` stands for by one step (alias, pattern, snapshot), if any."""
    target = aliases.get(name)
    if target is not None:
        return target, "alias"
    for pattern in patterns:
        target = pattern.apply(name)
        if target is not None:
            return target, "pattern"
    base = snapshot_base(name)
    if base is not None:
        return base, "snapshot"
    return None


def snapshot_base(name: str) -> str | None:
    """``name`` without its snapshot date, or ``None`` when it does not end in one.

    ``gpt-image-2-2026-04-21``, ``...-20260421`` and ``gpt-4-0613`` (a month
    and a day) are snapshots; a suffix that is not a real date is part of
    the name: ``gpt-image-2-1536``, ``dall-e-3-1024``, ``sd3.5-large-2024``.
    """
    found = SNAPSHOT.search(name)
    if found is None or found.start() == 0:
        return None
    parts = [int(part) for part in found.groups() if part is not None]
    if len(parts) == 2:  # -MMDD
        parts.insert(0, _LEAP_YEAR)
    try:
        datetime.date(*parts)
    except ValueError:
        return None
    return name[: found.start()]
