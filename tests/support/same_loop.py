"""The whole app served on the test's own event loop (no portal thread), for tests that coordinate requests.

:class:`~litestar.testing.AsyncTestClient` runs the app on another loop, so a test cannot hold a
request at a chosen point with an :class:`asyncio.Event`. Here the app's lifespan runs in the test's
loop and requests go through :class:`httpx.ASGITransport`, each client with its own address.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, TypeVar

import httpx

from tests.support.runtime import FAST_POLICY
from vault.app import create_app
from vault.crypto.passwords import PasswordHasher, VerifyResult

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from litestar import Litestar

    from vault.config import Settings
    from vault.runtime import Runtime

BASE_URL = "https://testserver.local"
T = TypeVar("T")


class GatedHasher(PasswordHasher):
    """Argon2 (fast parameters) that counts every verification and holds each until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__(FAST_POLICY, max_concurrent=2)
        self.verifications = 0
        self.hashes = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.on_arrival: Callable[[], None] = lambda: None

    async def verify(self, stored_hash: str, password: str) -> VerifyResult:
        await self._arrive()
        return await super().verify(stored_hash, password)

    async def dummy_verify(self, password: str) -> None:
        await self._arrive()
        await super().dummy_verify(password)

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return await super().hash(password)

    async def _arrive(self) -> None:
        self.verifications += 1
        self.on_arrival()
        await self.gate.wait()


@contextlib.asynccontextmanager
async def serving(settings: Settings, hasher: PasswordHasher | None = None) -> AsyncIterator[tuple[Litestar, Runtime]]:
    """An app (and its runtime) with its lifespan running on this loop; ``hasher`` replaces Argon2."""
    settings.issuer = BASE_URL
    app = create_app(settings)
    runtime: Runtime = app.state.runtime
    runtime.hasher = hasher or PasswordHasher(FAST_POLICY, max_concurrent=2)
    async with app.lifespan():
        yield app, runtime


def client(app: Litestar, address: str = "198.51.100.1") -> httpx.AsyncClient:
    """A client of ``app`` whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]  # ASGI either way
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, follow_redirects=False)


async def form(web: httpx.AsyncClient, path: str) -> str:
    """Fetch a pre-sign-in form (its CSRF cookie lands in the client) and return the form's token."""
    page = await web.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def sign_in(app: Litestar, username: str, password: str, address: str = "198.51.100.1") -> httpx.Response:
    """One sign-in with the password form, by a fresh client."""
    async with client(app, address) as web:
        token = await form(web, "/login")
        return await web.post("/login", data={"username": username, "password": password, "csrf_token": token})


async def register(app: Litestar, username: str, password: str, address: str = "198.51.100.1") -> httpx.Response:
    """One registration, by a fresh client."""
    async with client(app, address) as web:
        token = await form(web, "/register")
        data = {"username": username, "password": password, "password_confirm": password, "csrf_token": token}
        return await web.post("/register", data=data)


async def all_held(hasher: GatedHasher, requests: Sequence[Callable[[], Awaitable[T]]], timeout: float = 60) -> list[T]:
    """Start every request; once each one was answered or is waiting at Argon2, open the gate; their results.

    So every throttle decision is taken while all admitted attempts are still in flight — the
    worst case for a check that is not atomic with the count.
    """
    answered = 0
    decided = asyncio.Event()

    def check() -> None:
        if answered + hasher.verifications >= len(requests):
            decided.set()

    async def run(request: Callable[[], Awaitable[T]]) -> T:
        nonlocal answered
        try:
            return await request()
        finally:
            answered += 1
            check()

    hasher.gate.clear()
    hasher.on_arrival = check
    async with asyncio.timeout(timeout):  # a guard against a hang, not synchronisation
        tasks = [asyncio.create_task(run(r)) for r in requests]
        await decided.wait()
        hasher.gate.set()
        return await asyncio.gather(*tasks)
