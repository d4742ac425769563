"""Instrument the openai SDK's image calls: :func:`instrument_openai`.

``instrument_openai()`` wraps ``images.generate``, ``images.edit`` and
``images.create_variation`` of the SDK's classes, so that every client of
the process reports (sync and async, Azure, made before or after, inside
other libraries, derived, the module's own); ``instrument_openai(client)``
wraps those of one ``OpenAI`` or ``AsyncOpenAI`` instance. Each call
(streaming included) emits, all with one request id (OpenAI's
``x-request-id`` when the answer carries it, otherwise a generated one):

1. ``image:request:started`` once the request id is known (when the answer
   or the stream arrives), stamped with the time the call began;
2. ``image:request:completed``, or ``image:request:error`` with the error
   type, message and HTTP status;
3. ``image:usage`` with the usage the answer reported and the exact cost
   (``None`` when the price table cannot tell it).

Calls through ``with_raw_response`` and ``with_streaming_response`` report
the same once their body is parsed or read. A body or stream the caller
lets go of before its end (never read, or read in part) is counted with the
images asked for (``n``), priced per image where the price table can,
stamped with the time the answer arrived: when the response or stream is
closed, or, once it is garbage-collected (or its reading abandoned), at the
next instrumented call, ``EventClient.flush()``/``close()``, or the end of
the process, whichever comes first. ``instrument_openai(openai)`` covers
the SDK's module-level client.

What the SDK returns and raises reaches the caller unchanged (a stream is
the SDK's own object; its events pass through untouched). Prompts and image
data stay out of the events unless you opt in. ``instrument_openai`` twice
is the same as once; :func:`uninstrument_openai` restores the classes, or
the client. Each call is reported once, however many wrappers it passes
(a client instrumented on its own and through the classes: its own
settings report it). The events name the provider from the client's base
URL (``azure``, ``xai``, ``openrouter``, ``openai``, or its host).

Azure OpenAI clients (``AzureOpenAI``, ``AsyncAzureOpenAI``) call a model by
its deployment name: the events keep the deployment as ``model``, and
``deployments={"deployment": "model"}`` says which model to price each one
as (the cost's ``priced_model``).

Needs the ``openai`` extra: ``pip install 'aievents[openai]'``.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypedDict, TypeVar, overload

from aievents.client import EventClient
from aievents.instrument import _openai_classes as classes
from aievents.instrument._openai_answers import safe
from aievents.instrument._openai_call import (
    PROVIDER,
    Endpoint,
    Settings,
    checked_deployments,
    endpoint_of,
)
from aievents.instrument._openai_holders import cached_holders, calls_into
from aievents.instrument._openai_kinds import KINDS
from aievents.instrument._openai_wrap import wrap
from aievents.instrument._patches import Patches
from aievents.pricing import PriceBook, PriceTable, book_for

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai"]

C = TypeVar("C")

_MARK: Final = "_aievents_instrumentation"


class _Options(TypedDict, total=False):
    """The settings :func:`instrument_openai` takes (see there)."""

    events: EventClient | None
    prices: PriceBook | PriceTable | None
    capture_prompts: bool
    capture_outputs: bool
    deployments: Mapping[str, str] | None


@overload
def instrument_openai(client: None = None, **options: Unpack[_Options]) -> None: ...


@overload
def instrument_openai(client: C, **options: Unpack[_Options]) -> C: ...


def instrument_openai(
    client: Any = None,
    *,
    events: EventClient | None = None,
    prices: PriceBook | PriceTable | None = None,
    capture_prompts: bool = False,
    capture_outputs: bool = False,
    deployments: Mapping[str, str] | None = None,
) -> Any:
    """Report the image calls of every openai client, or of one, as events.

    The image calls are ``images.generate``, ``images.edit``,
    ``images.create_variation``, and ``responses.create`` (or ``parse``) with the
    ``image_generation`` tool (a call without it is not reported).

    With no ``client``, the SDK's classes are instrumented: every client of
    the process, made before or after this call (``OpenAI``,
    ``AsyncOpenAI``, ``AzureOpenAI``, ``AsyncAzureOpenAI``, clients made
    inside other libraries, those derived with ``with_options()`` or
    ``copy()``, the module's own ``openai.images``), reports its calls,
    raw and streamed-response ones included. One limit: a
    ``with_raw_response`` or ``with_streaming_response`` object kept from
    before this call (``raw = client.images.with_raw_response``) holds the
    SDK's own methods, bound when it was built, and is not reported; the
    one the client gives from now on is (and ``instrument_openai(client)``
    points the kept ones of that client at its instrumented methods).

    With a ``client``, only that client (and those derived from it with
    ``with_options()`` or ``copy()``, which use its settings as they are at
    each call, and are undone with it, until ``instrument_openai`` gives
    one of them settings of its own; each can be uninstrumented alone). A client instrumented on its
    own keeps its own settings for its calls when the classes are
    instrumented too: each call is reported once, by the settings of the
    client's own instrumentation.

    The ``openai`` module itself stands for its module-level client
    (``openai.images.generate(...)`` after setting ``openai.api_key``): the
    client behind the module's proxies is instrumented, as it is loaded
    then (the SDK makes it once, from the module's settings).

    Each event names the provider the client talks to, from its base URL:
    ``azure``, ``xai``, ``openrouter``, ``openai``, or the URL's host for
    any other OpenAI-compatible API.

    Args:
        client: An openai client instance (sync or async, Azure included),
            the ``openai`` module, or None for every client.
        events: The event client to emit on; the default client when omitted
            (looked up at each call, so ``capture_events()`` sees them).
        prices: The :class:`~aievents.pricing.PriceBook` to price with; the
            process default book when omitted.
        capture_prompts: Copy prompts into the started events.
        capture_outputs: Copy image URLs and data into the completed events.
        deployments: Azure deployment names and the model each one runs
            (``{"prod-images": "gpt-image-2"}``). The events keep the
            deployment as ``model`` (the name in the call, or the client's
            ``azure_deployment``); the cost is that of the model it maps to
            (``cost.priced_model``). A deployment named after its model, or
            one the price table lists as an alias, needs no entry; one
            neither mapped nor priced costs ``None``.

    Returns:
        The same client, instrumented (None when no client is given).
        Calling this again only updates the settings; the methods are
        wrapped once.

    Raises:
        TypeError: ``client`` has no ``images`` resource with any of
            ``generate``, ``edit`` or ``create_variation`` (a client class
            rather than an instance, say), or ``deployments`` is not a
            mapping.
        FieldValueError: a deployment name or model is not a non-empty
            string (nothing is changed).
        openai.OpenAIError: ``client`` is the ``openai`` module and the SDK
            cannot make its client yet (no API key set).
    """
    settings = Settings(
        events=events,
        prices=book_for(prices),
        capture_prompts=capture_prompts,
        capture_outputs=capture_outputs,
        deployments=checked_deployments(deployments),
    )
    if client is None:
        classes.instrument_classes(settings)
        return None
    target = _resolved(client)
    with _LOCK:
        installed = _installed(target)
        if installed is not None:
            # Its own settings from now on; the clients derived from it follow them.
            installed.own = settings
            installed.active = True
            return client
        _install(target, settings)
    return client


class _Installed:
    """One client's instrumentation: its settings, whether it reports, what it changed.

    A client derived with ``with_options()``/``copy()`` gets an install of
    its own, with its own ``active`` flag (undoing the derived client leaves
    its parent reporting), that uses its parent's settings, as they are at
    each call, until it is given settings of its own. Until then it is also
    undone with its parent (:attr:`active` follows the parent's).
    """

    def __init__(self, client: Any, own: Settings | None, parent: _Installed | None = None) -> None:
        self.client = weakref.ref(client)
        self.own = own
        self.parent = parent
        self.undone = False
        self.patches = Patches()
        #: The wrappers made for the client's methods.
        self.wrappers: set[Any] = set()
        #: The clients derived from this one since (undone with it while they have no settings).
        self.derived: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def active(self) -> bool:
        """Whether its calls are reported: not undone, nor its parent while it follows it."""
        installed: _Installed | None = self
        while installed is not None:
            if installed.undone:
                return False
            installed = installed.parent if installed.own is None else None
        return True

    @active.setter
    def active(self, value: bool) -> None:
        self.undone = not value

    @property
    def settings(self) -> Settings:
        """The settings in force: this client's own, else its parent's."""
        installed = self
        while installed.own is None and installed.parent is not None:
            installed = installed.parent
        assert installed.own is not None  # the first install has its own
        return installed.own

    def endpoint(self, args: tuple[Any, ...]) -> Endpoint:
        """Where the client's calls go now (its base URL may have changed since)."""
        client = self.client()
        return endpoint_of(client) if client is not None else Endpoint(PROVIDER)

    def patch(self, target: Any, name: str, value: Any) -> None:
        """Set ``target.name`` to ``value``, noting what it held for :func:`uninstrument_openai`."""
        self.patches.patch(target, name, value)


#: Held while a client is instrumented or undone (so racing calls install once).
_LOCK: Final = threading.RLock()


def _resolved(client: Any) -> Any:
    """The client whose resources to wrap: ``client``, or the one behind a module's proxies.

    The ``openai`` module's ``images`` is the SDK's lazy proxy of the module
    client's resource: it forwards each attribute (``with_raw_response``
    too) to the real resource, so that is where the methods are wrapped.
    Loading it makes the module client, as the first call through it would.
    """
    images = getattr(client, "images", None)
    load = getattr(type(images), "__get_proxied__", None)
    if load is None:
        return client
    real = load(images)
    owner = getattr(real, "_client", None)
    return owner if owner is not None and getattr(owner, "images", None) is real else client


def _loaded(client: Any) -> Any:
    """:func:`_resolved`, or None when a module client cannot be made (so was never wrapped)."""
    try:
        return _resolved(client)
    except Exception:  # noqa: BLE001 - the SDK's error for a module client not set up
        return None


def _installed(client: Any) -> _Installed | None:
    images = getattr(client, "images", None)
    found = getattr(images, _MARK, None) if images is not None else None
    return found if isinstance(found, _Installed) else None


def _install(client: Any, own: Settings | None, parent: _Installed | None = None) -> _Installed:
    """Wrap ``client``'s image methods (and wrappers, and derive methods) for an install of its own.

    Raises:
        TypeError: ``client`` has no ``images`` resource with an image method.
    """
    images = getattr(client, "images", None)
    if images is None or not any(callable(getattr(images, m, None)) for m in KINDS[0].methods):
        hint = " (a client class: call instrument_openai() for every client)"
        raise TypeError(
            f"instrument_openai needs an openai client, got {client!r}"
            + (hint if isinstance(client, type) else "")
        )
    installed = _Installed(client, own, parent)
    for kind in KINDS:
        resource = getattr(client, kind.resource, None)
        methods = [name for name in kind.methods if callable(getattr(resource, name, None))]
        for name in methods:
            ours = wrap(getattr(resource, name), kind.methods[name], installed, resource)
            installed.wrappers.add(ours)
            installed.patch(resource, name, ours)
        for _, _, holder in cached_holders(client, resource, kind.resource):
            safe(functools.partial(_rewrap, installed, holder, resource, methods))
    for name in ("copy", "with_options"):
        derive = getattr(client, name, None)
        if callable(derive):
            installed.patch(client, name, _wrap_derive(derive, installed))
    setattr(images, _MARK, installed)
    return installed


def _rewrap(installed: _Installed, holder: Any, resource: Any, methods: list[str]) -> None:
    """Point a wrapper built before instrumenting at our methods, as the SDK would now."""
    fresh = type(holder)(resource)
    for name in methods:
        if name in vars(holder):
            installed.patch(holder, name, getattr(fresh, name))


def _wrap_derive(derive: Callable[..., Any], installed: _Installed) -> Any:
    """``with_options()``/``copy()`` that instrument the client they make."""

    @functools.wraps(derive)
    def make(*args: Any, **kwargs: Any) -> Any:
        derived = derive(*args, **kwargs)
        safe(functools.partial(_derived, derived, installed))
        return derived

    return make


def _derived(client: Any, parent: _Installed) -> None:
    """Instrument ``client``, derived from ``parent``'s client, to follow it."""
    with _LOCK:
        if parent.active and _installed(client) is None:
            _install(client, None, parent)
            parent.derived.add(client)


@overload
def uninstrument_openai(client: None = None) -> None: ...


@overload
def uninstrument_openai(client: C) -> C: ...


def uninstrument_openai(client: Any = None) -> Any:
    """Undo :func:`instrument_openai`; harmless where nothing is instrumented.

    With no ``client``, the SDK's classes get their own methods back (the
    very objects they had). With a ``client``, that client's do; the client
    it was derived from reports as before; those derived from it stop
    reporting too, unless ``instrument_openai`` gave them settings of their
    own. Each reports still while the classes are instrumented.

    Where another library wrapped ours in the meantime, its wrapper is left
    in place and ours passes calls through without reporting them.
    """
    if client is None:
        classes.uninstrument_classes()
        return None
    resolved = _loaded(client)
    with _LOCK:
        _uninstall(resolved)
    return client


def _uninstall(resolved: Any) -> None:
    """Undo ``resolved``'s instrumentation and that of the clients following it (lock held)."""
    installed = _installed(resolved)
    if installed is None:
        return
    installed.active = False
    for derived in list(installed.derived):
        found = _installed(derived)
        if found is not None and found.parent is installed and found.own is None:
            _uninstall(derived)
    installed.patches.undo()  # where wrapped again by someone else: theirs stays, ours is inert
    for kind in KINDS:
        resource = getattr(resolved, kind.resource, None)
        for owner, attribute, holder in cached_holders(resolved, resource, kind.resource):
            if calls_into(holder, kind.methods, installed.wrappers):
                del owner.__dict__[attribute]  # built on ours: the SDK builds it again
    delattr(resolved.images, _MARK)


def is_instrumented(client: Any = None) -> bool:
    """Whether image calls are reported: the SDK's classes' (no ``client``), or ``client``'s.

    A client's calls are reported when it is instrumented on its own or
    through the SDK's classes.
    """
    if client is None:
        return classes.classes_instrumented()
    resolved = _loaded(client)
    if _installed(resolved) is not None:
        return True
    return classes.reports(getattr(resolved, "images", None))
