"""The OTLP exporter's settings: the arguments given, else the standard environment variables.

What :class:`~aievents.transports.otlp.OtlpTransport` reads, as the
OpenTelemetry exporter specification defines it:

- ``OTEL_EXPORTER_OTLP_ENDPOINT``: the base URL, ``/v1/logs`` and
  ``/v1/metrics`` appended; ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` and
  ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``: one signal's full URL, used as
  it is (they win over the base);
- ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_LOGS_HEADERS``,
  ``OTEL_EXPORTER_OTLP_METRICS_HEADERS``: ``key=value`` pairs separated by
  commas, values percent-decoded; a signal's own list replaces the common
  one for that signal;
- ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value``
  pairs, percent-decoded; ``OTEL_SERVICE_NAME`` wins for ``service.name``);
- ``OTEL_EXPORTER_OTLP_TIMEOUT``: milliseconds one export may take;
- ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``: ``cumulative``,
  ``delta`` or ``lowmemory`` (the last two mean delta for every instrument
  aievents sends: they are all counters and histograms).

An argument given wins over its variables; a variable set to an empty
value counts as unset. A malformed value raises ``ValueError`` naming the
variable; a header's value is never shown (it holds keys), nor an URL but
as :func:`aievents._redact.safe_url` shows it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
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
    """``value`` if it is an http or https URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{name} must be an http:// or https:// URL with a host, got {safe_url(value)!r}"
        )
    return value


def _pairs(name: str, value: str) -> dict[str, str]:
    """A ``key=value,key=value`` list, percent-decoded; its values never shown in errors."""
    found: dict[str, str] = {}
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
        found[key] = unquote(item).strip()
    return found


def check_headers(name: str, headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` as a dict, if each name is a header name and each value can be sent.

    Raises:
        ValueError: naming ``name`` and the header, never its value.
    """
    for key, value in headers.items():
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            raise ValueError(f"{name}: {key!r} is not a valid header name")
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(
                f"{name}: the value of header {key!r} must be text of visible ASCII "
                "characters and spaces (the value is not shown)"
            )
    return dict(headers)


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
        given = check_headers("headers", headers)
        return {"logs": given, "metrics": dict(given)}
    found: dict[str, dict[str, str]] = {}
    for name in (f"{_PREFIX}LOGS_HEADERS", f"{_PREFIX}METRICS_HEADERS", f"{_PREFIX}HEADERS"):
        value = _env(env, name)
        if value is not None:
            found[name] = check_headers(name, _pairs(name, value))
    common = found.get(f"{_PREFIX}HEADERS", {})
    return {
        signal: dict(found.get(f"{_PREFIX}{signal.upper()}_HEADERS", common))
        for signal in ("logs", "metrics")
    }


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
    if resource_attributes is None:
        listed = _env(env, "OTEL_RESOURCE_ATTRIBUTES")
        resource: dict[str, str | bool | int | float] = (
            {} if listed is None else dict(_pairs("OTEL_RESOURCE_ATTRIBUTES", listed))
        )
    else:
        resource = dict(resource_attributes)
    if service_name is None:
        service_name = _env(env, "OTEL_SERVICE_NAME")
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
