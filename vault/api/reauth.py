"""Sensitive account operations need a recent sign-in (:mod:`vault.citizens.reauth`).

Handlers call :func:`require_recent_sign_in` first, before anything changes or is decrypted. When the
session is too old or below the account's highest level, :class:`ReauthenticationRequired` is
answered by :func:`reauthentication_required`: the JSON API says 403 with
``{"error": "reauthentication_required", "max_age": 300, "level": …}``; a page redirects to the
sign-in page (``/login?reauth=<level>&next=<path>``), whose sign-in (password, throttled as always,
or passkey) starts a fresh session and returns the citizen to ``next`` (a same-site path only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from litestar import MediaType, Response
from litestar.response import Redirect

from vault.api.services import services_of
from vault.citizens.reauth import RECENT, ReauthenticationRequired, recent_enough

if TYPE_CHECKING:
    from litestar import Request

    from vault.citizens.sessions import SignedIn


def reauth_url(level: str, back: str) -> str:
    """The sign-in page asking to sign in again at ``level``, then back to ``back``."""
    return f"/login?reauth={quote(level, safe='')}&next={quote(back, safe='')}"


async def is_recent(request: Request[Any, Any, Any], me: SignedIn) -> tuple[bool, str]:
    """Whether ``me`` may do a sensitive operation now, and the account's highest level."""
    highest = await services_of(request).passkeys.highest_assurance(me.citizen_id)
    return recent_enough(me, highest, datetime.now(UTC)), highest


async def require_recent_sign_in(request: Request[Any, Any, Any], me: SignedIn, back: str | None = None) -> None:
    """Raise :class:`ReauthenticationRequired` unless ``me`` is a recent sign-in at the account's highest level.

    ``back`` is where a page returns after signing in again (default: the requested path).
    """
    recent, highest = await is_recent(request, me)
    if not recent:
        raise ReauthenticationRequired(highest, back)


def reauthentication_required(request: Request[Any, Any, Any], exc: ReauthenticationRequired) -> Response[Any]:
    """Exception handler: 403 JSON on the API, a redirect to sign in again on the pages."""
    if request.url.path.startswith("/api/"):
        body = {
            "error": "reauthentication_required",
            "status": 403,
            "max_age": int(RECENT.total_seconds()),
            "level": exc.level,
            "error_description": f"sign in again (at level {exc.level}, at most 5 minutes ago) before this step",
        }
        return Response(body, status_code=403, media_type=MediaType.JSON)
    return Redirect(reauth_url(exc.level, exc.back or request.url.path), status_code=303)
