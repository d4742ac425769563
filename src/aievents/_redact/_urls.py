"""The URL rule: a URL split as a password may be written, and shown without its secrets.

- :func:`safe_url` shows a transport's target: scheme, host and port, and
  of the path only short lowercase words and versions.
- :meth:`UrlRule.masked` shows a URL as a name (a store's, an output
  image's): its password and secret parameters replaced, the rest kept.
- :meth:`UrlRule.in_text` shows a URL found in text: as ``masked``, and every
  path segment holding a token replaced too.
- :meth:`UrlRule.secrets` lists what a URL holds that must not appear
  anywhere else, and :func:`hide` takes them out of any text.

One rule, two views. Both split a URL the same way (:func:`split_url`) and
agree on what in it is secret; they differ in what else they keep, because
their readers need different things:

- :func:`safe_url` keeps the least: no user info at all, no query, no
  fragment, and only short plain path segments. A transport's target is
  configuration the reader already knows; a log line or an error about it
  needs the host, not the rest, and a webhook path or a query often is the
  credential. Used by the HTTP helper
  (``aievents._http``), ``HttpTransport``, ``OtlpTransport`` and the devtools
  listener, in their logs, errors and reprs.
- ``masked_url`` (:meth:`UrlRule.masked`) keeps the user, the host, the path
  and the plain parameters, and masks the password and the secret
  parameters: a store's URL and an output image's URL are how the store or
  the image is known, so they are shown whole but for their secrets. Used
  by the store's URL handling (``aievents.sinks._storeurl``) and the
  redactor's value rules (``aievents._redact._values``), and, through
  :meth:`UrlRule.in_text`, for URLs found in free text.

What a URL's user name, parameter values and fragment hold is judged by the
rule of text (:func:`aievents._redact.scrub_text`), which itself shows the
URLs it finds in text by this rule: :class:`UrlRule` is given it.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Final, NamedTuple

from aievents._redact._names import REDACTED, is_secret_key

__all__ = ["UrlParts", "UrlRule", "hide", "safe_url", "split_url"]

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
#: A path segment a transport's URL shows: a short lowercase word, or a version.
_SHOWN_SEGMENT: Final = re.compile(r"_*[a-z][a-z_\-]{0,11}|v\d{1,3}(?:[a-z]{1,8}\d{0,3})?")
#: A run of letters and digits, in a path segment.
_RUN: Final = re.compile(r"[A-Za-z0-9]+")
#: Runs from these lengths are tokens: with letters and digits; with anything.
_MIXED_TOKEN: Final = 16
_ANY_TOKEN: Final = 24


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

    def items(self) -> list[tuple[str, str, str]]:
        """The query's parameters as written: ``(item, name, value)`` (a value may hold ``&``)."""
        if not self.query:
            return []
        found = []
        for item in _PARAMETER.split(self.query):
            name, _, value = item.partition("=")
            found.append((item, name, value))
        return found

    def parameters(self) -> list[tuple[str, str]]:
        """The query's ``name=value`` pairs, as written (a value may hold an ``&``)."""
        return [(name, value) for _, name, value in self.items()]


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
    return f"{parts.scheme}://{parts.host}{path}"


def hide(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets``, as written or percent-encoded, ``[redacted]``.

    For what a URL's secrets become in other words (a driver's message, a
    URL rendered again): give them longest first.
    """
    for secret in secrets:
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    return text


class UrlRule:
    """The URL rule over the rule of text, which judges a URL's user, parameters and fragment.

    Args:
        scrub_text: The rule of text: text with its secrets replaced.
    """

    def __init__(self, scrub_text: Callable[[str], str]) -> None:
        self._scrub_text = scrub_text

    def masked(self, url: str) -> str:
        """``url`` as a name that may be shown: its passwords replaced, the rest as written.

        The password in the user info (and a token as the user) and the
        value of every secret parameter (see :meth:`secrets`) become
        ``[redacted]``; the user, the host, the path and the other
        parameters stay (a store's file or database name is how it is known;
        an output image's path is where it is). Text that is not a URL is
        scrubbed as any text.
        """
        parts = split_url(url)
        if parts is None:
            return self._scrub_text(url)
        return self._shown(parts, parts.path)

    def in_text(self, url: str) -> str:
        """A URL found in text: as :meth:`masked`, and each path segment holding a token replaced.

        A segment holds a token when it holds a credential (as text does),
        or a run of letters and digits of 24 or more, or of 16 or more with
        both letters and digits (``/ingest/T0KENx9QmZ7rPq2Lw8Vn``).
        """
        parts = split_url(url)
        if parts is None:
            return REDACTED
        path = "/".join(REDACTED if self.token(s) else s for s in parts.path.split("/"))
        return self._shown(parts, path)

    def secrets(self, url: str) -> tuple[str, ...]:
        """The secrets a URL holds, as written and decoded: its password, its secret parameters.

        For hiding them wherever else they may appear (a driver that quotes a
        host or a file name that happens to be the password).
        """
        parts = split_url(url)
        if parts is None:
            return ()
        found = [] if parts.password is None else [parts.password]
        for name, value in parts.parameters():
            if value and self.secret_parameter(name, value):
                found.append(value)
        decoded = [urllib.parse.unquote_plus(secret) for secret in found]
        return tuple(dict.fromkeys(secret for secret in (*found, *decoded) if secret))

    def token(self, segment: str) -> bool:
        """Whether a path segment (or user name) holds a token: see :meth:`in_text`."""
        if self._scrub_text(segment) != segment:
            return True  # a credential, a 32-digit key
        for run in _RUN.findall(segment):
            if len(run) >= _ANY_TOKEN:
                return True
            if len(run) >= _MIXED_TOKEN and not run.isdigit() and not run.isalpha():
                return True
        return False

    def secret_parameter(self, name: str, value: str) -> bool:
        """Whether a URL parameter's value is a secret: by its name, or by what it holds."""
        name = urllib.parse.unquote_plus(name)
        if _SECRET_PARAMETER.search(name) or is_secret_key(name):
            return True
        value = urllib.parse.unquote_plus(value)
        return self._scrub_text(value) != value  # -c password=..., a key, a token

    def _shown(self, parts: UrlParts, path: str) -> str:
        """The URL with ``path``, its user info and query masked, its fragment scrubbed."""
        text = f"{parts.scheme}://"
        if parts.user is not None:
            name = REDACTED if self.token(parts.user) else parts.user  # a token as the user
            if parts.password is None:
                text += f"{name}@"
            elif parts.password in _MASKS:
                text += f"{name}:{parts.password}@"
            else:
                text += f"{name}:{REDACTED}@"
        text += parts.host + path
        if parts.query is not None:
            text += "?" + "&".join(
                f"{name}={REDACTED}"
                if value and value not in _MASKS and self.secret_parameter(name, value)
                else (f"{name}={value}" if value or "=" in item else name)
                for item, name, value in parts.items()
            )
        if parts.fragment is not None:
            text += "#" + self._scrub_text(parts.fragment)
        return text
