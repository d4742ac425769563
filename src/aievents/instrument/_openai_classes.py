"""Process-wide openai instrumentation: the SDK's classes, so every client reports.

:func:`instrument_classes` wraps the methods :data:`KINDS` lists on the
SDK's classes (``Images.generate``, ``AsyncImages.edit``...): every client,
made before or after, sync or async, Azure or not, derived with
``with_options()``/``copy()`` or the module's own, calls them. The provider
and Azure deployment of each call come from its client (:func:`endpoint_of`).

The SDK caches its raw and streamed-response wrappers on each object
(``images.with_raw_response``); one built before instrumenting would call
the SDK's methods directly. While instrumented, those cached properties are
replaced by :class:`_Fresh`, which gives a wrapper built from the wrapped
methods instead (cached where the SDK caches it, and dropped again when
undone, so that the SDK rebuilds its own).

:func:`uninstrument_classes` puts back every attribute it changed, by
identity, unless someone replaced ours since: theirs stays, and ours passes
calls through without reporting them.
"""

from __future__ import annotations

import functools
import importlib
import threading
import weakref
from typing import Any, Final

from aievents._extras import require_extra
from aievents.instrument._openai_call import Endpoint, Settings, endpoint_of
from aievents.instrument._openai_holders import HOLDERS
from aievents.instrument._openai_kinds import KINDS
from aievents.instrument._openai_wrap import wrap
from aievents.instrument._patches import Patches

__all__ = ["classes_instrumented", "instrument_classes", "reports", "uninstrument_classes"]

#: The SDK resource's attribute that holds the client it belongs to.
_OWNER: Final = "_client"
#: How the classes of the client-level holders (``client.with_raw_response.images``...)
#: of ``openai._client`` end: ``OpenAIWithRawResponse``, ``AsyncOpenAIWithStreamedResponse``...
_CLIENT_HOLDERS: Final = ("WithRawResponse", "WithStreamedResponse")


class _Classes:
    """The SDK's classes instrumented: the settings, whether active, what was changed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.active = True
        #: The attributes changed, and what they held.
        self.patches = Patches()
        #: The classes whose objects report (for ``is_instrumented(client)``).
        self.classes: tuple[type, ...] = ()
        #: The holders :class:`_Fresh` built, each with (its owner, weakly; its attribute).
        self.built: weakref.WeakKeyDictionary[Any, tuple[weakref.ref[Any], str]] = (
            weakref.WeakKeyDictionary()
        )

    def endpoint(self, args: tuple[Any, ...]) -> Endpoint:
        """The endpoint of the resource's client (``args[0]`` is the resource)."""
        return endpoint_of(getattr(args[0], _OWNER))

    def patch(self, cls: type, name: str, value: Any) -> None:
        """Set ``cls.name`` to ``value``, noting what it held."""
        self.patches.patch(cls, name, value)


class _Fresh:
    """An SDK cached property of raw/streamed-response wrappers, rebuilt from wrapped methods.

    A data descriptor, so that it is asked before the object's own cache:
    a wrapper cached before instrumenting (calling the SDK's methods) is
    replaced by one built now; one this descriptor built is kept.
    """

    def __init__(self, original: functools.cached_property[Any], state: _Classes) -> None:
        self.original = original
        self.state = state
        self.name = original.attrname or original.func.__name__
        functools.update_wrapper(self, original.func)  # type: ignore[arg-type]

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        held = instance.__dict__.get(self.name)
        if held is not None and held in self.state.built:
            return held
        fresh = self.original.func(instance)
        instance.__dict__[self.name] = fresh
        self.state.built[fresh] = (weakref.ref(instance), self.name)
        return fresh

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.name] = value

    def __delete__(self, instance: Any) -> None:
        instance.__dict__.pop(self.name, None)


class _Current:
    """The process's one instrumentation of the classes, if any."""

    state: _Classes | None = None


_CURRENT: Final = _Current()
_LOCK: Final = threading.Lock()


def instrument_classes(settings: Settings) -> None:
    """Wrap the SDK's classes with ``settings``; already wrapped: the settings only change.

    Raises:
        ImportError: the openai SDK is not installed (naming the ``openai`` extra).
    """
    require_extra("instrument_openai()", "openai", ("openai",))
    with _LOCK:
        if _CURRENT.state is not None:
            _CURRENT.state.settings = settings
            return
        state = _Classes(settings)
        classes: list[type] = []
        for kind in KINDS:
            module = importlib.import_module(kind.module)
            for name in kind.classes:
                cls = getattr(module, name)
                classes.append(cls)
                for method, begin in kind.methods.items():
                    original = cls.__dict__.get(method)
                    if callable(original):
                        state.patch(cls, method, wrap(original, begin, state, cls))
                _fresh(state, cls, HOLDERS)
        client_module = importlib.import_module("openai._client")
        for name, cls in vars(client_module).items():
            if isinstance(cls, type) and name.endswith(_CLIENT_HOLDERS):
                _fresh(state, cls, [kind.resource for kind in KINDS])
        state.classes = tuple(classes)
        _CURRENT.state = state


def _fresh(state: _Classes, cls: type, names: Any) -> None:
    for name in names:
        original = cls.__dict__.get(name)
        if isinstance(original, functools.cached_property):
            state.patch(cls, name, _Fresh(original, state))


def uninstrument_classes() -> None:
    """Put the SDK's classes back as they were; harmless when not instrumented."""
    with _LOCK:
        state, _CURRENT.state = _CURRENT.state, None
        if state is None:
            return
        state.active = False
        state.patches.undo()  # where wrapped again since: theirs stays
        for holder, (owner, name) in list(state.built.items()):
            found = owner()
            if found is not None and found.__dict__.get(name) is holder:
                del found.__dict__[name]  # the SDK builds its own again


def classes_instrumented() -> bool:
    """Whether the SDK's classes are instrumented."""
    return _CURRENT.state is not None


def reports(resource: Any) -> bool:
    """Whether calls of ``resource`` (``client.images``) are reported through the classes."""
    state = _CURRENT.state
    return state is not None and isinstance(resource, state.classes)
