"""What one openai SDK image call asks for, and where it goes.

:func:`request_for` turns a call's arguments into the :class:`ImageRequest`
that reports it, with the settings :func:`instrument_openai` was given.
:func:`endpoint_of` says which provider a client talks to (and the Azure
deployment its URL names), once per client.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import attrs

from aievents.exceptions import FieldValueError
from aievents.instrument import _settings
from aievents.instrument._request import ImageRequest

__all__ = [
    "IMAGE_DEPLOYMENT",
    "PROVIDER",
    "Endpoint",
    "Settings",
    "checked_deployments",
    "default_model",
    "endpoint_of",
    "given",
    "header",
    "request_for",
    "url_deployment",
]

PROVIDER: Final = "openai"
#: Hosts (and their subdomains) of the providers named after them.
_HOSTS: Final = (
    ("api.openai.com", "openai"),
    ("api.x.ai", "xai"),
    ("openrouter.ai", "openrouter"),
)
#: Azure's host suffixes: Azure OpenAI, AI Services, AI Foundry.
_AZURE_HOSTS: Final = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
)
#: Parameters only GPT image models take: the SDK's documented rule picks
#: ``gpt-image-1`` over the ``dall-e-2`` default when one of them is used.
_GPT_IMAGE_ONLY: Final = frozenset(
    {
        "background",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "moderation",
        "output_compression",
        "output_format",
        "partial_images",
        "stream",
        "svg",
    }
)
_GPT_IMAGE_QUALITIES: Final = frozenset({"low", "medium", "high", "xhigh", "max", "auto"})
_DALL_E_DEFAULT_SIZE: Final = "1024x1024"
#: Azure OpenAI's header naming the deployment of the Responses API's image tool.
IMAGE_DEPLOYMENT: Final = "x-ms-oai-image-generation-deployment"
#: The deployment an Azure client's base URL names (``.../openai/deployments/{name}``).
_URL_DEPLOYMENT: Final = re.compile(r"/deployments/([^/]+)")


def given(source: Any, name: str) -> Any:
    """A call argument or setting (of a dict, or an SDK object), or None when omitted.

    The SDK's ``omit``/``NOT_GIVEN`` markers are omitted values too.
    """
    value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
    return None if value is None or type(value).__name__ in ("Omit", "NotGiven") else value


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """The value of header ``name`` (any case) in ``headers``, or None (omitted too)."""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return None if given(headers, key) is None else str(value)
    return None


def default_model(operation: str, kwargs: dict[str, Any]) -> str:
    """The model the SDK documents for a call that names none.

    ``dall-e-2``, unless a parameter specific to GPT image models is used,
    which makes it ``gpt-image-1`` (variations are ``dall-e-2`` only).
    """
    if operation == "image.variation":
        return "dall-e-2"
    gpt_only = any(given(kwargs, name) is not None for name in _GPT_IMAGE_ONLY)
    if gpt_only or given(kwargs, "quality") in _GPT_IMAGE_QUALITIES:
        return "gpt-image-1"
    return "dall-e-2"


@attrs.frozen
class Settings(_settings.Settings):
    """The settings given to :func:`instrument_openai`, shared by the clients derived since.

    The provider-neutral ones (:class:`aievents.instrument._settings.Settings`),
    and the Azure deployments, which only openai clients have.
    """

    #: Deployment names and the model each one is priced as.
    deployments: dict[str, str] = attrs.field(factory=dict)


def checked_deployments(deployments: Mapping[str, str] | None) -> dict[str, str]:
    """``deployments`` as a dict, checked: non-empty deployment names to non-empty model names.

    Raises:
        TypeError: ``deployments`` is not a mapping.
        FieldValueError: a name or a model is not a non-empty string; the
            error names the entry's key and value.
    """
    if deployments is None:
        return {}
    if not isinstance(deployments, Mapping):
        raise TypeError(
            "instrument_openai: deployments must be a mapping of deployment names to models,"
            f" got {type(deployments).__name__}"
        )
    checked: dict[str, str] = {}
    for name, model in deployments.items():
        where = f"deployments[{name!r}]"
        if not isinstance(name, str) or not name.strip():
            reason = f"must be keyed by a non-empty deployment name (its model: {model!r})"
            raise FieldValueError(where, name, reason, owner="instrument_openai")
        if not isinstance(model, str) or not model.strip():
            reason = "must be a non-empty model name"
            raise FieldValueError(where, model, reason, owner="instrument_openai")
        checked[name] = model
    return checked


@attrs.frozen
class Endpoint:
    """Where a client's calls go: the provider the events name, and an Azure deployment.

    Attributes:
        provider: ``azure``, ``xai``, ``openrouter``, ``openai``, or the host
            of the client's base URL (without its port) for any other API.
        deployment: The Azure deployment the client's URL names, if any.
        image_deployment: The deployment of the Responses API's image tool
            the client's default headers name (Azure's
            ``x-ms-oai-image-generation-deployment``), if any.
    """

    provider: str
    deployment: str | None = None
    image_deployment: str | None = None


#: Each client's endpoint, with the base URL it was computed from (a client's
#: base URL can be set again: ``client.base_url = ...``, ``openai.base_url = ...``).
#: Threads that meet a new client at once each compute the same answer; no lock is needed.
_ENDPOINTS: Final[weakref.WeakKeyDictionary[Any, tuple[Any, Endpoint]]] = (
    weakref.WeakKeyDictionary()
)


def endpoint_of(client: Any) -> Endpoint:
    """The provider ``client`` talks to and the deployment its URL names; cached per base URL.

    ``azure`` for an Azure client (``AzureOpenAI``, ``AsyncAzureOpenAI``) or
    a host of Azure's (``*.openai.azure.com``, ``*.cognitiveservices.azure.com``,
    ``*.services.ai.azure.com``); ``xai`` for ``api.x.ai``; ``openrouter``
    for ``openrouter.ai``; ``openai`` for ``api.openai.com`` (subdomains
    such as ``eu.api.openai.com`` included); else the base URL's host,
    without its port (``127.0.0.1`` for a local server). Computed again when
    the client's base URL is no longer the one it was computed from.
    """
    url = getattr(client, "base_url", None)
    try:
        found = _ENDPOINTS.get(client)
    except TypeError:  # not weakly referable: computed each time
        return _endpoint(client, url)
    # The same URL object (a client's own), or an equal one (the module
    # client makes a new one at each read when ``openai.base_url`` is set).
    if found is not None and (found[0] is url or found[0] == url):
        return found[1]
    endpoint = _endpoint(client, url)
    _ENDPOINTS[client] = (url, endpoint)
    return endpoint


def _endpoint(client: Any, url: Any) -> Endpoint:
    host = (urlsplit(str(url or "")).hostname or "").rstrip(".")
    headers = getattr(client, "default_headers", None)
    image = header(headers, IMAGE_DEPLOYMENT) if isinstance(headers, Mapping) else None
    if _is_azure_client(client) or host.endswith(_AZURE_HOSTS):
        return Endpoint("azure", url_deployment(client), image)
    for known, provider in _HOSTS:
        if host == known or host.endswith("." + known):
            return Endpoint(provider, None, image)
    return Endpoint(host or PROVIDER, None, image)


def _is_azure_client(client: Any) -> bool:
    return any(cls.__name__ == "BaseAzureClient" for cls in type(client).__mro__)


def url_deployment(client: Any) -> str | None:
    """The deployment an Azure client's base URL names, or None.

    ``AzureOpenAI(azure_deployment=...)`` (or a ``base_url`` ending in
    ``/deployments/{name}``) sends every deployment call there, whatever
    ``model`` the call names; other Azure clients put the call's ``model``
    in the URL.
    """
    if not _is_azure_client(client):
        return None
    found = _URL_DEPLOYMENT.search(urlsplit(str(getattr(client, "base_url", ""))).path)
    return unquote(found[1]) if found is not None else None


def request_for(
    settings: Settings,
    operation: str,
    kwargs: dict[str, Any],
    deployment: str | None,
    provider: str = PROVIDER,
) -> ImageRequest:
    """The :class:`ImageRequest` that reports one SDK image call.

    Args:
        settings: What :func:`instrument_openai` was given.
        operation: ``image.generation``, ``image.edit`` or ``image.variation``.
        kwargs: The call's keyword arguments, as the SDK method received them.
        deployment: The Azure deployment the client's URL names, if any: it is
            the model the call reports (priced as ``settings.deployments`` says).
        provider: The provider the client talks to (:func:`endpoint_of`).
    """
    model = deployment if deployment is not None else given(kwargs, "model")
    model = str(model) if model is not None else default_model(operation, kwargs)
    priced_as = settings.deployments.get(model)
    size = given(kwargs, "size")
    quality = given(kwargs, "quality")
    if (priced_as or model).startswith("dall-e"):  # the SDK's defaults for DALL-E
        size = size or _DALL_E_DEFAULT_SIZE
        quality = quality or "standard"
    image = given(kwargs, "image")
    inputs = None
    if operation != "image.generation" and image is not None:
        inputs = _file_count(image)
    prompt = given(kwargs, "prompt") if settings.capture_prompts else None
    number = given(kwargs, "n")
    return ImageRequest(
        provider=provider,
        model=model,
        operation=operation,
        size=str(size) if size is not None else None,
        quality=str(quality) if quality is not None else None,
        number_of_images=number if isinstance(number, int) else 1,
        image_input_count=inputs,
        prompt=prompt if isinstance(prompt, str) else None,
        streaming=bool(given(kwargs, "stream")),
        client=settings.events,
        prices=settings.prices,
        priced_as=priced_as,
    )


def _file_count(image: Any) -> int:
    """The files an ``image`` argument uploads: one, or each of a list of them.

    The SDK's file is bytes, a file object, a path, or a tuple
    ``(filename, content[, mime[, headers]])`` whose filename is a text or
    ``None``: that tuple is ONE file. A list, or a tuple of files, is several.
    """
    if isinstance(image, tuple) and image and (image[0] is None or isinstance(image[0], str)):
        return 1
    return len(image) if isinstance(image, (list, tuple)) else 1
