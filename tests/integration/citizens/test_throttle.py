"""Sign-in throttling: a burst of wrong passwords is answered 429, briefly for the owner's account."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from vault.app import create_app
from vault.citizens.throttle import (
    ACCOUNT,
    ACCOUNT_FREE,
    ACCOUNT_MAX_BLOCK,
    CLIENT,
    CLIENT_BLOCK,
    CLIENT_FREE,
    WINDOW,
    Throttle,
    ThrottleRow,
    account_key,
    client_key,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.config import Settings
    from vault.runtime import Runtime

PASSWORD = "richtiges Passwort"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_account_block_grows_but_stays_short(runtime: Runtime) -> None:
    clock = Clock()
    throttle = Throttle(runtime.sessions, clock=clock)
    account, client = account_key(b"a" * 32), client_key("198.51.100.7")
    for _ in range(ACCOUNT_FREE):
        assert await throttle.reserve((ACCOUNT, account), (CLIENT, client)) == 0
    waits = []
    for _ in range(10):
        wait = await throttle.reserve((ACCOUNT, account), (CLIENT, client_key("203.0.113.9")))
        waits.append(wait)
        clock.now += timedelta(seconds=wait)
        assert await throttle.reserve((ACCOUNT, account), (CLIENT, client_key("203.0.113.9"))) == 0
    cap = int(ACCOUNT_MAX_BLOCK.total_seconds())
    assert waits == [min(2**k, cap) for k in range(10)]
    await throttle.succeeded(account, client)
    assert await throttle.reserve((ACCOUNT, account), (CLIENT, client)) == 0


async def test_a_failure_restarts_the_block_from_its_answer(runtime: Runtime) -> None:
    clock = Clock()
    throttle = Throttle(runtime.sessions, clock=clock)
    account, client = account_key(b"f" * 32), client_key("198.51.100.11")
    for _ in range(ACCOUNT_FREE):
        assert await throttle.reserve((ACCOUNT, account), (CLIENT, client)) == 0
    clock.now += timedelta(seconds=3)  # the last password check took longer than the block
    assert await throttle.reserve((ACCOUNT, account), (CLIENT, client)) == 0
    clock.now += timedelta(seconds=3)
    await throttle.failed((ACCOUNT, account), (CLIENT, client))
    assert await throttle.reserve((ACCOUNT, account), (CLIENT, client)) == 2


async def test_client_block_and_window_reset(runtime: Runtime) -> None:
    clock = Clock()
    throttle = Throttle(runtime.sessions, clock=clock)
    client = client_key("198.51.100.8")
    for i in range(CLIENT_FREE):
        assert await throttle.reserve((ACCOUNT, account_key(bytes([i]) * 32)), (CLIENT, client)) == 0
    other_account = account_key(b"z" * 32)
    assert 0 < await throttle.reserve((ACCOUNT, other_account), (CLIENT, client)) <= CLIENT_BLOCK.total_seconds()
    clock.now += WINDOW + CLIENT_BLOCK + timedelta(seconds=1)
    assert await throttle.reserve((ACCOUNT, other_account), (CLIENT, client)) == 0  # a new window
    assert await throttle.reserve((ACCOUNT, other_account), (CLIENT, client)) == 0


async def test_a_refused_attempt_changes_nothing(runtime: Runtime) -> None:
    throttle = Throttle(runtime.sessions, clock=Clock())
    client = client_key("198.51.100.9")
    for i in range(CLIENT_FREE):
        await throttle.reserve((ACCOUNT, account_key(bytes([i]) * 32)), (CLIENT, client))
    counters = select(ThrottleRow.key, ThrottleRow.failures).order_by(ThrottleRow.key)
    async with runtime.sessions() as db:
        before = (await db.execute(counters)).all()
    for i in range(5):
        assert await throttle.reserve((ACCOUNT, account_key(bytes([100 + i]) * 32)), (CLIENT, client)) > 0
    async with runtime.sessions() as db:
        assert (await db.execute(counters)).all() == before


async def test_correct_sign_ins_clear_the_account_and_never_block_the_address(runtime: Runtime) -> None:
    throttle = Throttle(runtime.sessions, clock=Clock())
    account, client = account_key(b"o" * 32), client_key("198.51.100.10")
    for _ in range(CLIENT_FREE * 2):  # an office behind one address: every sign-in succeeds
        assert await throttle.reserve((ACCOUNT, account), (CLIENT, client)) == 0
        await throttle.succeeded(account, client)
    async with runtime.sessions() as db:
        assert await db.get(ThrottleRow, account) is None
        row = await db.get(ThrottleRow, client)
        assert row is not None
        assert (row.failures, row.blocked_until) == (0, None)


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
    # One client is one address however a proxy spells it: ports, brackets, zone ids, mapped IPv4.
    for spelled in ("198.51.100.1:4711", "198.51.100.1", " 198.51.100.1 ", "::ffff:198.51.100.1"):
        assert client_address(request("10.0.0.2", spelled), "10.0.0.2") == "198.51.100.1", spelled
    for spelled in ("[2001:db8::1]:443", "[2001:db8::1]", "2001:db8::1", "2001:db8:0:0::1%eth0"):
        assert client_address(request("10.0.0.2", spelled), "10.0.0.2") == "2001:db8::1", spelled
    # Proxies may be named by network; a hop that is no address is not believed.
    assert client_address(request("10.1.2.3", "198.51.100.7, 10.9.9.9"), "10.0.0.0/8") == "198.51.100.7"
    assert client_address(request("10.1.2.3", "unknown"), "10.0.0.0/8") == "10.1.2.3"
    assert client_address(request("10.1.2.3", "198.51.100.7, _hidden"), "10.0.0.0/8") == "10.1.2.3"
    assert client_address(request("192.0.2.1", "198.51.100.7"), "10.0.0.0/8") == "192.0.2.1"
