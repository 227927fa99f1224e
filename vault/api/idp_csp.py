"""The form-action CSP of pages that offer an identity provider's button.

Such a button posts to the vault (``POST /login/idp/{id}``), which answers with a redirect to the
provider. Browsers apply the page's ``form-action`` to the redirects that follow a form submission,
so ``form-action 'self'`` alone blocks the sign-in (Chromium stays on the page). A page with
provider buttons therefore allows, besides ``'self'``, exactly the origin the vault sends the browser
to, taken from the metadata checked when the operator registered the provider: for OIDC the
``authorization_endpoint``, for SAML the single sign-on location of the HTTP-Redirect binding (the
one :func:`vault.identity.saml.authn_request_url` uses). Not the issuer or the entity id (the browser
is never sent there), not the locations of other bindings. An origin is added only when its URL
passes :func:`vault.identity.oidc.url_host` (an ASCII DNS name or IP literal, a numeric port, no
``*``, no userinfo) and is https or http on loopback, so nothing from the metadata can widen the
directive or break out of it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from vault.api.security import CSP
from vault.identity.oidc import is_allowed_endpoint, is_secure_url

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vault.identity.providers import ProviderConfig

_MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@lru_cache(maxsize=64)
def sso_redirect_location(metadata_xml: str, entity_id: str) -> str | None:
    """The first HTTP-Redirect ``SingleSignOnService`` Location of IdP ``entity_id`` in ``metadata_xml``.

    The same pick as pysaml2's ``single_sign_on_service(entity_id, BINDING_HTTP_REDIRECT)[0]`` that
    the vault uses to build the AuthnRequest: the IdP descriptors of that entity in document order,
    the services of the HTTP-Redirect binding in document order. ``None`` if there is none or the XML
    is malformed or carries a DTD.
    """
    try:
        root: Element = safe_xml.fromstring(metadata_xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    entities = [root] if root.tag == f"{_MD}EntityDescriptor" else list(root.iter(f"{_MD}EntityDescriptor"))
    for entity in entities:
        if entity.get("entityID") != entity_id:
            continue
        for descriptor in entity.findall(f"{_MD}IDPSSODescriptor"):
            for service in descriptor.findall(f"{_MD}SingleSignOnService"):
                if service.get("Binding") == _HTTP_REDIRECT:
                    return service.get("Location")
    return None


def _authorization_endpoint(provider: ProviderConfig) -> str | None:
    try:
        doc = json.loads(provider.metadata_doc)
    except ValueError:
        return None
    url = doc.get("authorization_endpoint") if isinstance(doc, dict) else None
    return url if isinstance(url, str) and is_allowed_endpoint(url, provider.issuer) else None


def redirect_origins(provider: ProviderConfig) -> set[str]:
    """The origin a sign-in through ``provider`` sends the browser to (from its registered metadata), if safe."""
    if provider.kind == "oidc":
        url = _authorization_endpoint(provider)
    else:
        url = sso_redirect_location(provider.metadata_doc, provider.issuer)
    if url is None or not is_secure_url(url):
        return set()
    parts = urlsplit(url)
    return {f"{parts.scheme}://{parts.netloc.lower()}"}


def csp_for(providers: Iterable[ProviderConfig]) -> str | None:
    """The page CSP with ``form-action`` widened to the providers' origins; ``None`` if there are none."""
    origins = sorted({origin for provider in providers for origin in redirect_origins(provider)})
    if not origins:
        return None
    return CSP.replace("form-action 'self'", "form-action 'self' " + " ".join(origins))
