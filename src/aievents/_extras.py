"""Optional parts and the extras that bring them: one message when one is missing.

Each optional part of aievents needs an extra (``pip install
'aievents[http]'``). When its package cannot be imported, the part raises an
:class:`ImportError` that names the extra, the same sentence everywhere::

    HttpTransport needs the 'http' extra: pip install 'aievents[http]'
    (No module named 'httpx')

and raises it before doing any work: at import for a module that cannot
work without the package, at construction (or at the start of a command)
otherwise.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_extra", "missing_extra", "require_extra"]


def missing_extra(what: str, extra: str, error: ImportError | str) -> ImportError:
    """The error saying that ``what`` needs ``extra``, with what failed to import.

    Raise it ``from None``: the sentence says all, and the original error's
    first line is in it.
    """
    if isinstance(error, str):
        error = ImportError(error)
    text = str(error).strip()
    reason = text.splitlines()[0] if text else f"cannot import {error.name}"
    return ImportError(
        f"{what} needs the {extra!r} extra: pip install 'aievents[{extra}]' ({reason})",
        name=error.name,
    )


def import_extra(module: str, what: str, extra: str) -> ModuleType:
    """Import ``module`` for ``what``, or raise :func:`missing_extra`'s error."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise missing_extra(what, extra, error) from None


def require_extra(what: str, extra: str, modules: tuple[str, ...]) -> None:
    """Import every module ``what`` needs, before any work; name ``extra`` if one is missing.

    Name only the modules ``what`` uses (not all of the extra's): a SQLite
    store needs SQLAlchemy, not the PostgreSQL driver. Which extra brings
    which distribution is pyproject.toml's to say; a test checks each call.
    """
    for module in modules:
        import_extra(module, what, extra)
