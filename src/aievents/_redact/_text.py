"""The rule of text: what in any text looks like a secret, and its replacement.

A value is replaced by ``[redacted]`` when, inside any text, it looks like a
credential: provider API keys (``sk-``, ``r8_``, ``hf_``...), the credentials
of an ``Authorization`` scheme (``Bearer``, ``Basic``, ``Token``, ``Key``,
``ApiKey``...), JWTs, cloud and chat tokens, the value after a secret-named
``name=`` or ``name:`` (``?api_key=...``, ``'password': '...'``, also
JSON-escaped; a number after a ``token`` name is a count, kept), a word of
exactly 32 hexadecimal digits (an Azure key) except in identifiers and right
after a digest's name (``md5=``, ``ETag: "``); a URL in text is shown by the
URL rule (:class:`~aievents._redact._urls.UrlRule`, given this rule).

Scanning text with the regular expression costs microseconds; the screen
(:data:`suspect`: the compiled ``aievents._speedups.suspect``, or its pure
Python twin) tells first, in one pass, whether a text may hold a secret at
all (it never misses one the expression would find: a test holds it to
that), so that clean text costs next to nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from aievents._compiled import speedups
from aievents._redact._names import NAME_PREFIXES, NAME_WORDS, REDACTED
from aievents._redact._urls import UrlRule

__all__ = ["CREDENTIALS", "SCREEN_CLASS", "URLS", "scrub_text", "suspect"]


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
#: A secret's name in text: a name word, maybe after a prefix in the same word.
_NAMES: Final = (
    rf"(?:(?:{'|'.join(NAME_PREFIXES)})?"
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
#: A digest's name right before its digits in text (``md5=``, ``"etag": "``): they stay.
_DIGEST_BEFORE: Final = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_\-])*(?:md5|sha\d*|hash|digest|checksum|etag)"
    r"\\*[\"']?\s*[:=]?\s*\\*[\"']?$"
)
_DIGEST_REACH: Final = 40

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
        return URLS.in_text(url)
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


#: The URL rule, over this rule of text (:func:`aievents._redact.masked_url`...).
URLS: Final = UrlRule(scrub_text)
