"""Secrets never leave the process: the one scrubbing policy of every output.

Log lines, forwarded bodies (HTTP, OTLP, JSONL, devtools), spill files, the
store, exception messages and reprs all go through these functions (the
events through :func:`aievents._outbound.outbound`, which applies them).

A value is replaced by ``[redacted]`` when:

- the key it sits under names a secret (the key's words, split at case
  changes and separators, include ``key``, ``secret``, ``token``,
  ``password``, ``authorization``...), or it is the value of a name/value
  pair whose name does. Not secrets: counts (a key whose last word is
  ``count``, or ``tokens`` among count words, such as ``input_tokens``,
  ``promptTokenCount``), a number under a key whose only secret word is
  ``token(s)`` (``max_new_tokens: 4096``), identifiers (``api_key_id``);
- inside any text, it looks like a credential: provider API keys (``sk-``,
  ``r8_``, ``hf_``...), the credentials of an ``Authorization`` scheme
  (``Bearer``, ``Basic``, ``Token``, ``Key``...), JWTs, cloud and chat tokens,
  the value after a secret-named ``name=`` or ``name:`` (``?api_key=...``,
  ``'password': '...'``, also JSON-escaped: ``{\\"api_key\\": \\"...\\"}``;
  a number after a ``token`` name is a count, kept), a word of exactly 32
  hexadecimal digits (an Azure key) except in identifiers and digests
  (values under keys ending in ``id``, ``md5``, ``sha256``, ``hash``..., or
  in text right after such a name, ``md5=``, ``ETag: "``), and, in a URL,
  its user info (a password may hold ``@``), its secret parameters and
  every path segment holding a token: a credential as above, or a run of
  letters and digits of 24 or more, or of 16 or more with both letters and
  digits (``/ingest/T0KENx9QmZ7rPq2Lw8Vn``);
  words, numbers, dates, sizes and file names stay
  (``sqlite:///data/2024-11-01/usage.db``).

Three fields have rules of their own (see :data:`SCRUB`): an image's
``b64_json`` is kept whole when it is base64 (:func:`image_data`), an
output image's ``url`` keeps its path (:func:`output_url`), and a
transport's URL is shown by :func:`safe_url`.

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

import attrs

from aievents._compiled import speedups

__all__ = [
    "CREDENTIALS",
    "MAX_DEPTH",
    "NAME_WORDS",
    "REDACTED",
    "SCRUB",
    "ScrubbedRepr",
    "UrlParts",
    "image_data",
    "is_identifier_key",
    "is_secret_key",
    "masked_url",
    "output_url",
    "safe_url",
    "scrub",
    "scrub_outputs",
    "scrub_text",
    "split_url",
    "suspect",
    "url_secrets",
]

#: What a secret is replaced by.
REDACTED: Final = "[redacted]"
#: How deep :func:`scrub` goes: a container deeper than this is replaced whole.
#: Validation refuses free-form values nested deeper than 16 levels.
MAX_DEPTH: Final = 20
#: The key of an attrs field's metadata naming the rule that scrubs it, a
#: function of the value (:func:`image_data`, :func:`output_url`), instead of
#: the rules of text.
SCRUB: Final = "aievents.scrub"

#: The credentials known by how they start: the start, what follows it (an
#: expression), and whether case counts in the start. One list serves the
#: expressions, the cheap first look of :func:`_text_suspect_py` and the
#: compiled ``suspect`` (given it by :func:`_compiled`): a credential added
#: here is known to all three.
#: After ``Key``, ``Token`` or ``ApiKey`` and a space (part of the start, so
#: that ``tokens`` in text is no cause for a closer look).
_SCHEME_CREDENTIAL: Final = r" *(?=[\w.~+/=:\-]*[0-9])[\w.~+/=:\-]{16,}"
CREDENTIALS: Final = (
    ("sk-", r"[A-Za-z0-9_\-]{6,}", False),  # OpenAI, Anthropic: sk-, sk-proj-, sk-ant-
    ("rk-", r"[A-Za-z0-9_\-]{6,}", False),
    ("pk-", r"[A-Za-z0-9_\-]{6,}", False),
    ("xai-", r"[A-Za-z0-9_\-]{6,}", False),
    ("gsk-", r"[A-Za-z0-9_\-]{6,}", False),
    ("pplx-", r"[A-Za-z0-9_\-]{6,}", False),
    ("r8_", r"[A-Za-z0-9]{20,}", False),  # Replicate
    ("hf_", r"[A-Za-z0-9]{10,}", False),  # Hugging Face
    ("ghp_", r"[A-Za-z0-9]{16,}", False),  # GitHub: ghp_, gho_, ghu_, ghs_, ghr_
    ("gho_", r"[A-Za-z0-9]{16,}", False),
    ("ghu_", r"[A-Za-z0-9]{16,}", False),
    ("ghs_", r"[A-Za-z0-9]{16,}", False),
    ("ghr_", r"[A-Za-z0-9]{16,}", False),
    ("Bearer", r"\s+[A-Za-z0-9._~+/=\-]{6,}", False),  # bearer tokens
    ("Basic", r"\s+[A-Za-z0-9+/=]{8,}", False),  # basic credentials
    # Other schemes (fal's Key, Token, ApiKey) name words that ordinary text
    # uses too: only a long credential with a digit in it follows them.
    ("Key ", _SCHEME_CREDENTIAL, False),
    ("Token ", _SCHEME_CREDENTIAL, False),
    ("ApiKey ", _SCHEME_CREDENTIAL, False),
    ("eyJ", r"[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*", False),  # JWTs
    ("AKIA", r"[A-Z0-9]{12,}", True),  # cloud access key ids (upper case only)
    ("ASIA", r"[A-Z0-9]{12,}", True),
    ("AIza", r"[0-9A-Za-z_\-]{20,}", True),  # Google API keys (as written)
    ("xox", r"[abpr]-[A-Za-z0-9\-]{10,}", False),  # Slack tokens
)
#: The words that name a secret whose value follows ``=`` or ``:`` in text, and
#: what may come before one in the same word (``apikey``, ``clientsecret``). The
#: compiled ``suspect`` is given the words too.
NAME_WORDS: Final = (
    "key", "secret", "token", "password", "passwd", "pwd", "passphrase", "authorization",
    "auth", "credential", "credentials", "cookie", "signature", "sig",
)  # fmt: skip
_NAME_PREFIXES: Final = ("api", "secret", "private", "access", "client", "refresh", "auth",
                         "id", "session")  # fmt: skip
_NAMES: Final = (
    rf"(?:(?:{'|'.join(_NAME_PREFIXES)})?"
    rf"(?:{'|'.join(sorted(NAME_WORDS, key=len, reverse=True))}))"
)
#: A URL: scheme, ``://``, up to a space, a quote or a backslash (not its closing punctuation).
_URL: Final = r"(?P<url>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>\\]*[^\s\"'<>\\.,;:!?)\]}])"
#: A secret name, with what may come before it (``x-api-key``, ``client_secret``).
_NAME: Final = rf"(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_\-])*{_NAMES}"
#: A quote, maybe escaped (JSON inside a string: ``\"``).
_Q: Final = r"\\*[\"']"
#: The schemes of an ``Authorization`` value, whose credentials follow a space.
_SCHEMES: Final = r"(?:Bearer|Basic|Token|Key|ApiKey|Digest|Negotiate|NTLM|OAuth)"
_PATTERNS: Final = (
    _URL,
    *(
        rf"(?-i:\b{re.escape(start)}{rest})" if case else rf"\b{re.escape(start)}{rest}"
        for start, rest, case in CREDENTIALS
    ),
    # The value of a secret name (the name is kept), as text and reprs show it:
    # name=value, name: value, 'name': 'value', ('name', 'value'),
    # {'name': 'name', 'value': 'value'}, quotes maybe escaped; a quoted value
    # goes up to its quote, an Authorization value past its scheme.
    rf"(?P<name>(?:{_Q}(?:name|key|header){_Q}\s*:\s*{_Q}{_NAME}{_Q}\s*,\s*"
    rf"{_Q}value{_Q}\s*:\s*{_Q}|{_NAME}(?:(?:{_Q})?\s*[:=]\s*(?:{_Q})?|{_Q}\s*,\s*{_Q})))"
    r"(?!\[redacted\]|\*\*\*)"
    rf"(?P<value>(?<=[\"'])(?:[^\"'\\]|\\(?!\\*[\"']))+|(?:{_SCHEMES}\s+)?[^\s\"',;&)}}\]\\]+)",
)
#: A word of exactly 32 hexadecimal digits (not all decimal): an Azure key.
_HEX_KEY: Final = r"(?P<hex>\b(?![0-9]{32}\b)[0-9a-f]{32}\b)"
_FLAGS: Final = re.IGNORECASE
#: Every pattern: for text.
_SECRET_VALUE: Final = re.compile("|".join((*_PATTERNS, _HEX_KEY)), _FLAGS)
#: Every pattern but the 32-digit one: for identifiers.
_SECRET_IN_ID: Final = re.compile("|".join(_PATTERNS), _FLAGS)
#: A name whose number is a count (``token: 12``), and a number.
_TOKEN_NAME: Final = re.compile(r"(?i)tokens?\W*$")
_NUMBER: Final = re.compile(r"\d+(?:\.\d+)?")

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
_TOKEN_WORDS: Final = frozenset({"token", "tokens"})
#: Words that make a ``token`` a credential, not a count (``access_token``).
_NAMED_TOKENS: Final = frozenset(_NAME_PREFIXES)
#: Names of digests: their 32 hexadecimal digits are no key (``image_md5``, ``sha256``).
_DIGEST: Final = re.compile(r"(?i)(?:md5|sha\d*|hash|digest|checksum|etag)$")
#: A digest's name right before its digits in text (``md5=``, ``"etag": "``): they stay.
_DIGEST_BEFORE: Final = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_\-])*(?:md5|sha\d*|hash|digest|checksum|etag)"
    r"\\*[\"']?\s*[:=]?\s*\\*[\"']?$"
)
_DIGEST_REACH: Final = 40


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(name)]


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``accessToken``, ``x-auth``...).

    Counts are not (``input_tokens``, ``promptTokenCount``, ``token_count``),
    nor identifiers (``api_key_id``). A number under a key whose only secret
    word is ``token`` or ``tokens`` is a count too (see :func:`scrub`).
    """
    words = _words(name)
    if not words or words[-1] in _ID_WORDS:
        return False  # an identifier, such as api_key_id, names no secret
    if words[-1] in {"count", "counts"}:
        return False  # a count, such as promptTokenCount
    if words[-1] in _TOKEN_WORDS and len(words) > 1 and set(words) <= _COUNT_WORDS:
        return False  # a token count, such as input_tokens
    if words[-1] == "details" and set(words) <= _COUNT_WORDS:
        return False  # the breakdown of token counts, such as input_tokens_details
    joined = "".join(words)
    return bool(_SECRET_WORDS.intersection(words)) or joined in {"apikey", "xapikey"}


@functools.lru_cache(maxsize=4096)
def _token_named(name: str) -> bool:
    """Whether ``token``/``tokens`` is the only secret word of a key (a number there is a count)."""
    words = set(_words(name))
    if words & _NAMED_TOKENS:
        return False  # an access token, an api token: a secret, whatever it looks like
    return bool(words & _TOKEN_WORDS) and not (words & _SECRET_WORDS) - _TOKEN_WORDS


def _secret_item(key: str, value: Any) -> bool:
    """Whether the value under ``key`` is a secret: its key says so, unless it is a count."""
    if not is_secret_key(key):
        return False
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return not (is_number and _token_named(key))


@functools.lru_cache(maxsize=4096)
def is_identifier_key(name: str) -> bool:
    """Whether a key names an identifier or a digest (``request_id``, ``traceId``, ``image_md5``).

    Their 32 hexadecimal digits stay.
    """
    words = _words(name)
    return bool(words) and (words[-1] in _ID_WORDS or _DIGEST.search(name) is not None)


#: What every match of the expressions holds, in lowercase text: a cheap first look.
_ANCHORS: Final = re.compile(
    "|".join(re.escape(start.lower()) for start, _, _ in CREDENTIALS) + r"|://|[:=,]"
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


def _compiled() -> Any:
    """``aievents._speedups``, told what the expressions know, or None.

    None: not built, built from other sources, or not wanted (see
    :func:`aievents._compiled.speedups`).
    """
    module = speedups()
    if module is not None:
        module.configure(tuple((start, case) for start, _, case in CREDENTIALS), NAME_WORDS)
    return module


_SPEEDUPS: Final = _compiled()
_SCREEN: Final[Callable[..., bool] | None] = getattr(_SPEEDUPS, "suspect", None)
#: ``aievents._speedups.Screen``, when compiled (see :mod:`aievents._outbound`).
SCREEN_CLASS: Final[Any] = getattr(_SPEEDUPS, "Screen", None)

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
    if match.groupdict().get("hex") is not None:  # (no such group in identifiers)
        before = match.string[max(0, match.start() - _DIGEST_REACH) : match.start()]
        return match.group(0) if _DIGEST_BEFORE.search(before) else REDACTED
    name = match.group("name")
    if name is None:
        return REDACTED
    value = match.group("value")
    if _NUMBER.fullmatch(value) and _TOKEN_NAME.search(name):
        return match.group(0)  # token: 1056, a count
    return name + REDACTED


def scrub_text(text: str, *, identifier: bool = False) -> str:
    """``text`` with every secret-looking value replaced by ``[redacted]``.

    Args:
        text: Any text.
        identifier: The text is an identifier (a request, trace or event id,
            a digest): a word of 32 hexadecimal digits in it is kept.
    """
    if not suspect(identifier, text):
        return text
    return (_SECRET_IN_ID if identifier else _SECRET_VALUE).sub(_replace, text)


#: Standard base64 (no line breaks, at most two ``=`` of padding).
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def image_data(value: Any) -> Any:
    """An image's ``b64_json``: kept whole when it is base64, else scrubbed as any value.

    Image bytes are not text anyone typed, and scrubbing them can only
    corrupt the image. Standard base64 has letters, digits, ``+``, ``/`` and
    ``=`` padding only: no dash, underscore, dot, colon, quote, ``=`` inside
    or space, so no provider key (``sk-``, ``r8_``...), bearer or basic
    credential, JWT, URL or ``name=value`` can be written in it. What the
    expressions could find there (an ``AKIA``.../``AIza``... run, 32
    hexadecimal digits between ``+`` and ``/``) only appears by chance in
    random bytes, and is kept. Anything else (text with a space, a dash, a
    data URL) is scrubbed as text.
    """
    if isinstance(value, str) and _BASE64.fullmatch(value) is not None:
        return value
    return scrub(value, opaque=False)


def _scrub_url(url: str) -> str:
    """A URL found in text: its password (or a token as its user), secret parameters and
    path segments holding a token replaced."""
    parts = split_url(url)
    if parts is None:
        return REDACTED
    return parts.shown(user=True, path=_text_path(parts.path), query=True)


def _pair_name(item: Any) -> str | None:
    """The name of a name/value pair, when ``item`` is one."""
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
        return item[0]
    return None


def scrub(value: Any, *, identifier: bool = False, opaque: bool = True, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets replaced, however deep they sit.

    Mappings, lists, tuples and sets are scrubbed item by item (a value under
    a secret-named key replaced whole, one under an identifier key scrubbed
    as an identifier, one under ``b64_json`` by :func:`image_data`; keys are
    scrubbed as text).

    Args:
        value: Anything.
        identifier: ``value`` is an identifier (see :func:`scrub_text`).
        opaque: What to do with what is not text, a number, a mapping or a
            sequence: when true (for a renderer that would print it), bytes
            are replaced whole and any other object by its scrubbed
            ``repr``; when false (for a JSON encoder, which refuses them),
            they are left as they are.
        depth: How deep ``value`` sits: past :data:`MAX_DEPTH` levels a
            container (or any object) is replaced whole, whatever ``opaque``.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub_text(value, identifier=identifier)
    if depth >= MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return _scrub_mapping(value, opaque, depth)
    if isinstance(value, (list, tuple)):
        name = _pair_name(value)
        if name is not None and _secret_item(name, value[1]):
            items: list[Any] = [scrub_text(name), REDACTED]
        else:
            items = [
                scrub(item, identifier=identifier, opaque=opaque, depth=depth + 1) for item in value
            ]
        return tuple(items) if isinstance(value, tuple) else items
    if not opaque:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return REDACTED
    if isinstance(value, (set, frozenset)):
        return [scrub(item, opaque=opaque, depth=depth + 1) for item in value]
    return scrub_text(repr(value))


def _scrub_mapping(value: Mapping[Any, Any], opaque: bool, depth: int) -> dict[Any, Any]:
    named = next(
        (value[k] for k in ("name", "key", "header") if isinstance(value.get(k), str)), None
    )
    hide_value = named is not None and is_secret_key(named)
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            out[key] = scrub(item, opaque=opaque, depth=depth + 1)
        elif _secret_item(key, item) or (hide_value and key == "value"):
            out[scrub_text(key)] = REDACTED
        elif key in _IMAGE_DATA_KEYS:
            out[key] = image_data(item)
        else:
            out[scrub_text(key)] = scrub(
                item, identifier=is_identifier_key(key), opaque=opaque, depth=depth + 1
            )
    return out


#: Keys whose text is an image's bytes (see :func:`image_data`).
_IMAGE_DATA_KEYS: Final = frozenset({"b64_json", "b64Json"})


def scrub_outputs(outputs: Any) -> Any:
    """Produced images as mappings (``url``, ``b64_json``...), scrubbed by their own rules.

    The ``url`` of each keeps its path (:func:`output_url`: it is where the
    image is); ``b64_json`` is :func:`image_data`; the rest is scrubbed as
    by :func:`scrub`. Anything else is :func:`scrub`-bed.
    """
    if not isinstance(outputs, (list, tuple)):
        return scrub(outputs)
    shown = []
    for output in outputs:
        if isinstance(output, Mapping) and isinstance(output.get("url"), str):
            rest = scrub({k: v for k, v in output.items() if k != "url"})
            shown.append({"url": output_url(output["url"]), **rest})
        else:
            shown.append(scrub(output, depth=1))
    return shown


def _field_shown(value: Any, identifier: bool) -> str:
    """How a field's value appears in a repr: scrubbed (structures item by item)."""
    if isinstance(value, str):
        return repr(scrub_text(value, identifier=identifier))
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        value = scrub(value, identifier=identifier, opaque=False)
    return scrub_text(repr(value), identifier=identifier)


def scrubbed_repr(self: Any) -> str:
    """``ClassName(field=value, ...)`` as attrs shows it, every value scrubbed.

    Fields declared with ``repr=False`` are left out; a field's own repr
    function is used, and its answer scrubbed.
    """
    cls = type(self)
    shown = []
    for field in attrs.fields(cls):
        if field.repr is False:
            continue
        value = getattr(self, field.name, attrs.NOTHING)
        identifier = is_identifier_key(field.name)
        if callable(field.repr):
            text = scrub_text(field.repr(value), identifier=identifier)
        else:
            text = _field_shown(value, identifier)
        shown.append(f"{field.name}={text}")
    return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({', '.join(shown)})"


class ScrubbedRepr:
    """Base of attrs classes whose ``repr`` shows every field scrubbed: subclasses too.

    An application's subclass of an event gets the scrubbed repr for the
    fields it adds as for those it inherits, however attrs is asked to build
    it: ``attrs.define``/``attrs.frozen`` keep the repr set here (it is the
    class's own before attrs looks), and where attrs writes one over it
    (``repr=True``, ``@attr.s``) it is set again once the class is built.
    A repr the class body writes itself is left alone.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = scrubbed_repr  # type: ignore[method-assign]

    @classmethod
    def __attrs_init_subclass__(cls) -> None:
        own = cls.__dict__.get("__repr__")
        code = getattr(own, "__code__", None)
        if code is not None and code.co_filename.startswith("<attrs generated"):
            cls.__repr__ = scrubbed_repr  # type: ignore[method-assign]


#: A path segment a transport's URL shows: a short lowercase word, or a version.
_SHOWN_SEGMENT: Final = re.compile(r"_*[a-z][a-z_\-]{0,11}|v\d{1,3}(?:[a-z]{1,8}\d{0,3})?")
#: A run of letters and digits, in a path segment.
_RUN: Final = re.compile(r"[A-Za-z0-9]+")
#: Runs from these lengths are tokens: with letters and digits; with anything.
_MIXED_TOKEN: Final = 16
_ANY_TOKEN: Final = 24


def _token_segment(segment: str) -> bool:
    """Whether a path segment (or user name) in text holds a token: see the module's rules."""
    if scrub_text(segment) != segment:
        return True  # a credential, a 32-digit key
    for run in _RUN.findall(segment):
        if len(run) >= _ANY_TOKEN:
            return True
        if len(run) >= _MIXED_TOKEN and not run.isdigit() and not run.isalpha():
            return True
    return False


def _text_path(path: str) -> str:
    """A URL's path in text: every segment holding a token replaced."""
    return "/".join(REDACTED if _token_segment(s) else s for s in path.split("/"))


def safe_url(url: str) -> str:
    """``url`` as it may appear in logs, errors and reprs (a transport's target).

    The scheme, the host and the port; of the path, only the segments that
    are a short lowercase word (``a``-``z``, ``-`` and ``_``, at most 12
    characters after leading underscores) or a version (``v1``,
    ``v2beta1``), every other segment ``[redacted]``; no user info, no
    query, no fragment: ``https://hooks.example/ingest/[redacted]``,
    ``http://127.0.0.1:4318/v1/logs``.
    """
    parts = split_url(url)
    if parts is None:
        return REDACTED
    path = "/".join(
        s if not s or _SHOWN_SEGMENT.fullmatch(s) else REDACTED for s in parts.path.split("/")
    )
    return parts.shown(user=False, path=path, query=False)


def masked_url(url: str) -> str:
    """``url`` as a name that may be shown: its passwords replaced, the rest as written.

    The password in the user info (and a token as the user) and the value
    of every secret parameter (see :func:`url_secrets`) become
    ``[redacted]``; the user, the host, the path and the other parameters
    stay (a store's file or database name is how it is known; an output
    image's path is where it is). Text that is not a URL is scrubbed as
    any text.
    """
    parts = split_url(url)
    if parts is None:
        return scrub_text(url)
    return parts.shown(user=True, path=parts.path, query=True)


def output_url(value: Any) -> Any:
    """An output image's ``url``: :func:`masked_url` (its path kept), or scrubbed if not text."""
    return masked_url(value) if isinstance(value, str) else scrub(value, opaque=False)


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
#: ``passfile``, ``api_key``, ``access_token``, ``sig``...), and ``code`` alone
#: (an Azure Functions key, an OAuth authorization code).
_SECRET_PARAMETER: Final = re.compile(r"(?i)pass|pwd|secret|token|key|auth|sig|cred|cookie|^code$")
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
            name = REDACTED if _token_segment(self.user) else self.user  # a token as the user
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
