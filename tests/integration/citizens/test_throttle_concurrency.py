"""Sign-in throttling holds under concurrency: parallel guesses never get more than the limit to Argon2.

Each burst is started at once and every admitted attempt is held at Argon2 until all throttle
decisions are taken (:func:`tests.support.same_loop.all_held`): the worst case for a check that is
not one atomic step with the count. The throttle's clock is frozen, so a block cannot run out
while the burst is decided. Run on SQLite and PostgreSQL, by one app and by two apps (separate
engines and connection pools, like two workers) sharing the database.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from tests.support.same_loop import GatedHasher, all_held, register, serving, sign_in
from vault.citizens.throttle import ACCOUNT_FREE, CLIENT_FREE, ThrottleRow

if TYPE_CHECKING:
    from vault.config import Settings
    from vault.runtime import Runtime

PASSWORD = "ein sehr gutes Passwort"


def _freeze(*runtimes: Runtime) -> None:
    """Stop the throttles' clocks now (not earlier: the app's purge deletes counters over an hour old)."""
    frozen = datetime.now(UTC)
    for runtime in runtimes:
        runtime.services.throttle.clock = lambda: frozen


async def _rows(runtime: Runtime) -> int:
    async with runtime.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(ThrottleRow)) or 0)


async def test_parallel_wrong_passwords_for_one_account_reach_argon2_at_most_the_limit(migrated: Settings) -> None:
    hasher = GatedHasher()
    async with serving(migrated, hasher) as (app, runtime):
        assert (await register(app, "ziel@example.de", PASSWORD, "203.0.113.50")).status_code == 303
        _freeze(runtime)
        hasher.verifications = 0
        guesses = [partial(sign_in, app, "ziel@example.de", f"falsch {i}") for i in range(12)]
        answers = await all_held(hasher, guesses)
    statuses = Counter(a.status_code for a in answers)
    assert hasher.verifications == ACCOUNT_FREE
    assert statuses == {401: ACCOUNT_FREE, 429: 12 - ACCOUNT_FREE}


async def test_parallel_guesses_from_one_address_reach_argon2_at_most_the_address_limit(migrated: Settings) -> None:
    hasher = GatedHasher()
    async with serving(migrated, hasher) as (app, runtime):
        _freeze(runtime)
        guesses = [partial(sign_in, app, f"niemand{i}@example.de", "falsch falsch") for i in range(CLIENT_FREE + 10)]
        answers = await all_held(hasher, guesses)
        rows = await _rows(runtime)
    assert hasher.verifications == CLIENT_FREE
    assert Counter(a.status_code for a in answers) == {401: CLIENT_FREE, 429: 10}
    assert rows == CLIENT_FREE + 1  # refused unknown names added no row: one per admitted name, one for the address


async def test_two_apps_sharing_the_database_hold_one_limit(migrated: Settings) -> None:
    hasher = GatedHasher()
    async with serving(migrated, hasher) as (one, first), serving(migrated, hasher) as (two, second):
        assert (await register(one, "ziel@example.de", PASSWORD, "203.0.113.50")).status_code == 303
        _freeze(first, second)
        hasher.verifications = 0
        guesses = [
            partial(sign_in, (one, two)[i % 2], "ziel@example.de", f"falsch {i}", f"198.51.100.{i}") for i in range(12)
        ]
        answers = await all_held(hasher, guesses)
    assert hasher.verifications == ACCOUNT_FREE
    assert Counter(a.status_code for a in answers) == {401: ACCOUNT_FREE, 429: 12 - ACCOUNT_FREE}
