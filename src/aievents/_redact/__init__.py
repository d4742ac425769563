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

The policy's parts: :mod:`~aievents._redact._names` (which keys and names
hold secrets, identifiers, counts), :mod:`~aievents._redact._text` (the rule
of text, and its screen), :mod:`~aievents._redact._urls` (the URL rule, the
one every output shows URLs by) and :mod:`~aievents._redact._values`
(structures, fields with rules of their own, reprs).
"""

from __future__ import annotations

from typing import Final

from aievents._redact._names import (
    NAME_WORDS,
    REDACTED,
    is_identifier_key,
    is_secret_key,
    token_named,
)
from aievents._redact._text import CREDENTIALS, SCREEN_CLASS, URLS, scrub_text, suspect
from aievents._redact._urls import UrlParts, hide, safe_url, split_url
from aievents._redact._values import (
    MAX_DEPTH,
    SCRUB,
    ScrubbedRepr,
    image_data,
    output_url,
    scrub,
    scrub_outputs,
)

__all__ = [
    "CREDENTIALS",
    "MAX_DEPTH",
    "NAME_WORDS",
    "REDACTED",
    "SCREEN_CLASS",
    "SCRUB",
    "ScrubbedRepr",
    "UrlParts",
    "hide",
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
    "token_named",
    "url_secrets",
]

#: ``url`` as a name that may be shown: its passwords replaced, the rest as
#: written (see :meth:`~aievents._redact._urls.UrlRule.masked`).
masked_url: Final = URLS.masked
#: The secrets a URL holds, as written and decoded: its password, its secret
#: parameters (see :meth:`~aievents._redact._urls.UrlRule.secrets`).
url_secrets: Final = URLS.secrets
