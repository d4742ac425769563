"""The openai SDK's resources that make images, and the call kind of each method.

Per-client and process-wide instrumentation both wrap what :data:`KINDS`
lists: a client's resource (``client.images``), the SDK classes it is an
instance of (``Images``, ``AsyncImages``), and for each method the begin
function of its call kind (see :mod:`aievents.instrument._openai_wrap`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from aievents.instrument import _openai_images as images
from aievents.instrument import _openai_responses as responses
from aievents.instrument._openai_wrap import Begin

__all__ = ["KINDS", "Kind"]


@attrs.frozen
class Kind:
    """One resource of an openai client whose methods are reported."""

    #: The client's attribute (``images``).
    resource: str
    #: The SDK module that defines its classes (``openai.resources.images``).
    module: str
    #: Its sync and async classes (``Images``, ``AsyncImages``).
    classes: tuple[str, str]
    #: Its methods, each with the begin function of its call kind.
    methods: Mapping[str, Begin]


KINDS: Final = (
    Kind("images", "openai.resources.images", ("Images", "AsyncImages"), images.BEGIN),
    # The Responses API: its image_generation tool (a call without it is not reported),
    # through create() or parse() (create()'s answer parsed into the caller's text format).
    Kind(
        "responses",
        "openai.resources.responses",
        ("Responses", "AsyncResponses"),
        {"create": responses.begin, "parse": responses.begin},
    ),
)
