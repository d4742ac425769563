"""The OTLP exporter's settings: the arguments given, else the standard environment variables.

What :class:`~aievents.transports.otlp.OtlpTransport` reads, as the
OpenTelemetry exporter specification defines it:

- ``OTEL_EXPORTER_OTLP_ENDPOINT``: the base URL, ``/v1/logs`` and
  ``/v1/metrics`` appended; ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` and
  ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``: one signal's full URL, used as
  it is (they win over the base);
- ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_LOGS_HEADERS``,
  ``OTEL_EXPORTER_OTLP_METRICS_HEADERS``: ``key=value`` pairs separated by
  commas, percent-decoded, names in lowercase (as the SDK reads them); a
  signal's own list replaces the common one for that signal;
- ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value`` pairs, percent-decoded) and
  ``OTEL_SERVICE_NAME``, merged as the SDK's ``Resource.create`` merges
  them: the list, then ``OTEL_SERVICE_NAME`` for ``service.name``, then
  the ``resource_attributes`` given, then the ``service_name`` given (a
  later one wins for its keys; no key is dropped);
- ``OTEL_EXPORTER_OTLP_TIMEOUT``: milliseconds one export may take, as the
  specification says (the Python SDK's exporters read seconds there);
- ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``: ``cumulative``,
  ``delta`` or ``lowmemory`` (the last two mean delta for every instrument
  aievents sends: they are all counters and histograms).

An argument given wins over its variables; a variable set to an empty
value counts as unset. A malformed value raises ``ValueError`` naming the
variable; a header's value is never shown (it holds keys), nor a header
name past its first character that cannot be in one (a value typed where
the name goes), nor an URL but as :func:`aievents._redact.safe_url` shows it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit

from aievents._redact import safe_url
from aievents.encoding.otlp import Temporality

__all__ = ["DEFAULT_ENDPOINT", "OtlpSettings", "check_headers", "settings"]

#: Where the exports go when nothing says otherwise: the collector on this host.
DEFAULT_ENDPOINT: Final = "http://127.0.0.1:4318"
#: Seconds one export may take when nothing says otherwise.
DEFAULT_TIMEOUT: Final = 30.0
_PREFIX: Final = "OTEL_EXPORTER_OTLP_"
#: An HTTP header name (RFC 9110 token).
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: The leading run of header-name characters (what an error may show of a bad name).
_TOKEN_LEAD: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]*")
#: A leading run an error may show: what header names look like, not what keys do.
_SHOWN_NAME: Final = re.compile(r"[A-Za-z][A-Za-z-]{0,39}")
#: What a header value may hold: visible ASCII, spaces and tabs.
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")
_TEMPORALITIES: Final[Mapping[str, Temporality]] = {
    "cumulative": "cumulative",
    "delta": "delta",
    "lowmemory": "delta",
}


class OtlpSettings(NamedTuple):
    """Where and how the exports go, the arguments and the environment resolved."""

    logs_url: str
    metrics_url: str
    logs_headers: dict[str, str]
    metrics_headers: dict[str, str]
    resource: dict[str, str | bool | int | float]
    service_name: str | None
    request_timeout: float
    temporality: Temporality


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's value, None when unset or empty."""
    value = environ.get(name, "").strip()
    return value or None


def _url(name: str, value: str) -> str:
    """``value`` if it is an http or https URL with a host, and a valid port if any."""
    try:
        parts = urlsplit(value)
    except ValueError:  # "Invalid IPv6 URL": an unclosed bracket
        raise ValueError(
            f"{name} has a malformed IPv6 address (unbalanced brackets), got {safe_url(value)!r}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{name} must be an http:// or https:// URL with a host, got {safe_url(value)!r}"
        )
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        raise ValueError(
            f"{name} has an invalid port (a number from 0 to 65535), got {safe_url(value)!r}"
        ) from None
    return value


def _entries(name: str, value: str) -> list[tuple[int, str, str]]:
    """A ``key=value,key=value`` list, percent-decoded and numbered; no value shown in errors."""
    found: list[tuple[int, str, str]] = []
    for number, entry in enumerate(value.split(","), 1):
        if not entry.strip():
            continue
        key, equals, item = entry.partition("=")
        key = unquote(key).strip()
        if not equals or not key:
            raise ValueError(
                f"{name}: entry {number} is not a key=value pair "
                "(expected key=value pairs separated by commas; the value is not shown)"
            )
        found.append((number, key, unquote(item).strip()))
    return found


def _shown_name(key: object) -> str:
    """What an error may show of a bad header name: its leading run of name characters, or not.

    Past the first character a header name cannot hold, the text may be a
    value typed in its place (``Authorization: Basic ...``): never shown.
    The leading run is shown only when it looks like a name (letters and
    hyphens, 40 at most), as a key pasted there would not.
    """
    lead = _TOKEN_LEAD.match(key) if isinstance(key, str) else None
    if lead is None or not _SHOWN_NAME.fullmatch(lead.group()):
        return "not shown"
    return f"starting {lead.group()!r}; the rest not shown"


def check_headers(name: str, headers: Iterable[tuple[int, object, object]]) -> dict[str, str]:
    """Numbered header entries as a dict, names in lowercase, if each can be sent.

    Raises:
        ValueError: naming ``name`` and the entry, never a value.
    """
    found: dict[str, str] = {}
    for number, key, value in headers:
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            raise ValueError(
                f"{name}: entry {number}: invalid header name ({_shown_name(key)}; a name "
                "holds letters, digits and !#$%&'*+-.^_`|~ only)"
            )
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(
                f"{name}: the value of header {key!r} must be text of visible ASCII "
                "characters and spaces (the value is not shown)"
            )
        found[key.lower()] = value
    return found


def _timeout(environ: Mapping[str, str]) -> float | None:
    """``OTEL_EXPORTER_OTLP_TIMEOUT`` in seconds, if set."""
    name = f"{_PREFIX}TIMEOUT"
    value = _env(environ, name)
    if value is None:
        return None
    try:
        milliseconds = float(value)
    except ValueError:
        milliseconds = float("nan")
    if not milliseconds > 0 or milliseconds == float("inf"):
        raise ValueError(f"{name} must be a positive number of milliseconds, got {value!r}")
    return milliseconds / 1000.0


def _temporality(environ: Mapping[str, str]) -> Temporality:
    """``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` as the temporality to send."""
    name = f"{_PREFIX}METRICS_TEMPORALITY_PREFERENCE"
    value = _env(environ, name)
    if value is None:
        return "delta"
    found = _TEMPORALITIES.get(value.lower())
    if found is None:
        raise ValueError(f"{name} must be cumulative, delta or lowmemory, got {value!r}")
    return found


def _urls(endpoint: str | None, env: Mapping[str, str]) -> dict[str, str]:
    """The URL of each signal: ``endpoint``'s, else the variables', else the default's."""
    urls: dict[str, str] = {}
    for signal in ("logs", "metrics"):
        own = None if endpoint is not None else _env(env, f"{_PREFIX}{signal.upper()}_ENDPOINT")
        base = None if endpoint is not None else _env(env, f"{_PREFIX}ENDPOINT")
        if own is not None:
            urls[signal] = _url(f"{_PREFIX}{signal.upper()}_ENDPOINT", own)
        elif base is not None:
            urls[signal] = f"{_url(f'{_PREFIX}ENDPOINT', base).rstrip('/')}/v1/{signal}"
        else:
            base = _url("endpoint", endpoint or DEFAULT_ENDPOINT)
            urls[signal] = f"{base.rstrip('/')}/v1/{signal}"
    return urls


def _headers(
    headers: Mapping[str, str] | None, env: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The headers of each signal: ``headers``, else the signal's variable, else the common one."""
    if headers is not None:
        numbered = [(number, k, v) for number, (k, v) in enumerate(headers.items(), 1)]
        given = check_headers("headers", numbered)
        return {"logs": given, "metrics": dict(given)}
    found: dict[str, dict[str, str]] = {}
    for name in (f"{_PREFIX}LOGS_HEADERS", f"{_PREFIX}METRICS_HEADERS", f"{_PREFIX}HEADERS"):
        value = _env(env, name)
        if value is not None:
            found[name] = check_headers(name, _entries(name, value))
    common = found.get(f"{_PREFIX}HEADERS", {})
    return {
        signal: dict(found.get(f"{_PREFIX}{signal.upper()}_HEADERS", common))
        for signal in ("logs", "metrics")
    }


def _resource(
    env: Mapping[str, str],
    resource_attributes: Mapping[str, str | bool | int | float] | None,
    service_name: str | None,
) -> dict[str, str | bool | int | float]:
    """The resource attributes, merged as the SDK's ``Resource.create`` merges them.

    ``OTEL_RESOURCE_ATTRIBUTES``, then ``OTEL_SERVICE_NAME``, then
    ``resource_attributes``, then ``service_name``: each later one wins for
    its keys, and no key is dropped.
    """
    name = "OTEL_RESOURCE_ATTRIBUTES"
    listed = _env(env, name)
    resource: dict[str, str | bool | int | float] = (
        {} if listed is None else {key: item for _, key, item in _entries(name, listed)}
    )
    env_service = _env(env, "OTEL_SERVICE_NAME")
    if env_service is not None:
        resource["service.name"] = env_service
    resource.update(resource_attributes or {})
    if service_name is not None:
        resource["service.name"] = service_name
    return resource


def settings(
    endpoint: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    service_name: str | None = None,
    resource_attributes: Mapping[str, str | bool | int | float] | None = None,
    request_timeout: float | None = None,
    temporality: Temporality | None = None,
    environ: Mapping[str, str] | None = None,
) -> OtlpSettings:
    """The settings: each argument given, else its environment variables, else the default.

    Raises:
        ValueError: an argument or a variable is malformed (named).
    """
    env = os.environ if environ is None else environ
    urls = _urls(endpoint, env)
    signal_headers = _headers(headers, env)
    resource = _resource(env, resource_attributes, service_name)
    named = resource.get("service.name")
    service_name = named if isinstance(named, str) else None
    if request_timeout is None:
        request_timeout = _timeout(env) or DEFAULT_TIMEOUT
    if temporality is None:
        temporality = _temporality(env)
    return OtlpSettings(
        logs_url=urls["logs"],
        metrics_url=urls["metrics"],
        logs_headers=signal_headers["logs"],
        metrics_headers=signal_headers["metrics"],
        resource=resource,
        service_name=service_name,
        request_timeout=request_timeout,
        temporality=temporality,
    )
