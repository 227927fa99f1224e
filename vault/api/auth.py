"""Session cookies, the signed-in citizen, and CSRF checks for the citizen's pages and JSON API.

Cookie rules (DESIGN.md §8): ``__Host-`` prefix, ``HttpOnly``, ``Secure`` (also on loopback http:
browsers accept it there), ``SameSite=Lax``, ``Path=/``. Unsafe methods need the session's CSRF
token: the ``X-CSRF-Token`` header for the JSON API, the ``csrf_token`` form field for pages.
Before sign-in, forms use a double-submit token in a second ``__Host-`` cookie.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from vault.api.services import services_if_started
from vault.citizens.sessions import ABSOLUTE, SignedIn, csrf_matches

if TYPE_CHECKING:
    from litestar import Request

SESSION_COOKIE = "__Host-vault"
FORM_CSRF_COOKIE = "__Host-vault-csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_cookie(token: str) -> Cookie:
    """The session cookie for ``token``."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
        max_age=int(ABSOLUTE.total_seconds()),
    )


def expired_session_cookie() -> Cookie:
    """A cookie that removes the session cookie."""
    return Cookie(key=SESSION_COOKIE, value="", path="/", secure=True, httponly=True, samesite="lax", max_age=0)


def form_csrf_cookie(token: str) -> Cookie:
    """The pre-sign-in double-submit CSRF cookie."""
    return Cookie(key=FORM_CSRF_COOKIE, value=token, path="/", secure=True, httponly=True, samesite="lax")


def new_form_token() -> str:
    """A fresh double-submit token."""
    return secrets.token_urlsafe(32)


async def signed_in(request: Request[Any, Any, Any]) -> SignedIn:
    """Dependency: the live session, else 401; unsafe methods also need the ``X-CSRF-Token`` header."""
    services = services_if_started(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if services is None:  # before the start checks passed nobody is signed in
        raise NotAuthorizedException("not signed in")
    session = await services.session_service.resolve(token)
    if session is None:
        raise NotAuthorizedException("not signed in")
    if request.method not in SAFE_METHODS and not csrf_matches(session.csrf_token, request.headers.get(CSRF_HEADER)):
        raise PermissionDeniedException("missing or wrong X-CSRF-Token")
    return session
