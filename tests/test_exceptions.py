"""Every error aievents raises: one module, one tree, each from the builtin that fits."""

from __future__ import annotations

import importlib
import pickle
import re
from pathlib import Path

import pytest

import aievents
from aievents import exceptions as errors

ROOT = Path(__file__).resolve().parent.parent

#: Each error, and the builtins (besides AieventsError) it is and is not.
TREE = [
    (errors.FieldValueError, (ValueError,), (OSError,)),
    (errors.EventValidationError, (errors.FieldValueError, ValueError), (OSError,)),
    (errors.PriceTableError, (errors.FieldValueError, ValueError), (OSError,)),
    (errors.QueryError, (errors.FieldValueError, ValueError), (OSError,)),
    (errors.StoreError, (), (ValueError, OSError)),
    (errors.StoreSettingError, (errors.StoreError, errors.FieldValueError, ValueError), (OSError,)),
    (errors.StoreAccessError, (errors.StoreError, OSError), (ValueError, ConnectionError)),
    (
        errors.StoreConnectionError,
        (errors.StoreAccessError, errors.StoreError, ConnectionError),
        (ValueError,),
    ),
    (errors.TransportError, (OSError,), (ValueError,)),
    (errors.UnencodableError, (errors.TransportError, OSError, ValueError), ()),
    (errors.EventFileError, (OSError,), (ValueError,)),
]

#: Where each error was importable from before it lived in aievents.exceptions.
OLD_HOMES = [
    ("aievents.query", "QueryError"),
    ("aievents.sinks.store", "StoreError"),
    ("aievents.transports", "TransportError"),
    ("aievents.transports", "UnencodableError"),
    ("aievents.cli._eventfile", "EventFileError"),
]


class TestTree:
    """The errors form the tree the module docstring and the API reference draw."""

    @pytest.mark.parametrize(("error", "bases", "not_bases"), TREE)
    def test_builtins(
        self,
        error: type[Exception],
        bases: tuple[type[Exception], ...],
        not_bases: tuple[type[Exception], ...],
    ) -> None:
        """Each error is an AieventsError and the builtins that fit it, and no other."""
        assert issubclass(error, errors.AieventsError)
        for base in bases:
            assert issubclass(error, base), (error, base)
        for base in not_bases:
            assert not issubclass(error, base), (error, base)

    def test_all_listed(self) -> None:
        """Every error class of the module is in its __all__, in the tree and exported."""
        classes = {
            name
            for name, value in vars(errors).items()
            if isinstance(value, type) and issubclass(value, Exception) and not name.startswith("_")
        }
        assert classes == set(errors.__all__)
        assert {error.__name__ for error, _, _ in TREE} | {"AieventsError"} == classes
        for name in classes:
            assert getattr(aievents, name) is getattr(errors, name)
            assert name in aievents.__all__

    @pytest.mark.parametrize(
        "text",
        [
            errors.__doc__ or "",
            (ROOT / "docs" / "reference" / "api.md").read_text(),
        ],
        ids=["docstring", "api.md"],
    )
    def test_drawn(self, text: str) -> None:
        """The tree names every error, each with its builtin."""
        for name in errors.__all__:
            assert re.search(rf"[-'] {name}\b", text) or name == "AieventsError", name
        for drawn in ("StoreAccessError (OSError)", "StoreConnectionError (ConnectionError)"):
            assert drawn in text

    @pytest.mark.parametrize(("module", "name"), OLD_HOMES)
    def test_old_homes(self, module: str, name: str) -> None:
        """An error is still importable from where it was, as the same class."""
        assert getattr(importlib.import_module(module), name) is getattr(errors, name)

    def test_no_error_defined_elsewhere(self) -> None:
        """No module but aievents.exceptions defines a public error class."""
        defined = re.compile(r"^class ([A-Z]\w*(?:Error|Exception))\b", re.M)
        found = {
            f"{path.relative_to(ROOT / 'src')}: {name}"
            for path in (ROOT / "src" / "aievents").rglob("*.py")
            if path.name != "exceptions.py"
            for name in defined.findall(path.read_text())
        }
        # Internal control flow of private modules: caught there, never raised to users.
        private = {
            "aievents/sinks/_sqlitefile.py: GateTimeoutError",
            "aievents/sinks/_storeurl.py: RefusedError",
            "aievents/sinks/_spill.py: PartialWriteError",
            "aievents/_files.py: ShortWriteError",
            "aievents/serve/_params.py: ParamError",
            "aievents/_isotime.py: NotATimeError",
        }
        assert found <= private


class TestStoreErrors:
    """A store's bad URL is a ValueError; an unreachable or failing one an OSError."""

    def test_unreachable_postgres(self) -> None:
        """No server on the port: a ConnectionError, transient, without the password."""
        with pytest.raises(ConnectionError) as caught:
            aievents.StoreSink("postgresql://bob:hunter2secret@127.0.0.1:1/usage")
        error = caught.value
        assert isinstance(error, errors.StoreConnectionError)
        assert not isinstance(error, ValueError)
        assert error.transient
        assert error.field == "url"
        assert "hunter2secret" not in str(error)

    @pytest.mark.parametrize(
        "url",
        ["mysql://bob@127.0.0.1/x", "not a url", "postgresql://bob@127.0.0.1:abc/x"],
    )
    def test_bad_url(self, url: str) -> None:
        """A URL StoreSink cannot use: a ValueError (a FieldValueError), never transient."""
        with pytest.raises(ValueError, match="field 'url'") as caught:
            aievents.StoreSink(url)
        error = caught.value
        assert isinstance(error, errors.StoreSettingError)
        assert isinstance(error, errors.FieldValueError)
        assert not isinstance(error, OSError)
        assert not error.transient

    def test_missing_store(self, tmp_path: Path) -> None:
        """create=False and no file: an OSError that is not a ConnectionError."""
        with pytest.raises(OSError, match="names no store") as caught:
            aievents.StoreSink(f"sqlite:///{tmp_path / 'none.db'}", create=False)
        error = caught.value
        assert isinstance(error, errors.StoreAccessError)
        assert not isinstance(error, (ValueError, ConnectionError))
        assert not list(tmp_path.iterdir())

    @pytest.mark.parametrize(
        "url", ["postgresql://bob@127.0.0.1:1/usage", "mysql://bob@127.0.0.1/x"]
    )
    def test_one_catch_all(self, url: str) -> None:
        """``except errors.StoreError`` catches them all."""
        with pytest.raises(errors.StoreError):
            aievents.StoreSink(url)

    def test_pickled(self) -> None:
        """A store error keeps its facts through pickle (a multiprocessing child's error)."""
        error = errors.StoreConnectionError(
            "url", "postgresql://db/x", "cannot be opened", owner="StoreSink", transient=True
        )
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is errors.StoreConnectionError
        assert (again.field, again.value, again.reason, again.transient) == (
            "url",
            "postgresql://db/x",
            "cannot be opened",
            True,
        )
        assert str(again) == str(error)

    def test_retarget_keeps_transient(self) -> None:
        """Renaming the field keeps what the error adds (transient)."""
        error = errors.StoreAccessError("url", "x", "is busy", transient=True)
        assert error.retarget(field="store").transient


class TestTransportErrors:
    """A delivery failure is an OSError; an event that cannot be encoded also a ValueError."""

    def test_jsonl_into_a_directory(self, tmp_path: Path) -> None:
        """A JSONL file that cannot be written: a errors.TransportError, an OSError."""
        from aievents.transports.jsonl import JsonlTransport

        from helpers import usage_event

        (tmp_path / "events.jsonl").mkdir()
        transport = JsonlTransport(tmp_path / "events.jsonl")
        with pytest.raises(OSError, match="cannot write") as caught:
            transport.send([usage_event()])
        assert isinstance(caught.value, errors.TransportError)
        transport.close()

    def test_unencodable(self) -> None:
        """UnencodableError is what a sink catches as a errors.TransportError and a ValueError."""
        from helpers import usage_event

        event = usage_event()
        error = errors.UnencodableError([event], ["image:usage: TypeError: not JSON"])
        assert isinstance(error, errors.TransportError)
        assert isinstance(error, ValueError)
        assert not error.retryable
        assert error.events == [event]
