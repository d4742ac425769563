"""The pricing tests' price table (``fixtures/price_table.json``, format 2, prices from pricing.md).

Each test builds its table from :func:`table_data` (a fresh copy it may
change) with ``PriceTable.from_dict``: the tests never read a price back
from the table under test, they work it by hand from pricing.md's figures
(each entry's ``note`` gives them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aievents.pricing import PriceTable

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def table_data() -> dict[str, Any]:
    """A fresh copy of the test table's file content, to build or to break."""
    data: dict[str, Any] = json.loads((FIXTURES / "price_table.json").read_text())
    return data


def sample_table() -> PriceTable:
    """The test table."""
    return PriceTable.from_dict(table_data(), source="test table")
