"""Secrets never leave the process: scrubbing of keys and secret-looking values.

Used wherever text that aievents did not write itself (provider error
messages, event fields) is logged or forwarded.

A value is replaced when the key it sits under names a secret (the key's
words, split at case changes and separators, include ``key``, ``secret``,
``token``, ``password``, ``authorization``... but not token counts such as
``input_tokens`` nor identifiers such as ``api_key_id``), when it is the
value of a name/value pair whose name does, and, inside any text, when it
looks like a credential (API keys, bearer tokens, JWTs, passwords in URLs,
``?api_key=`` parameters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["REDACTED", "is_secret_key", "scrub", "scrub_text"]

#: What a secret is replaced by.
REDACTED: Final = "[redacted]"

_SECRET_VALUE: Final = re.compile(
    r"""
    \b(?:sk|rk|pk|xai|gsk|pplx)-[A-Za-z0-9_\-]{6,}  # provider keys: sk-, sk-proj-, xai-...
    | \bhf_[A-Za-z0-9]{10,}                       # Hugging Face tokens
    | \bgh[pousr]_[A-Za-z0-9]{16,}                # GitHub tokens
    | \bBearer\s+[A-Za-z0-9._~+/=\-]{6,}          # bearer tokens
    | \bBasic\s+[A-Za-z0-9+/=]{8,}                # basic credentials
    | \beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*  # JWTs
    | \b(?:AKIA|ASIA)[A-Z0-9]{12,}                # cloud access key ids
    | \bAIza[0-9A-Za-z_\-]{20,}                   # Google API keys
    | \bxox[abpr]-[A-Za-z0-9\-]{10,}              # Slack tokens
    | (?<=://)[^/\s:@]+:[^/\s@]+(?=@)             # user:password@ in URLs
    | (?<=[?&;])(?:api[_-]?key|key|token|access_token|secret|password|sig|signature)
      =[^&\s#]+                                   # credentials in query strings
    """,
    re.VERBOSE | re.IGNORECASE,
)
_WORD: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SECRET_WORDS: Final = frozenset(
    {
        "key",
        "apikey",
        "secret",
        "token",
        "tokens",
        "password",
        "passwd",
        "passphrase",
        "authorization",
        "auth",
        "credential",
        "credentials",
        "cookie",
        "session",
        "bearer",
        "private",
        "signature",
    }
)
#: Words of token *counts* (``input_tokens``, ``cachedTokens``...): numbers, not secrets.
_COUNT_WORDS: Final = frozenset(
    {
        "input",
        "output",
        "total",
        "text",
        "image",
        "images",
        "cached",
        "cache",
        "write",
        "prompt",
        "completion",
        "reasoning",
        "audio",
        "video",
        "document",
        "max",
        "min",
        "num",
        "tokens",
        "token",
        "count",
        "details",
    }
)
_ID_WORDS: Final = frozenset({"id", "ids"})


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(name)]


def is_secret_key(name: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``accessToken``, ``x-auth``...)."""
    words = _words(name)
    if not words or words[-1] in _ID_WORDS:
        return False  # an identifier, such as api_key_id, names no secret
    if words[-1] in {"tokens", "token"} and len(words) > 1 and set(words) <= _COUNT_WORDS:
        return False  # a token count, such as input_tokens
    joined = "".join(words)
    return bool(_SECRET_WORDS.intersection(words)) or joined in {"apikey", "xapikey"}


def scrub_text(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[redacted]``."""
    return _SECRET_VALUE.sub(REDACTED, text)


def _pair_name(item: Any) -> str | None:
    """The name of a name/value pair, when ``item`` is one."""
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
        return item[0]
    return None


def scrub(value: Any, *, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets replaced, however deep they sit.

    Mappings, lists, tuples and sets are scrubbed item by item; bytes are
    replaced whole; any other object is rendered with ``repr`` and scrubbed,
    so that no renderer can print a secret from inside it.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 20 or isinstance(value, (bytes, bytearray, memoryview)):
        return REDACTED
    if isinstance(value, Mapping):
        named = next(
            (value[k] for k in ("name", "key", "header") if isinstance(value.get(k), str)), None
        )
        hide_value = named is not None and is_secret_key(named)
        return {
            key: REDACTED
            if (isinstance(key, str) and is_secret_key(key)) or (hide_value and key == "value")
            else scrub(item, depth=depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        name = _pair_name(value)
        if name is not None and is_secret_key(name):
            return type(value)((name, REDACTED))
        return type(value)(scrub(item, depth=depth + 1) for item in value)
    if isinstance(value, (set, frozenset)):
        return [scrub(item, depth=depth + 1) for item in value]
    return scrub_text(repr(value))
