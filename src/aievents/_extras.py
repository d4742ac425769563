"""Optional parts and the extras that bring them: one message when one is missing.

Each optional part of aievents needs an extra. When its package cannot be
imported, the part raises an :class:`ImportError` that names the extra and
the command that adds it to this installation, the same sentence everywhere::

    HttpTransport needs the 'http' extra: pip install '/src/aievents[http]'
    (No module named 'httpx')

and raises it before doing any work: at import for a module that cannot
work without the package, at construction (or at the start of a command)
otherwise.

The command names what aievents was installed from (pip records it): the
clone's folder, or the wheel file; ``-e`` when it was installed editable.
Run from a clone's ``src`` without installing, it names the clone. Failing
both, it says ``pip install 'aievents[http]'``.
"""

from __future__ import annotations

import importlib
import json
import shlex
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

__all__ = ["import_extra", "install_command", "missing_extra", "require_extra"]


def _installed_from() -> tuple[str, bool] | None:
    """The local folder or file aievents was installed from, and whether editable."""
    from importlib import metadata  # noqa: PLC0415 - only when an extra is missing

    try:
        text = metadata.distribution("aievents").read_text("direct_url.json")
        record = json.loads(text) if text else None
    except (OSError, ValueError, metadata.PackageNotFoundError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("url"), str):
        return None
    url = urlsplit(record["url"])
    if url.scheme != "file":  # a VCS or web address: not repeated (it may hold a token)
        return None
    dir_info = record.get("dir_info")
    editable = isinstance(dir_info, dict) and dir_info.get("editable") is True
    from urllib.request import url2pathname  # noqa: PLC0415 - only when an extra is missing

    return url2pathname(url.path), editable


def install_command(extra: str) -> str:
    """The pip command that adds ``extra`` to this installation of aievents."""
    found = _installed_from()
    if found is None:
        clone = Path(__file__).resolve().parent.parent.parent
        if (clone / "pyproject.toml").is_file() and (clone / "src" / "aievents").is_dir():
            found = (str(clone), False)
    if found is None:
        return f"pip install 'aievents[{extra}]'"
    where, editable = found
    return f"pip install {'-e ' if editable else ''}{shlex.quote(f'{where}[{extra}]')}"


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
        f"{what} needs the {extra!r} extra: {install_command(extra)} ({reason})",
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
