"""The form-action CSP of pages that offer an identity provider's button.

Such a button posts to the vault (``POST /login/idp/{id}``), which answers with a redirect to the
provider. Browsers apply the page's ``form-action`` to the redirects that follow a form submission,
so ``form-action 'self'`` alone blocks the sign-in (Chromium stays on the page). A page with
provider buttons therefore allows, besides ``'self'``, the origins the vault sends the browser to:
the OIDC authorization endpoint (and the issuer), or the SAML IdP's single sign-on locations, all
taken from the metadata checked when the operator registered the provider.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vault.api.security import CSP

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vault.identity.providers import ProviderConfig

_SSO_LOCATION = re.compile(r"<(?:[\w.-]+:)?SingleSignOnService\b[^>]*?\bLocation=\"([^\"]+)\"")


def _origin(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in {"https", "http"} or not parts.netloc or any(c in parts.netloc for c in " ;,'\""):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def redirect_origins(provider: ProviderConfig) -> set[str]:
    """The origins a sign-in through ``provider`` sends the browser to (from its registered metadata)."""
    urls: list[object] = [provider.issuer]
    if provider.kind == "oidc":
        try:
            doc = json.loads(provider.metadata_doc)
        except ValueError:
            doc = {}
        if isinstance(doc, dict):
            urls.append(doc.get("authorization_endpoint"))
    else:
        urls.extend(_SSO_LOCATION.findall(provider.metadata_doc))
    return {origin for origin in map(_origin, urls) if origin is not None}


def csp_for(providers: Iterable[ProviderConfig]) -> str | None:
    """The page CSP with ``form-action`` widened to the providers' origins; ``None`` if there are none."""
    origins = sorted({origin for provider in providers for origin in redirect_origins(provider)})
    if not origins:
        return None
    return CSP.replace("form-action 'self'", "form-action 'self' " + " ".join(origins))
