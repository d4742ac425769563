"""Names of secrets: which keys hold a secret, an identifier, a digest or a count.

A key's words are split at case changes and separators (``promptTokenCount``
is ``prompt``, ``token``, ``count``). It names a secret when one of them does
(``key``, ``secret``, ``token``, ``password``, ``authorization``...), unless it
is a count (``input_tokens``, ``promptTokenCount``) or an identifier
(``api_key_id``). The same words name a secret in text, before ``=`` or ``:``
(:data:`NAME_WORDS`, with what may come before one in the same word,
:data:`NAME_PREFIXES`).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

__all__ = [
    "NAME_PREFIXES",
    "NAME_WORDS",
    "REDACTED",
    "is_identifier_key",
    "is_secret_key",
    "secret_item",
]

#: What a secret is replaced by.
REDACTED: Final = "[redacted]"
#: The words that name a secret whose value follows ``=`` or ``:`` in text, and
#: what may come before one in the same word (``apikey``, ``clientsecret``). The
#: compiled ``suspect`` is given the words too.
NAME_WORDS: Final = (
    "key", "secret", "token", "password", "passwd", "pwd", "passphrase", "authorization",
    "auth", "credential", "credentials", "cookie", "signature", "sig",
)  # fmt: skip
NAME_PREFIXES: Final = ("api", "secret", "private", "access", "client", "refresh", "auth",
                        "id", "session")  # fmt: skip

_WORD: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SECRET_WORDS: Final = frozenset({
    "key", "apikey", "secret", "token", "tokens", "password", "passwd", "passphrase",
    "authorization", "auth", "credential", "credentials", "cookie", "session", "bearer",
    "private", "signature",
})  # fmt: skip
#: Words of token *counts* (``input_tokens``, ``cachedTokens``...): numbers, not secrets.
_COUNT_WORDS: Final = frozenset({
    "input", "output", "total", "text", "image", "images", "cached", "cache", "write",
    "prompt", "completion", "reasoning", "audio", "video", "document", "max", "min", "num",
    "tokens", "token", "count", "details",
})  # fmt: skip
_ID_WORDS: Final = frozenset({"id", "ids"})
_TOKEN_WORDS: Final = frozenset({"token", "tokens"})
#: Words that make a ``token`` a credential, not a count (``access_token``).
_NAMED_TOKENS: Final = frozenset(NAME_PREFIXES)
#: Names of digests: their 32 hexadecimal digits are no key (``image_md5``, ``sha256``).
_DIGEST: Final = re.compile(r"(?i)(?:md5|sha\d*|hash|digest|checksum|etag)$")


def words(name: str) -> list[str]:
    """A key's words, lower case: split at case changes, separators and digits."""
    return [word.lower() for word in _WORD.findall(name)]


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``accessToken``, ``x-auth``...).

    Counts are not (``input_tokens``, ``promptTokenCount``, ``token_count``),
    nor identifiers (``api_key_id``). A number under a key whose only secret
    word is ``token`` or ``tokens`` is a count too (see :func:`secret_item`).
    """
    found = words(name)
    if not found or found[-1] in _ID_WORDS:
        return False  # an identifier, such as api_key_id, names no secret
    if found[-1] in {"count", "counts"}:
        return False  # a count, such as promptTokenCount
    if found[-1] in _TOKEN_WORDS and len(found) > 1 and set(found) <= _COUNT_WORDS:
        return False  # a token count, such as input_tokens
    if found[-1] == "details" and set(found) <= _COUNT_WORDS:
        return False  # the breakdown of token counts, such as input_tokens_details
    joined = "".join(found)
    return bool(_SECRET_WORDS.intersection(found)) or joined in {"apikey", "xapikey"}


@functools.lru_cache(maxsize=4096)
def token_named(name: str) -> bool:
    """Whether ``token``/``tokens`` is the only secret word of a key (a number there is a count)."""
    found = set(words(name))
    if found & _NAMED_TOKENS:
        return False  # an access token, an api token: a secret, whatever it looks like
    return bool(found & _TOKEN_WORDS) and not (found & _SECRET_WORDS) - _TOKEN_WORDS


def secret_item(key: str, value: Any) -> bool:
    """Whether the value under ``key`` is a secret: its key says so, unless it is a count."""
    if not is_secret_key(key):
        return False
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return not (is_number and token_named(key))


@functools.lru_cache(maxsize=4096)
def is_identifier_key(name: str) -> bool:
    """Whether a key names an identifier or a digest (``request_id``, ``traceId``, ``image_md5``).

    Their 32 hexadecimal digits stay; so do a W3C ``traceparent``'s.
    """
    found = words(name)
    return bool(found) and (
        found[-1] in _ID_WORDS
        or _DIGEST.search(name) is not None
        or "".join(found) == "traceparent"
    )
