"""The script that wrote tests/fixtures/store_v2.db, a SQLite store of schema version 2.

The file was written by the release that wrote schema version 2 (before
rows kept how they were priced), from the requests of
``reprice_data.requests``, priced with ``reprice_data.OLD``::

    PYTHONPATH=<that release>/src:tests python tests/store_v2.py tests/fixtures/store_v2.db
"""

from __future__ import annotations

import sqlite3
import sys

from aievents.pricing import PriceBook
from aievents.sinks import StoreSink
from reprice_data import OLD, requests


def main(out: str) -> int:
    """Write the requests into a fresh SQLite store at ``out`` (its last connection closed)."""
    book = PriceBook(OLD)
    store = StoreSink(f"sqlite:///{out}", prices=book)
    store.write(requests(book))
    store.close(10)
    store.dispose()  # the last connection: the write-ahead log is folded into the file
    found = sqlite3.connect(out).execute("SELECT value FROM aievents_meta").fetchone()
    assert found == ("2",), found
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
