"""Secrets never leave the process: the one scrubbing policy of every output.

Log lines, forwarded bodies (HTTP, OTLP, JSONL, devtools), spill files, the
store, exception messages and reprs all go through these functions (the
events through :func:`aievents._outbound.outbound`, which applies them).

A value is replaced by ``[redacted]`` when:

- the key it sits under names a secret (the key's words, split at case
  changes and separators, include ``key``, ``secret``, ``token``,
  ``password``, ``authorization``... but not token counts such as
  ``input_tokens`` nor identifiers such as ``api_key_id``), or it is the
  value of a name/value pair whose name does;
- inside any text, it looks like a credential: provider API keys, bearer
  and basic credentials, JWTs, cloud and chat tokens, the value after a
  secret-named ``name=`` or ``name:`` (``?api_key=...``, ``Authorization:
  Bearer ...``, ``'password': '...'``), a word of exactly 32 hexadecimal
  digits (an Azure key) except in identifiers (values under keys ending in
  ``id``, whose 32-digit request, trace and event ids are kept), and, in a
  URL, its user info (a password may hold ``@``) and every path segment that
  is not a plain lowercase word (a webhook's token, an id: see
  :func:`safe_url`).

Scanning text with the regular expression costs microseconds; the compiled
``aievents._speedups.suspect`` tells first, in one pass, whether a text may
hold a secret at all (it never misses one the expression would find: a test
holds it to that), so that clean text costs next to nothing.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from aievents._compiled import speedups

__all__ = [
    "REDACTED",
    "UrlParts",
    "is_identifier_key",
    "is_secret_key",
    "masked_url",
    "safe_repr",
    "safe_url",
    "scrub",
    "scrub_text",
    "split_url",
    "suspect",
    "url_secrets",
]

#: What a secret is replaced by.
REDACTED: Final = "[redacted]"

#: Names whose value, after ``=`` or ``:``, is a secret in text.
_NAMES: Final = (
    r"(?:(?:api|secret|private|access)?key|(?:client)?secret"
    r"|(?:access|refresh|auth|id|session)?token|passw(?:or)?d|pwd|passphrase"
    r"|authorization|auth|credentials?|cookie|signature|sig)"
)
#: A URL: scheme, ``://``, up to a space or a quote (not its closing punctuation).
_URL: Final = r"(?P<url>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]*[^\s\"'<>.,;:!?)\]}])"
#: A secret name, with what may come before it (``x-api-key``, ``client_secret``).
_NAME: Final = rf"(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_\-])*{_NAMES}"
_PATTERNS: Final = (
    _URL,
    r"\b(?:sk|rk|pk|xai|gsk|pplx)-[A-Za-z0-9_\-]{6,}",  # provider keys: sk-, sk-proj-, xai-...
    r"\bhf_[A-Za-z0-9]{10,}",  # Hugging Face tokens
    r"\bgh[pousr]_[A-Za-z0-9]{16,}",  # GitHub tokens
    r"\bBearer\s+[A-Za-z0-9._~+/=\-]{6,}",  # bearer tokens
    r"\bBasic\s+[A-Za-z0-9+/=]{8,}",  # basic credentials
    r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",  # JWTs
    r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}",  # cloud access key ids
    r"\bAIza[0-9A-Za-z_\-]{20,}",  # Google API keys
    r"\bxox[abpr]-[A-Za-z0-9\-]{10,}",  # Slack tokens
    # The value of a secret name (the name is kept), as text and reprs show it:
    # name=value, name: value, 'name': 'value', ('name', 'value'),
    # {'name': 'name', 'value': 'value'}; a quoted value goes up to its quote.
    rf"(?P<name>(?:[\"'](?:name|key|header)[\"']\s*:\s*[\"']{_NAME}[\"']\s*,\s*"
    rf"[\"']value[\"']\s*:\s*[\"']|{_NAME}(?:[\"']?\s*[:=]\s*[\"']?|[\"']\s*,\s*[\"'])))"
    r"(?!\[redacted\]|\*\*\*)(?:(?<=[\"'])[^\"']+|(?:(?:Bearer|Basic|Token)\s+)?[^\s\"',;&)}\]]+)",
)
#: A word of exactly 32 hexadecimal digits (not all decimal): an Azure key.
_HEX_KEY: Final = r"\b(?![0-9]{32}\b)[0-9a-f]{32}\b"
_FLAGS: Final = re.IGNORECASE
#: Every pattern: for text.
_SECRET_VALUE: Final = re.compile("|".join((*_PATTERNS, _HEX_KEY)), _FLAGS)
#: Every pattern but the 32-digit one: for identifiers.
_SECRET_IN_ID: Final = re.compile("|".join(_PATTERNS), _FLAGS)

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


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``accessToken``, ``x-auth``...)."""
    words = _words(name)
    if not words or words[-1] in _ID_WORDS:
        return False  # an identifier, such as api_key_id, names no secret
    if words[-1] in {"tokens", "token"} and len(words) > 1 and set(words) <= _COUNT_WORDS:
        return False  # a token count, such as input_tokens
    if words[-1] == "details" and set(words) <= _COUNT_WORDS:
        return False  # the breakdown of token counts, such as input_tokens_details
    joined = "".join(words)
    return bool(_SECRET_WORDS.intersection(words)) or joined in {"apikey", "xapikey"}


@functools.lru_cache(maxsize=4096)
def is_identifier_key(name: str) -> bool:
    """Whether a key names an identifier (``request_id``, ``traceId``): its 32 hex digits stay."""
    words = _words(name)
    return bool(words) and words[-1] in _ID_WORDS


#: What every match of the expressions holds, in lowercase text: a cheap first look.
_ANCHORS: Final = re.compile(
    r"sk-|rk-|pk-|xai-|pplx-|hf_|gh[pousr]_|eyj|akia|asia|aiza|xox|bearer|basic|://|[:=,]"
)
_HEX_RUN: Final = re.compile(r"[0-9a-f]{32}")
#: The letters outside ASCII that the expressions (ignoring case) take for ASCII ones.
_FOLDS: Final = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}
#: Shorter texts hold no secret the expressions find (``sig=x``, ``a://b``).
_MIN_SECRET: Final = 5
#: Texts looked at, with the answer (at most this many, this long).
_SEEN: dict[tuple[bool, str], bool] = {}
_MAX_SEEN: Final = 4096
_MAX_SEEN_TEXT: Final = 256


def _text_suspect_py(text: str, identifier: bool) -> bool:
    """Whether the expression finds a secret in ``text``: a cheap look first, remembered."""
    if len(text) < _MIN_SECRET:
        return False
    key = (identifier, text)
    found = _SEEN.get(key)
    if found is None:
        low = text.lower() if text.isascii() else text.translate(_FOLDS).lower()
        hex_run = not identifier and len(text) >= 32 and _HEX_RUN.search(low) is not None
        pattern = _SECRET_IN_ID if identifier else _SECRET_VALUE
        found = bool(
            (hex_run or _ANCHORS.search(low) is not None) and pattern.search(text) is not None
        )
        if len(text) <= _MAX_SEEN_TEXT:  # labels and ids repeat; long texts are not kept
            if len(_SEEN) >= _MAX_SEEN:
                _SEEN.clear()
            _SEEN[key] = found
    return found


def _suspect_py(identifier: bool, *values: Any) -> bool:
    """The pure Python twin of ``aievents._speedups.suspect``: exact, and slower."""
    for value in values:
        if value is None or value is False:
            continue
        if isinstance(value, str):
            if _text_suspect_py(value, identifier):
                return True
            continue
        if isinstance(value, (tuple, list)):
            for item in value:
                if item is None:
                    continue
                if not isinstance(item, str) or _text_suspect_py(item, identifier):
                    return True
            continue
        return True  # True, or an object: only a closer look can tell
    return False


def _compiled(name: str) -> Any:
    """``aievents._speedups.<name>``, or None (see :func:`aievents._compiled.speedups`)."""
    module = speedups()
    return None if module is None else getattr(module, name, None)


_SCREEN: Final[Callable[..., bool] | None] = _compiled("suspect")
#: ``aievents._speedups.Screen``, when compiled (see :mod:`aievents._outbound`).
SCREEN_CLASS: Final[Any] = _compiled("Screen")

#: ``suspect(identifier, *values)``: whether any value may hold a secret.
#: ``None`` and ``False`` are clean; a ``str`` is scanned (with the 32-digit
#: rule unless ``identifier``), as is each item of a tuple or list; ``True``
#: and any other object are suspect (the caller takes a closer look). It
#: never answers False for a text :func:`scrub_text` would change.
suspect: Final[Callable[..., bool]] = _SCREEN if _SCREEN is not None else _suspect_py


def _replace(match: re.Match[str]) -> str:
    url = match.group("url")
    if url is not None:
        return _scrub_url(url)
    name = match.group("name")
    return REDACTED if name is None else name + REDACTED


def scrub_text(text: str, *, identifier: bool = False) -> str:
    """``text`` with every secret-looking value replaced by ``[redacted]``.

    Args:
        text: Any text.
        identifier: The text is an identifier (a request, trace or event id):
            a word of 32 hexadecimal digits in it is kept.
    """
    if not suspect(identifier, text):
        return text
    return (_SECRET_IN_ID if identifier else _SECRET_VALUE).sub(_replace, text)


def _scrub_url(url: str) -> str:
    """A URL found in text: its password (or a token as its user), token-like path segments
    and secret parameters replaced."""
    parts = split_url(url)
    if parts is None:
        return REDACTED
    return parts.shown(user=True, path=_path(parts.path), query=True)


def _pair_name(item: Any) -> str | None:
    """The name of a name/value pair, when ``item`` is one."""
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
        return item[0]
    return None


def scrub(value: Any, *, identifier: bool = False, opaque: bool = True, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets replaced, however deep they sit.

    Mappings, lists, tuples and sets are scrubbed item by item (a value under
    a secret-named key replaced whole, one under an identifier key scrubbed
    as an identifier).

    Args:
        value: Anything.
        identifier: ``value`` is an identifier (see :func:`scrub_text`).
        opaque: What to do with what is not text, a number, a mapping or a
            sequence: when true (for a renderer that would print it), bytes
            are replaced whole and any other object by its scrubbed
            ``repr``; when false (for a JSON encoder, which refuses them),
            they are left as they are.
        depth: How deep ``value`` sits (past 20 levels it is replaced whole).
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub_text(value, identifier=identifier)
    if depth > 20:
        return REDACTED if opaque else value
    if isinstance(value, Mapping):
        named = next(
            (value[k] for k in ("name", "key", "header") if isinstance(value.get(k), str)), None
        )
        hide_value = named is not None and is_secret_key(named)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            text_key = isinstance(key, str)
            if (text_key and is_secret_key(key)) or (hide_value and key == "value"):
                out[key] = REDACTED
            else:
                out[key] = scrub(
                    item,
                    identifier=text_key and is_identifier_key(key),
                    opaque=opaque,
                    depth=depth + 1,
                )
        return out
    if isinstance(value, (list, tuple)):
        name = _pair_name(value)
        if name is not None and is_secret_key(name):
            return type(value)((scrub_text(name), REDACTED))
        return type(value)(
            scrub(item, identifier=identifier, opaque=opaque, depth=depth + 1) for item in value
        )
    if not opaque:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return REDACTED
    if isinstance(value, (set, frozenset)):
        return [scrub(item, depth=depth + 1) for item in value]
    return scrub_text(repr(value))


def safe_repr(name: str) -> Callable[[Any], str]:
    """The ``repr`` of a field called ``name``, scrubbed (for attrs' ``repr=``)."""
    identifier = is_identifier_key(name)

    def shown(value: Any) -> str:
        if isinstance(value, str):
            return repr(scrub_text(value, identifier=identifier))
        return scrub_text(repr(value), identifier=identifier)

    return shown


def safe_reprs(cls: type, fields: list[Any]) -> list[Any]:
    """An attrs ``field_transformer``: every field shown in ``repr`` is shown scrubbed.

    Fields inherit it: an application's subclass of an event shows the
    fields it inherits scrubbed too.
    """
    return [f.evolve(repr=safe_repr(f.name)) if f.repr is True else f for f in fields]


#: A path segment shown as it is: plain words (lowercase, or capitalized), few digits.
_PLAIN_SEGMENT: Final = re.compile(
    r"_*(?:[a-z0-9]+|[A-Z][a-z]+)(?:[-_.~]+(?:[a-z0-9]+|[A-Z][a-z]+))*"
)
_MAX_SEGMENT_DIGITS: Final = 4


def _plain(segment: str) -> bool:
    """Whether a path segment is shown: plain words, few digits, no secret."""
    return not segment or (
        len(segment) <= 40
        and _PLAIN_SEGMENT.fullmatch(segment) is not None
        and sum(c.isdigit() for c in segment) <= _MAX_SEGMENT_DIGITS
        and scrub_text(segment) == segment
    )


def safe_url(url: str) -> str:
    """``url`` as it may appear in logs, errors and reprs.

    No user info, no query string, no fragment, and every path segment that
    is not made of plain words (lowercase or capitalized, at most four
    digits: a token in a webhook's path, an id) replaced by ``[redacted]``:
    ``https://hooks.example/ingest/[redacted]``.
    """
    parts = split_url(url)
    if parts is None:
        return REDACTED
    return parts.shown(user=False, path=_path(parts.path), query=False)


def masked_url(url: str) -> str:
    """``url`` as a name that may be shown: its passwords replaced, the rest as written.

    The password in the user info and the value of every secret parameter
    (see :func:`url_secrets`) become ``[redacted]``; the user, the host, the
    path and the other parameters stay (a store's file or database name is
    how it is known). Text that is not a URL is scrubbed as any text.
    """
    parts = split_url(url)
    if parts is None:
        return scrub_text(url)
    return parts.shown(user=True, path=parts.path, query=True)


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets a URL holds, as written and decoded: its password, its secret parameters.

    For hiding them wherever else they may appear (a driver that quotes a
    host or a file name that happens to be the password).
    """
    parts = split_url(url)
    if parts is None:
        return ()
    found = [] if parts.password is None else [parts.password]
    for name, value in parts.parameters():
        if value and _secret_parameter(name, value):
            found.append(value)
    decoded = [urllib.parse.unquote_plus(secret) for secret in found]
    return tuple(dict.fromkeys(secret for secret in (*found, *decoded) if secret))


#: ``scheme://`` and what follows it.
_SCHEME: Final = re.compile(r"(?s)([A-Za-z][A-Za-z0-9+.\-]*)://(.*)")
#: The user info that starts what follows ``scheme://``: a user, maybe ``:`` and a
#: password, then ``@``. The password goes up to the last ``@`` that a host part
#: follows (no ``@``, ``/``, ``?`` or ``#`` in it, then one of ``/?#`` or the
#: end), but not past a query or fragment begun after such a host part: so a
#: password may hold ``@``, ``/``, ``?``, ``#`` or ``:``, and an ``@`` in a query
#: value (``?application_name=me@host``) does not end it.
_USER_INFO: Final = re.compile(
    r"(?s)(?P<user>[^/:@?#]*)"
    r"(?::(?P<password>(?:(?!@[^@/?#]*(?:/[^@?#]*)?[?#]).)*))?"
    r"@(?=[^@/?#]*(?:[/?#]|$))"
)
#: Where the host part ends.
_HOST_END: Final = re.compile(r"[/?#]")
#: An ``&`` that starts a parameter (``&name=``): one that does not is part of a value.
_PARAMETER: Final = re.compile(r"&(?=[^&=#]*=)")
#: Words in a parameter's name that make its value a secret (``sslpassword``,
#: ``passfile``, ``api_key``, ``access_token``, ``sig``...).
_SECRET_PARAMETER: Final = re.compile(r"(?i)pass|pwd|secret|token|key|auth|sig|cred|cookie")
#: What a secret masked already looks like.
_MASKS: Final = frozenset({"***", REDACTED, urllib.parse.quote(REDACTED)})


def _secret_parameter(name: str, value: str) -> bool:
    """Whether a URL parameter's value is a secret: by its name, or by what it holds."""
    name = urllib.parse.unquote_plus(name)
    if _SECRET_PARAMETER.search(name) or is_secret_key(name):
        return True
    value = urllib.parse.unquote_plus(value)
    return scrub_text(value) != value  # -c password=..., a key, a token


class UrlParts(NamedTuple):
    """A URL split as a password may be written: see :func:`split_url`."""

    scheme: str
    #: The user (None: no user info), and the password (None: none).
    user: str | None
    password: str | None
    #: The host and port, as written.
    host: str
    path: str
    #: What follows ``?`` and ``#`` (None: no ``?``, no ``#``).
    query: str | None
    fragment: str | None

    def parameters(self) -> list[tuple[str, str]]:
        """The query's ``name=value`` pairs, as written (a value may hold an ``&``)."""
        if not self.query:
            return []
        pairs = []
        for item in _PARAMETER.split(self.query):
            name, _, value = item.partition("=")
            pairs.append((name, value))
        return pairs

    def shown(self, *, user: bool, path: str, query: bool) -> str:
        """The URL with its secrets replaced; user info and query left out unless asked for."""
        text = f"{self.scheme}://"
        if user and self.user is not None:
            name = self.user if _plain(self.user) else REDACTED  # a token as the user
            if self.password is None:
                text += f"{name}@"
            elif self.password in _MASKS:
                text += f"{name}:{self.password}@"
            else:
                text += f"{name}:{REDACTED}@"
        text += self.host + path
        if query and self.query is not None:
            text += "?" + "&".join(
                f"{name}={REDACTED}"
                if value and value not in _MASKS and _secret_parameter(name, value)
                else (f"{name}={value}" if value or "=" in item else name)
                for item, (name, value) in zip(
                    _PARAMETER.split(self.query), self.parameters(), strict=True
                )
            )
        if query and self.fragment is not None:
            text += "#" + scrub_text(self.fragment)
        return text


def split_url(url: str) -> UrlParts | None:
    """``scheme://user:password@host/path?query#fragment``, split; None when not a URL.

    Unlike :func:`urllib.parse.urlsplit`, a password may hold ``@``, ``/``,
    ``?``, ``#`` or ``:`` as written (not percent-encoded): the user info
    ends at the last ``@`` that a host part follows, before any query.
    """
    found = _SCHEME.fullmatch(url)
    if found is None:
        return None
    scheme, rest = found.groups()
    user = password = None
    info = _USER_INFO.match(rest)
    if info is not None:
        user, password = info["user"], info["password"]
        rest = rest[info.end() :]
    end = _HOST_END.search(rest)
    host, rest = (rest, "") if end is None else (rest[: end.start()], rest[end.start() :])
    rest, hash_, fragment = rest.partition("#")
    path, mark, query = rest.partition("?")
    return UrlParts(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        path=path,
        query=query if mark else None,
        fragment=fragment if hash_ else None,
    )


def _path(path: str) -> str:
    """A URL's path, every segment that is not a plain lowercase word replaced."""
    return "/".join(s if _plain(s) else REDACTED for s in path.split("/"))
