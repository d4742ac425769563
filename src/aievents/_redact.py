"""Secrets never leave the process: scrubbing of keys and secret-looking values.

Used wherever text that aievents did not write itself (provider error
messages, event fields) is logged or forwarded.
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
    \b(?:sk|rk|pk)-[A-Za-z0-9_\-]{6,}            # OpenAI-style keys: sk-..., sk-proj-...
    | \bBearer\s+[A-Za-z0-9._~+/=\-]{6,}          # bearer tokens
    | \bBasic\s+[A-Za-z0-9+/=]{8,}                # basic credentials
    | \b(?:AKIA|ASIA)[A-Z0-9]{12,}                # cloud access key ids
    | \bAIza[0-9A-Za-z_\-]{20,}                   # Google API keys
    | \bxox[abpr]-[A-Za-z0-9\-]{10,}              # Slack tokens
    """,
    re.VERBOSE,
)
_SECRET_KEY: Final = re.compile(
    r"(?:^|[_\-.])(?:api[_\-]?key|key|secret|token|password|passwd|authorization|auth|"
    r"credential|credentials|cookie|session)(?:$|[_\-.])",
    re.IGNORECASE,
)
#: Key names that contain a secret-looking word but hold none.
_SAFE_KEYS: Final = frozenset(
    {
        "api_key_id",
        "apiKeyId",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "text_tokens",
        "image_tokens",
        "cached_tokens",
        "max_tokens",
    }
)


def is_secret_key(name: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``Authorization``, ``x-token``...)."""
    if name in _SAFE_KEYS or name.endswith("_tokens") or name.endswith("Tokens"):
        return False
    return bool(_SECRET_KEY.search(name)) or name.lower() in {"key", "apikey"}


def scrub_text(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[redacted]``."""
    return _SECRET_VALUE.sub(REDACTED, text)


def scrub(value: Any, *, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets replaced, in nested mappings and lists too.

    Values under secret-named keys are replaced whole; strings anywhere are
    scrubbed of secret-looking values.
    """
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 20:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and is_secret_key(key)
            else scrub(item, depth=depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(item, depth=depth + 1) for item in value)
    return value
