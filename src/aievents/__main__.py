"""``python -m aievents``: the same as the ``aievents`` command."""

from aievents.cli import main

raise SystemExit(main())
