"""Passkey steps over HTTP with the software authenticator, and sessions made at a given level and time.

A session at ``substantial`` is made with :meth:`SessionService.start` directly: it stands in for a
sign-in through an identity provider (not built yet), the only way an account reaches that level.
An old session is made the same way with ``now=`` in the past, so no test sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import update

from tests.support.soft_authenticator import SoftAuthenticator
from tests.support.web import BASE_URL, PASSWORD, csrf_header, domain, form_token
from vault.api.auth import SESSION_COOKIE
from vault.citizens.tables import Citizen

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

#: Older than the five minutes a sensitive operation allows, well inside the idle timeout.
OLD = timedelta(minutes=6)


async def add_passkey(web: AsyncTestClient[Any], auth: SoftAuthenticator, **tamper: Any) -> Any:
    """Ask for creation options and post the authenticator's response; returns the second answer."""
    h = await csrf_header(web)
    options = await web.post("/api/v1/me/passkeys/options", headers=h)
    assert options.status_code == 200, options.text
    return await web.post("/api/v1/me/passkeys", content=auth.create(options.json(), **tamper), headers=h)


async def login_options(web: AsyncTestClient[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Passkey sign-in options and the sign-in form's CSRF header."""
    page = await web.get("/login")
    h = {"X-CSRF-Token": form_token(page.text)}
    options = await web.post("/login/passkey/options", headers=h)
    assert options.status_code == 200, options.text
    return options.json(), h


async def passkey_login(web: AsyncTestClient[Any], auth: SoftAuthenticator, **tamper: Any) -> Any:
    """Sign in with the passkey (the client keeps the new session cookie)."""
    options, h = await login_options(web)
    return await web.post("/login/passkey", content=auth.get(options, **tamper), headers=h)


async def citizen_id(settings: Settings, login: str) -> str:
    """The id of the account ``login`` (registered with the test password)."""
    async with domain(settings) as runtime:
        return await runtime.services.accounts.authenticate(login, PASSWORD)


async def use_session(
    web: AsyncTestClient[Any], settings: Settings, cid: str, assurance: str = "basic", *, age: timedelta = timedelta(0)
) -> str:
    """Give the client a session of ``cid`` at ``assurance`` that began ``age`` ago; returns its token.

    A session above ``basic`` comes from an eID sign-in, which proves the account's identity too: the
    account's identity level is raised to ``assurance`` (as a link would), else the session is capped.
    """
    async with domain(settings) as runtime:
        if assurance != "basic":
            async with runtime.sessions.begin() as db:
                await db.execute(update(Citizen).where(Citizen.id == cid).values(identity_level=assurance))
        token, _ = await runtime.services.session_service.start(cid, assurance, now=datetime.now(UTC) - age)
    web.cookies.delete(SESSION_COOKIE)
    web.cookies.set(SESSION_COOKIE, token, domain=urlsplit(BASE_URL).hostname or "")  # as the server sets it
    return token


def new_authenticator() -> SoftAuthenticator:
    """A software authenticator for the test site."""
    return SoftAuthenticator(BASE_URL)
