from collections.abc import Callable
from typing import Any

ABI: int
SOURCES: str
LAYOUT: dict[str, tuple[str, ...]]

class Totals:
    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> Any: ...
    def __setitem__(self, index: int, value: Any, /) -> None: ...

class Tally:
    events: int
    duplicates: int
    ticks: int
    closed: bool
    @property
    def seen(self) -> set[str]: ...
    def __init__(
        self,
        *,
        event_cls: type,
        usage_cls: type,
        cost_cls: type,
        series: dict[Any, list[Any]],
        canonical: dict[Any, Any],
        opened: list[Any],
        lock: Any,
        size: int,
        fallback: Callable[[Any, int], object],
        clock: Callable[[], float],
        retention: int,
    ) -> None: ...
    def add(self, event: Any, /) -> int: ...
    def handle(self, event: Any, /) -> None: ...
    def remember(self, request_id: str, /) -> bool: ...
    def new_entry(self) -> Totals: ...
    def invalidate(self) -> None: ...
    def __enter__(self) -> Tally: ...
    def __exit__(self, *exc: object) -> bool: ...
    def drop(self, dims: Any, /) -> None: ...

def suspect(identifier: bool, /, *values: object) -> bool: ...
def configure(starts: tuple[tuple[str, bool], ...], names: tuple[str, ...], /) -> None: ...

class Screen:
    def __init__(
        self,
        cls: type,
        texts: tuple[str, ...],
        ids: tuple[str, ...],
        *,
        numbers: tuple[str, ...] = (),
        kinds: tuple[type, ...] = (),
        nested: tuple[tuple[str, Screen], ...] = (),
        others: tuple[str, ...] = (),
    ) -> None: ...
    def check(self, obj: object, /) -> bool: ...
