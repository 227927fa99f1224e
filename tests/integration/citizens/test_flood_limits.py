"""Unauthenticated requests cannot make the server write without bound.

One client floods ``/register`` and ``/login/passkey/options`` (a bounded number of requests, a few
at a time, in-process: nothing leaves the machine) while a citizen signs in from another address.
The flood gets 429 after the limits; what it made the server do — accounts, log entries, Argon2
hashes, stored challenges — is bounded by the limits, not by the number of requests; the citizen
signs in. No timing is asserted: the work done is the measure.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from tests.support.same_loop import GatedHasher, client, form, register, serving, sign_in
from vault.citizens.passkeys import PasskeyChallenge
from vault.citizens.tables import Citizen
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    import httpx

    from vault.config import Settings
    from vault.runtime import Runtime

PASSWORD = "ein sehr gutes Passwort"
FLOODER, CITIZEN = "203.0.113.66", "198.51.100.20"
REGISTER_LIMIT, CHALLENGE_LIMIT = 5, 10
FLOOD = 120  # requests of each kind
AT_ONCE = 8


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_flood_is_bounded_by_the_limits_and_a_citizen_still_signs_in(migrated: Settings) -> None:
    migrated.register_limit, migrated.challenge_limit = REGISTER_LIMIT, CHALLENGE_LIMIT
    hasher = GatedHasher()
    async with serving(migrated, hasher) as (app, runtime):
        assert (await register(app, "buergerin@example.de", PASSWORD, CITIZEN)).status_code == 303
        before = {model: await _count(runtime, model) for model in (Citizen, LogEntry, PasskeyChallenge)}
        hashes = hasher.hashes
        at_once = asyncio.Semaphore(AT_ONCE)

        async def flood_register(i: int) -> httpx.Response:
            async with at_once:
                return await register(app, f"flut{i}@example.de", PASSWORD, FLOODER)

        async with client(app, FLOODER) as flooder:
            token = await form(flooder, "/login")

            async def flood_options() -> httpx.Response:
                async with at_once:
                    return await flooder.post("/login/passkey/options", headers={"X-CSRF-Token": token})

            async with asyncio.timeout(300):  # a guard against a hang, not a measurement
                registrations, options, citizen = await asyncio.gather(
                    asyncio.gather(*(flood_register(i) for i in range(FLOOD))),
                    asyncio.gather(*(flood_options() for _ in range(FLOOD))),
                    sign_in(app, "buergerin@example.de", PASSWORD, CITIZEN),
                )
        after = {model: await _count(runtime, model) for model in before}

    assert citizen.status_code == 303
    assert Counter(r.status_code for r in registrations) == {303: REGISTER_LIMIT, 429: FLOOD - REGISTER_LIMIT}
    assert Counter(r.status_code for r in options) == {200: CHALLENGE_LIMIT, 429: FLOOD - CHALLENGE_LIMIT}
    refused = next(r for r in registrations if r.status_code == 429)
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert "Zu viele neue Konten" in refused.text
    refused = next(r for r in options if r.status_code == 429)
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.json()["status"] == 429
    assert after[Citizen] - before[Citizen] == REGISTER_LIMIT
    assert after[PasskeyChallenge] - before[PasskeyChallenge] == CHALLENGE_LIMIT
    assert after[LogEntry] - before[LogEntry] <= REGISTER_LIMIT  # one per new account; a sign-in logs nothing
    assert hasher.hashes - hashes == REGISTER_LIMIT  # the Argon2 work the flood cost
