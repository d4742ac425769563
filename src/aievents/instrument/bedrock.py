"""Instrument Amazon Bedrock's image models (boto3 ``bedrock-runtime``): :func:`instrument_bedrock`.

``instrument_bedrock()`` reports the ``invoke_model`` calls of every
``bedrock-runtime`` client, made before or after: botocore makes each
client's class when the client is made, and every one of them sends its
calls through ``botocore.client.BaseClient._make_api_call``, which is
wrapped. Another service's call (S3, DynamoDB...) pays one check of its
operation name. ``instrument_bedrock(client)`` reports one client's calls
only. A call of an image model (Amazon Nova Canvas, Titan Image Generator,
Stability's models; see :mod:`aievents.instrument._bedrock_request` for
the rule) emits, all with Bedrock's request id:

1. ``image:request:started``, stamped with the time the call began, with
   what the request body asks for (task as operation, count, quality,
   ``width`` x ``height`` as size; Stability's aspect ratio);
2. ``image:request:completed`` with the images the answer holds (those a
   filter held back not counted), or ``image:request:error`` for a
   ``ClientError`` (``ValidationException`` 400, ``ThrottlingException``
   429, ``ModelErrorException`` 500...) with its HTTP status;
3. ``image:usage`` priced per image from the price table (``None`` for a
   model it does not list).

A text model's call (``anthropic.*``, ``amazon.nova-lite-*``...) goes to
the SDK untouched: no event, its body not read. The answer's ``body`` is
read here and replaced with a ``StreamingBody`` over the same bytes: the
caller reads exactly what Bedrock sent. botocore has no async client.

Instrumenting twice is the same as once; :func:`uninstrument_bedrock` undoes
it. A client instrumented on its own and process-wide reports each call
once (through its own instrumentation's settings). AWS credentials are
never read.

Needs the ``bedrock`` extra: ``pip install 'aievents[bedrock]'``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, TypeVar

from aievents._extras import import_extra
from aievents.client import EventClient
from aievents.instrument._bedrock_call import OPERATIONS, SERVICE, BedrockCall, begin_call
from aievents.instrument._installs import Installs
from aievents.instrument._settings import Settings
from aievents.instrument._wrap import Installation, wrap
from aievents.pricing import PriceBook, PriceTable, book_for

__all__ = ["instrument_bedrock", "is_instrumented", "uninstrument_bedrock"]

C = TypeVar("C")

_METHOD: Final = "_make_api_call"
#: The process-wide instrumentation and the clients' own.
_INSTALLS: Final = Installs[Settings]()


def _reported(installed: Installation[Settings], send: Callable[..., Any]) -> Any:
    """``send(client, operation, params)`` reported for ``installed``."""

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> BedrockCall | None:
        return begin_call(installed.settings, args[1], args[2])

    return wrap(send, begin, installed, source="bedrock", asynchronous=False)


def _install_process(installed: Installation[Settings], base: type) -> None:
    """Wrap ``BaseClient._make_api_call``: Bedrock's invocations reported, the rest passed on."""
    original = base.__dict__[_METHOD]
    reported = _reported(installed, original)

    @functools.wraps(original)
    def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        if operation_name in OPERATIONS and _service(self) == SERVICE:
            return reported(self, operation_name, api_params)
        return original(self, operation_name, api_params)

    installed.patch(base, _METHOD, _make_api_call)


def _install_client(installed: Installation[Settings], client: Any) -> None:
    """Give ``client`` its own ``_make_api_call``: its invocations reported."""

    def send(target: Any, operation_name: str, api_params: Any) -> Any:
        # The class's method, looked up now: a process-wide wrapper there passes it on.
        return getattr(type(target), _METHOD)(target, operation_name, api_params)

    reported = _reported(installed, send)

    def _make_api_call(operation_name: str, api_params: Any) -> Any:
        if operation_name in OPERATIONS:
            return reported(client, operation_name, api_params)
        return send(client, operation_name, api_params)

    installed.patch(client, _METHOD, _make_api_call)


def _service(client: Any) -> str | None:
    """The botocore service ``client`` calls (``bedrock-runtime``), None for anything else."""
    name = getattr(getattr(client, "_service_model", None), "service_name", None)
    return name if isinstance(name, str) else None


def _check_client(client: Any, what: str) -> None:
    """Refuse anything but a ``bedrock-runtime`` client.

    Raises:
        TypeError: ``client`` is not a botocore client of ``bedrock-runtime``.
    """
    service = _service(client)
    if service != SERVICE or not hasattr(client, "__dict__"):
        shown = f"a {service} client" if service else type(client).__name__
        raise TypeError(
            f"{what} needs a boto3 client of {SERVICE!r} (boto3.client({SERVICE!r})), got {shown}"
        )


def instrument_bedrock(
    client: C | None = None,
    *,
    events: EventClient | None = None,
    prices: PriceBook | PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
) -> C | None:
    """Report the images Amazon Bedrock's image models make as events.

    Args:
        client: A boto3 ``bedrock-runtime`` client: only its calls are
            reported. None (the default): every ``bedrock-runtime``
            client's, made before or after.
        events: Where the events go: the default event client (looked up
            at each call, so ``capture_events()`` sees them) when omitted.
        prices: The :class:`~aievents.pricing.PriceBook` (or a table) the
            images are priced with; the process default book when omitted.
        capture_prompts: Copy the task's ``text`` (Stability's ``prompt``)
            into the started events.
        capture_outputs: Copy the answer's base64 images into the completed
            events.

    Returns:
        ``client``, instrumented (None for the process-wide instrumentation).
        Calling this again only updates the settings; the calls are wrapped
        once.

    Raises:
        ImportError: boto3 is not installed (the ``bedrock`` extra).
        TypeError: ``client`` is not a ``bedrock-runtime`` client.
    """
    botocore_client = import_extra("botocore.client", "instrument_bedrock", "bedrock")
    settings = Settings(events, book_for(prices), capture_prompts, capture_outputs)
    if client is None:
        _INSTALLS.process_wide(
            settings, lambda installed: _install_process(installed, botocore_client.BaseClient)
        )
        return None
    _check_client(client, "instrument_bedrock")
    _INSTALLS.on_client(client, settings, lambda installed: _install_client(installed, client))
    return client


def uninstrument_bedrock(client: C | None = None) -> C | None:
    """Undo :func:`instrument_bedrock`; harmless when it was not done.

    With no argument, the process-wide instrumentation; with a client, that
    client's own. botocore's own method comes back; where another library
    wrapped ours in the meantime, its wrapper stays and ours passes calls
    through without reporting them.
    """
    if client is None:
        _INSTALLS.undo_process_wide()
    else:
        _INSTALLS.undo_on_client(client)
    return client


def is_instrumented(client: Any = None) -> bool:
    """Whether Bedrock calls are reported: every client's (no argument), or ``client``'s.

    ``client``'s are when it has its own instrumentation or every client's is
    on. Anything but a ``bedrock-runtime`` client (an S3 client, any other
    object) makes no Bedrock calls to report: False, even with every
    client's on (where :func:`instrument_bedrock` refuses it with
    ``TypeError``, asking is harmless).
    """
    if client is None:
        return _INSTALLS.process is not None
    return _service(client) == SERVICE and _INSTALLS.reports(client)
