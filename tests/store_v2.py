"""The script that wrote tests/fixtures/store_v2.sql with schema version 2.

The dump was written by the release that wrote schema version 2 (before
rows kept how they were priced), from the requests of
``reprice_data.requests``, priced with ``reprice_data.OLD``::

    PYTHONPATH=<that release>/src:tests python tests/store_v2.py tests/fixtures/store_v2.sql
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from aievents.pricing import PriceBook
from aievents.sinks import StoreSink
from reprice_data import OLD, requests


def main(out: str) -> int:
    """Write the requests into a fresh SQLite store, then its dump to ``out``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v2.db"
        store = StoreSink(f"sqlite:///{path}", prices=PriceBook(OLD))
        store.write(requests(PriceBook(OLD)))
        store.close(10)
        store.dispose()
        with sqlite3.connect(path) as db:
            version = db.execute("SELECT value FROM aievents_meta").fetchone()[0]
            assert version == "2", version
            lines = list(db.iterdump())
        db.close()
    Path(out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
