"""Sign-in throttling: a burst of wrong passwords is answered 429, briefly for the owner's account."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import AsyncTestClient

from vault.app import create_app
from vault.citizens.throttle import (
    ACCOUNT_FREE,
    ACCOUNT_MAX_BLOCK,
    CLIENT_BLOCK,
    CLIENT_FREE,
    WINDOW,
    LoginThrottle,
    account_key,
    client_key,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.config import Settings
    from vault.runtime import Runtime

PASSWORD = "richtiges Passwort"


async def test_account_block_grows_but_stays_short(runtime: Runtime) -> None:
    throttle = LoginThrottle(runtime.sessions)
    account, client = account_key(b"a" * 32), client_key("198.51.100.7")
    t0 = datetime.now(UTC)
    for i in range(ACCOUNT_FREE - 1):
        await throttle.failed(account, client, now=t0 + timedelta(seconds=i))
        assert await throttle.retry_after(account, client, now=t0 + timedelta(seconds=i)) == 0
    waits = []
    for i in range(ACCOUNT_FREE - 1, ACCOUNT_FREE + 10):
        moment = t0 + timedelta(seconds=i)
        await throttle.failed(account, client, now=moment)
        waits.append(await throttle.retry_after(account, client, now=moment))
    assert waits == sorted(waits)
    assert waits[0] >= 1
    assert max(waits) <= ACCOUNT_MAX_BLOCK.total_seconds() + 1
    last = t0 + timedelta(seconds=ACCOUNT_FREE + 10)
    assert await throttle.retry_after(account, client_key("203.0.113.9"), now=last + ACCOUNT_MAX_BLOCK) == 0
    await throttle.succeeded(account)
    assert await throttle.retry_after(account, client_key("203.0.113.9"), now=last) == 0


async def test_client_block_and_window_reset(runtime: Runtime) -> None:
    throttle = LoginThrottle(runtime.sessions)
    client = client_key("198.51.100.8")
    t0 = datetime.now(UTC)
    for i in range(CLIENT_FREE):
        await throttle.failed(account_key(bytes([i]) * 32), client, now=t0)
    other_account = account_key(b"z" * 32)
    assert 0 < await throttle.retry_after(other_account, client, now=t0) <= CLIENT_BLOCK.total_seconds() + 1
    later = t0 + WINDOW + CLIENT_BLOCK + timedelta(seconds=1)
    assert await throttle.retry_after(other_account, client, now=later) == 0
    await throttle.failed(other_account, client, now=later)
    assert await throttle.retry_after(other_account, client, now=later) == 0  # a new window


@pytest.fixture
async def web(migrated: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(migrated), base_url="https://testserver.local") as client:
        client.follow_redirects = False
        yield client


async def _attempt(web: AsyncTestClient[Any], username: str, password: str) -> Any:
    page = await web.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return await web.post("/login", data={"username": username, "password": password, "csrf_token": token.group(1)})


async def test_a_burst_of_wrong_passwords_answers_429_for_known_and_unknown_names(web: AsyncTestClient[Any]) -> None:
    page = await web.get("/register")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    await web.post(
        "/register",
        data={
            "username": "target@example.de",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "csrf_token": token.group(1),
        },
    )
    web.cookies.clear()
    for name in ("target@example.de", "ghost@example.de"):
        statuses = [(await _attempt(web, name, "falsch falsch")).status_code for _ in range(ACCOUNT_FREE + 1)]
        assert statuses[:ACCOUNT_FREE] == [401] * ACCOUNT_FREE
        blocked = await _attempt(web, name, PASSWORD)  # even the right password waits
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= ACCOUNT_MAX_BLOCK.total_seconds() + 1
        assert "Zu viele Versuche" in blocked.text


def test_client_address_trusts_forwarded_for_only_from_trusted_proxies() -> None:
    from types import SimpleNamespace

    from vault.api.pages import client_address

    def request(peer: str, forwarded: str = "") -> Any:
        return SimpleNamespace(client=SimpleNamespace(host=peer), headers={"x-forwarded-for": forwarded})

    assert client_address(request("203.0.113.5", "1.2.3.4"), "") == "203.0.113.5"
    assert client_address(request("10.0.0.2", "198.51.100.1, 10.0.0.3"), "10.0.0.2,10.0.0.3") == "198.51.100.1"
    assert client_address(request("10.0.0.2", "6.6.6.6, 198.51.100.1"), "10.0.0.2") == "198.51.100.1"
    assert client_address(request("10.0.0.2"), "10.0.0.2") == "10.0.0.2"
