"""Every error aievents raises to you, in one place.

Each error derives from :class:`AieventsError` and from the builtin that
matches its meaning, so ``except ValueError`` or ``except OSError`` keeps
working for callers that do not know about aievents::

    AieventsError (Exception)
     |-- FieldValueError (ValueError)
     |    |     a bad value; names the field, the value and what was expected
     |    |-- EventValidationError
     |    |     a bad event, usage payload or wire message
     |    |-- PriceTableError
     |    |     a bad price table file or price override
     |    |-- QueryError
     |    |     a bad usage or costs query parameter
     |    '-- StoreSettingError (also a StoreError)
     |          a store URL or setting StoreSink cannot use
     |-- StoreError
     |    |     anything about a store: catch this one to catch them all
     |    |-- StoreSettingError (also a FieldValueError)
     |    '-- StoreAccessError (OSError)
     |         |     the store cannot be opened, read or written
     |         '-- StoreConnectionError (ConnectionError)
     |               the database server cannot be reached
     |-- TransportError (OSError)
     |    |     a batch could not be delivered (raised by transports,
     |    |     handled by ForwardSink)
     |    '-- UnencodableError (also a ValueError)
     |          events of a batch cannot be encoded
     '-- EventFileError (OSError)
           the ``aievents`` command could not read a file of events

Misuse of an API (an argument of the wrong type, a numeric setting out of
range, a handler that is not callable) is the builtin ``TypeError`` or
``ValueError`` itself, raised where the call was made.

Telemetry never raises into the host program on its own: these errors reach
you only from calls you make directly (building an event, parsing a wire
message, binding context, making a sink, querying a store), never from
``emit`` or a sink's ``handle``.

Messages never quote a secret nor a private field: a bad value of a private
field (the prompt, system prompts, options, model options, produced images,
a devtools payload, a whole wire message, anything under a secret-named key)
is named by its field, its type and the reason, never shown; other values
are shown scrubbed (:func:`aievents._redact.scrub_text`). A store's URL is
shown without its password.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from aievents._redact import is_identifier_key, is_secret_key, scrub_text, token_named
from aievents._sentinel import REQUIRED

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Self
    else:
        from typing_extensions import Self

    from aievents.events import BaseEvent

__all__ = [
    "AieventsError",
    "EventFileError",
    "EventValidationError",
    "FieldValueError",
    "PriceTableError",
    "QueryError",
    "StoreAccessError",
    "StoreConnectionError",
    "StoreError",
    "StoreSettingError",
    "TransportError",
    "UnencodableError",
]


class AieventsError(Exception):
    """Base class of every error aievents raises on purpose."""


#: The attributes of a field error its constructor sets.
_FACTS: Final = frozenset({"field", "value", "reason", "owner", "missing"})


class _FieldError(AieventsError):
    """An error about one field: its path, its value and what was expected.

    The message says which field was wrong, what it held and what was
    expected; the same facts are attributes (see :class:`FieldValueError`).
    """

    field: str
    value: Any
    reason: str
    owner: str
    missing: bool

    def __init__(self, field: str, value: Any, reason: str, *, owner: str = "") -> None:
        self.field = field
        self.missing = value is REQUIRED
        self.value = None if self.missing else value
        self.reason = reason
        self.owner = owner
        super().__init__(self._render())

    def _render(self) -> str:
        # Each part may hold a name that looks like a key: a file's path, an alias.
        where = f"{scrub_text(self.owner)}: " if self.owner else ""
        field = scrub_text(self.field)
        if self.missing:
            return f"{where}field {field!r} is required but missing"
        return f"{where}field {field!r} {scrub_text(self.reason)}, got {self._show_value()}"

    def _show_value(self) -> str:
        """The bad value as the message shows it (its type alone when private)."""
        return _show(self.field, self.value, _private_part(self.field))

    def retarget(self, *, field: str | None = None, owner: str | None = None) -> Self:
        """Return the same error naming another field path or owner."""
        clone = type(self)(
            self.field if field is None else field,
            REQUIRED if self.missing else self.value,
            self.reason,
            owner=self.owner if owner is None else owner,
        )
        # What a subclass adds (a StoreError's transient, notes) stays the same.
        clone.__dict__.update(
            (key, value) for key, value in self.__dict__.items() if key not in _FACTS
        )
        return clone

    def within(self, prefix: str, *, owner: str | None = None) -> Self:
        """Return the same error with its field nested under ``prefix``.

        ``EventValidationError("input_tokens", ...).within("usage")`` names
        ``usage.input_tokens``; used when a nested object fails while its
        parent is being built.
        """
        return self.retarget(field=f"{prefix}.{self.field}", owner=owner)

    def __reduce__(self) -> tuple[Any, ...]:
        value = REQUIRED if self.missing else self.value
        args = (type(self), self.field, value, self.reason, self.owner)
        return (_rebuild, args, dict(self.__dict__))


class FieldValueError(_FieldError, ValueError):
    """A value aievents was given is wrong; the base of the field errors.

    The message says which field was wrong, what it held and what was expected.
    The same facts are attributes, so code can act on them.

    Attributes:
        field: Dotted path of the offending field, for example
            ``"usage.input_tokens"`` or ``"timestamp"``.
        value: The offending value (``None`` when the field was missing).
        missing: Whether the field was required and not given.
        reason: What was expected, in words.
        owner: What was being built: an event type such as
            ``"image:usage"``, a class name such as ``"ImageUsage"``, or a
            provider shape such as ``"openai usage"``.
    """


class EventValidationError(FieldValueError):
    """An event, a usage payload or a wire message is malformed.

    Raised when an event is built with a bad field, when a provider's usage
    payload cannot be read, and when a wire message cannot be parsed.
    Nothing is emitted from a half-built event.
    """


class PriceTableError(FieldValueError):
    """A price table file, or a price set at runtime, is malformed.

    The table in use is left unchanged. A value is hidden only when the
    field's own name (the last of its path) names a secret: a rate of
    ``per_million_tokens`` is a price, and a model named in the path
    (``models[2](acme-secret-sauce)``) says nothing of its fields.
    """

    def _show_value(self) -> str:
        return _show(self.field, self.value, _private_leaf(self.field))


class QueryError(FieldValueError):
    """A usage or costs query parameter is wrong; the error names it."""


class StoreError(_FieldError):
    """Anything about a store (:class:`~aievents.StoreSink`): catch this to catch all.

    ``field`` and ``value`` say what was wrong. For a store that cannot be
    reached, read or written, ``field`` is ``url`` and ``value`` the store's
    URL without its password; the message says what went wrong (the
    database's own words, without the password). What is raised is one of
    :class:`StoreSettingError` (a ``ValueError``) or
    :class:`StoreAccessError` (an ``OSError``).

    Attributes:
        transient: Whether the cause may pass by itself (a lock held by
            another writer, events still being written, the store being
            set up again, a server that does not answer): asking again
            later may succeed.
    """

    transient: bool

    def __init__(
        self, field: str, value: Any, reason: str, *, owner: str = "", transient: bool = False
    ) -> None:
        self.transient = transient
        super().__init__(field, value, reason, owner=owner)


class StoreSettingError(StoreError, FieldValueError):
    """A store's URL or setting is one StoreSink cannot use; retrying will not help.

    A URL that is not a database URL, a driver StoreSink does not use (it
    uses SQLite, and PostgreSQL through psycopg 3), a port that is not a
    number.
    """


class StoreAccessError(StoreError, OSError):
    """A store cannot be opened, read or written.

    A SQLite file that cannot be opened or is not a database, a store that
    is not there (``create=False``), tables of a newer version, a lock held
    past ``busy_timeout``, events not yet written or given up within a
    query's window. ``transient`` says whether asking again later may
    succeed.
    """


class StoreConnectionError(StoreAccessError, ConnectionError):
    """The database server cannot be reached (refused, unreachable, gone): ``transient``."""


class TransportError(AieventsError, OSError):
    """A batch could not be delivered.

    Raised by a transport's ``send`` and handled by
    :class:`~aievents.ForwardSink` (it retries, spills or counts); it reaches
    your code only when you call a transport yourself.

    Attributes:
        retryable: Whether sending the same batch again may succeed (a
            timeout, a refused connection, an HTTP status of
            :data:`~aievents.policy.RETRYABLE_STATUSES`).
        retry_after: Seconds the target asked to wait before a retry, if it
            said (``Retry-After``).
        status: The HTTP status, for HTTP transports.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class UnencodableError(TransportError, ValueError):
    """Events of a batch cannot be encoded; nothing of the batch was sent.

    A sink takes them out (counting them as dropped, ``unencodable``) and
    sends the rest.

    Attributes:
        events: The events that cannot be encoded.
        reasons: Why, one line each (the error's type and first line,
            scrubbed; never a value of the event).
    """

    def __init__(self, events: Sequence[BaseEvent], reasons: Sequence[str]) -> None:
        first = reasons[0] if reasons else "unknown"
        super().__init__(f"{len(events)} event(s) cannot be encoded: {first}", retryable=False)
        self.events = list(events)
        self.reasons = list(reasons)


class EventFileError(AieventsError, OSError):
    """The ``aievents`` command could not read a file of events, or not all of it.

    Attributes:
        partial: The events read before the problem were used all the same.
    """

    def __init__(self, message: str, *, partial: bool = False) -> None:
        super().__init__(message)
        self.partial = partial


def _rebuild(
    cls: type[_FieldError], field: str, value: Any, reason: str, owner: str
) -> _FieldError:
    return cls(field, value, reason, owner=owner)


#: Fields whose values are private: an error names them, never shows them.
PRIVATE_FIELDS: Final = frozenset(
    {
        "prompt",
        "system_prompts",
        "systemPrompts",
        "options",
        "model_options",
        "modelOptions",
        "outputs",
        "revised_prompt",
        "revisedPrompt",
        "b64_json",
        "b64Json",
        "payload",
        "json",
    }
)
_NAMES: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
#: The model name a price table path shows after an entry: ``models[2](gpt-image-2)``.
_ENTRY_NAME: Final = re.compile(r"\([^)]*\)")


def is_private(field: str) -> bool:
    """Whether the field path ``field`` (``options['api_key']``, ``outputs[0].url``) is private."""
    names = _NAMES.findall(field)
    return bool(names) and (
        names[0] in PRIVATE_FIELDS or any(is_secret_key(name) for name in names)
    )


def _private_part(field: str) -> str | None:
    """The name that makes the field path ``field`` private (its root or a secret key), if any."""
    names = _NAMES.findall(field)
    return names[0] if names and is_private(field) else None


def _private_leaf(field: str) -> str | None:
    """A price table path's own name, when it names a secret (a token rate does not)."""
    names = _NAMES.findall(_ENTRY_NAME.sub("", field))
    leaf = names[-1] if names else ""
    return leaf if is_secret_key(leaf) and not token_named(leaf) else None


def _show(field: str, value: Any, private: str | None) -> str:
    """How a bad value appears in a message: scrubbed, or only its type when ``private``."""
    kind = type(value).__name__
    if private is not None:
        return f"a value of type {kind} (not shown: {private} is private)"
    names = _NAMES.findall(field)
    try:
        text = repr(value)
    except ValueError:  # an int too long to write as text
        text = f"<{value.bit_length()}-bit integer>" if isinstance(value, int) else f"<{kind}>"
    text = scrub_text(text, identifier=bool(names) and is_identifier_key(names[-1]))
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({kind})"


def message(error: BaseException) -> str:
    """An error's whole message, for a reader that shows it escaped on one line.

    A line break (in a file name, say) is part of the message, not its end.
    A wrapped driver error (SQLAlchemy's ``orig``) gives its own message,
    without the statement that ran; an empty message gives the class name.
    """
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text or type(error).__name__


def first_line(error: BaseException) -> str:
    """An error's first line (of :func:`message`), for a log line's summary."""
    return message(error).splitlines()[0]
