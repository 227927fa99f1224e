"""Requests another site started: they may not make the vault decrypt or write log entries.

The session cookie is ``SameSite=Lax``, so a link on another site (a top-level ``GET``) arrives
signed in. Unsafe methods already need the session's CSRF token, but a ``GET`` that decrypts
(``/data``, a document download, the export) would run, and write log entries the citizen never
asked for. The browser says where a request came from in ``Sec-Fetch-Site``:

* ``same-origin`` (the vault's own pages) passes;
* ``none`` (typed, bookmarked, opened from a mail program) passes for pages, where a person asked
  for the page, but not for the JSON API: nobody types an API address, and a link in a mail must
  not download a document or the export without the vault's own page in between;
* ``same-site`` is refused too: a sibling subdomain is another origin, and with a ``Lax`` cookie it
  could even ``fetch`` with credentials;
* ``cross-site`` is refused.

Without that header (older browsers, non-browser clients) ``Origin`` and then ``Referer`` decide
when present; a client that sends none of them is not a browser a foreign page can steer (every
browser since 2023 sends ``Sec-Fetch-Site``; docs/threat-model.md names the residue of older ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from litestar import MediaType, Response
from litestar.exceptions import PermissionDeniedException

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler

PAGE_SITES = frozenset({"same-origin", "none"})
API_SITES = frozenset({"same-origin"})
ERROR = "cross_site_request"
DESCRIPTION = "requests started by another website, or opened from outside the vault's pages, are refused"


class CrossSiteRequest(PermissionDeniedException):
    """A citizen API request another site started: 403 ``{"error": "cross_site_request"}``."""


def cross_site_refused(_request: Request[Any, Any, Any], _exc: CrossSiteRequest) -> Response[dict[str, object]]:
    """Exception handler: 403 with the error and what it means."""
    body: dict[str, object] = {"error": ERROR, "status": 403, "error_description": DESCRIPTION}
    return Response(body, status_code=403, media_type=MediaType.JSON)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL in lower case, or ``None`` if it has none."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def started_elsewhere(
    headers: Mapping[str, str], own_origins: Collection[str], trusted: Collection[str] = PAGE_SITES
) -> bool:
    """Whether the request came from another site (or a sibling subdomain), by its fetch metadata.

    ``headers`` are looked up by lower-case name; ``own_origins`` are the vault's origins in lower case;
    ``trusted`` the ``Sec-Fetch-Site`` values that pass (:data:`PAGE_SITES` or :data:`API_SITES`).
    """
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() not in trusted
    for name in ("origin", "referer"):
        value = headers.get(name)
        if value:
            return origin_of(value) not in own_origins  # "null" (opaque origin) has none: foreign
    return False


def own_origins(request: ASGIConnection[Any, Any, Any, Any]) -> frozenset[str]:
    """The vault's origins: the public one (``VAULT_ISSUER``) and the one this request was sent to."""
    issuer: str = request.app.state.runtime.settings.issuer
    found = {origin_of(issuer), origin_of(str(request.base_url))}
    return frozenset(o for o in found if o)


def from_another_site(request: Request[Any, Any, Any] | ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the page ``request`` was started by another site (see the module docstring)."""
    return started_elsewhere(request.headers, own_origins(request))


def same_site_only(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """Litestar guard for the citizen's JSON API: another site's request is refused before anything runs."""
    if started_elsewhere(connection.headers, own_origins(connection), API_SITES):
        raise CrossSiteRequest(ERROR)
