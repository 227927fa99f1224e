"""The citizen's side over HTTP in-process: an app client and the steps every web test repeats."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import AsyncTestClient

from vault.app import create_app
from vault.bootstrap import prepare
from vault.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.config import Settings

PASSWORD = "ein sehr gutes Passwort"
BASE_URL = "https://testserver.local"


@pytest.fixture
async def web(migrated: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of a fresh vault whose issuer is the client's base URL (so passkeys work)."""
    migrated.password_concurrency = 2
    migrated.issuer = BASE_URL
    async with AsyncTestClient(create_app(migrated), base_url=BASE_URL) as client:
        client.follow_redirects = False
        yield client


def form_token(html: str) -> str:
    """The first form's CSRF token on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def register(
    client: AsyncTestClient[Any], username: str, password: str = PASSWORD, confirm: str | None = None
) -> Any:
    """Fill in and send the registration form (the client is signed in afterwards if it worked)."""
    page = await client.get("/register")
    data = {
        "username": username,
        "password": password,
        "password_confirm": confirm or password,
        "csrf_token": form_token(page.text),
    }
    return await client.post("/register", data=data)


async def csrf_header(client: AsyncTestClient[Any]) -> dict[str, str]:
    """The ``X-CSRF-Token`` header of the client's session."""
    r = await client.get("/api/v1/me/csrf")
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf_token"]}


async def session_token(client: AsyncTestClient[Any]) -> str:
    """The session's CSRF token, as the pages' forms carry it."""
    return (await csrf_header(client))["X-CSRF-Token"]


@contextlib.asynccontextmanager
async def domain(settings: Settings) -> AsyncIterator[Runtime]:
    """The vault's domain services on the test's own event loop, beside the app (same database and keys).

    The app under :class:`AsyncTestClient` runs on another loop; its engine's connections must not be
    used from the test (asyncpg refuses), so tests that set up or inspect data directly use this.
    """
    runtime = Runtime(settings, prepare(settings))
    await runtime.open(integrate=False)
    try:
        yield runtime
    finally:
        await runtime.close()
