"""Amazon Bedrock's model ids: the model an id names, without ARN or cross-region prefix.

A ``modelId`` is a foundation model id (``amazon.nova-canvas-v1:0``), the
same behind a cross-region inference profile prefix
(``us.amazon.nova-canvas-v1:0``), or an ARN: a ``foundation-model/`` or
``inference-profile/`` ARN names the model; any other kind
(``provisioned-model/``, ``custom-model/``...) hides it. The
instrumentation and the local test server read ids the same way, here.
"""

from __future__ import annotations

from typing import Final

__all__ = ["REGION_PREFIXES", "base_model", "foundation_model"]

#: The cross-region inference profile prefixes (``us.amazon.nova-canvas-v1:0``).
REGION_PREFIXES: Final = frozenset({"us", "eu", "apac", "us-gov", "jp", "au", "ca", "global"})
#: ARN resource kinds whose name is the model id (a foundation model or a system profile).
_NAMED_KINDS: Final = frozenset({"foundation-model", "inference-profile"})


def foundation_model(model_id: str) -> str | None:
    """The model id ``model_id`` names (an ARN's resource name), None when an ARN hides it."""
    if not model_id.startswith("arn:"):
        return model_id
    parts = model_id.split(":", 5)
    if len(parts) < 6:
        return None
    kind, _, name = parts[5].partition("/")
    return name if kind in _NAMED_KINDS and name else None


def base_model(model_id: str) -> str:
    """``model_id`` without its cross-region prefix (``us.stability.x`` is ``stability.x``)."""
    prefix, dot, rest = model_id.partition(".")
    return rest if dot and prefix in REGION_PREFIXES and "." in rest else model_id
