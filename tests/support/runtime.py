"""A whole vault runtime (log, citizen vault, accounts) in the test's own event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from vault.bootstrap import prepare
from vault.crypto.passwords import PasswordHasher, PasswordPolicy
from vault.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.config import Settings

FAST_POLICY = PasswordPolicy(memory_cost=1024, time_cost=1)


async def open_runtime(settings: Settings, *, fast_passwords: bool = True) -> Runtime:
    runtime = Runtime(settings, prepare(settings))
    if fast_passwords:
        runtime.hasher = PasswordHasher(FAST_POLICY, max_concurrent=settings.password_concurrency)
    await runtime.open(integrate=False)
    assert runtime.started, "runtime not ready"
    return runtime


@pytest.fixture
async def runtime(migrated: Settings) -> AsyncIterator[Runtime]:
    """An open runtime on a migrated database (no background integrator: tests integrate themselves)."""
    rt = await open_runtime(migrated)
    try:
        yield rt
    finally:
        await rt.close()
