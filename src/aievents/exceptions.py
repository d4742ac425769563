"""Errors raised by aievents.

Every error the library raises on purpose derives from :class:`AieventsError`
and from the builtin that matches its meaning, so ``except ValueError`` keeps
working for callers that do not know about aievents::

    AieventsError (Exception)
     '-- FieldValueError (AieventsError, ValueError)
          |     a bad value; names the field, the value and what was expected
          |-- EventValidationError
          |     a bad event, usage payload or wire message
          '-- PriceTableError
                a bad price table file or price override

Telemetry never raises into the host program on its own: these errors reach
you only from calls you make directly (building an event, parsing a wire
message, binding context), never from ``emit`` or a sink.

Messages never quote a secret nor a private field: a bad value of a private
field (the prompt, system prompts, options, model options, produced images,
a devtools payload, a whole wire message, anything under a secret-named key)
is named by its field, its type and the reason, never shown; other values
are shown scrubbed (:func:`aievents._redact.scrub_text`).
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any, Final

from aievents._redact import is_identifier_key, is_secret_key, scrub_text
from aievents._sentinel import REQUIRED

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Self
    else:
        from typing_extensions import Self

__all__ = ["AieventsError", "EventValidationError", "FieldValueError", "PriceTableError"]


class AieventsError(Exception):
    """Base class of every error aievents raises on purpose."""


class FieldValueError(AieventsError, ValueError):
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
        where = f"{self.owner}: " if self.owner else ""
        field = scrub_text(self.field)
        if self.missing:
            return f"{where}field {field!r} is required but missing"
        return f"{where}field {field!r} {self.reason}, got {_show(self.field, self.value)}"

    def retarget(self, *, field: str | None = None, owner: str | None = None) -> Self:
        """Return the same error naming another field path or owner."""
        return type(self)(
            self.field if field is None else field,
            REQUIRED if self.missing else self.value,
            self.reason,
            owner=self.owner if owner is None else owner,
        )

    def within(self, prefix: str, *, owner: str | None = None) -> Self:
        """Return the same error with its field nested under ``prefix``.

        ``EventValidationError("input_tokens", ...).within("usage")`` names
        ``usage.input_tokens``; used when a nested object fails while its
        parent is being built.
        """
        return self.retarget(field=f"{prefix}.{self.field}", owner=owner)

    def __reduce__(self) -> tuple[Any, ...]:
        value = REQUIRED if self.missing else self.value
        return (_rebuild, (type(self), self.field, value, self.reason, self.owner))


class EventValidationError(FieldValueError):
    """An event, a usage payload or a wire message is malformed.

    Raised when an event is built with a bad field, when a provider's usage
    payload cannot be read, and when a wire message cannot be parsed.
    Nothing is emitted from a half-built event.
    """


class PriceTableError(FieldValueError):
    """A price table file, or a price set at runtime, is malformed.

    The table in use is left unchanged.
    """


def _rebuild(
    cls: type[FieldValueError], field: str, value: Any, reason: str, owner: str
) -> FieldValueError:
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


def is_private(field: str) -> bool:
    """Whether the field path ``field`` (``options['api_key']``, ``outputs[0].url``) is private."""
    names = _NAMES.findall(field)
    return bool(names) and (
        names[0] in PRIVATE_FIELDS or any(is_secret_key(name) for name in names)
    )


def _show(field: str, value: Any) -> str:
    """How a bad value appears in a message: scrubbed, or only its type when private."""
    kind = type(value).__name__
    if is_private(field):
        root = _NAMES.findall(field)[0]
        return f"a value of type {kind} (not shown: {root} is private)"
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
