"""Sessions expire when idle or too old, end on sign-out, and can be ended elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from vault.citizens.sessions import ABSOLUTE, IDLE

if TYPE_CHECKING:
    from vault.runtime import Runtime


async def test_idle_and_absolute_timeouts(runtime: Runtime) -> None:
    sessions = runtime.services.session_service
    cid = await runtime.services.accounts.register("timeouts", "timeout password")
    t0 = datetime.now(UTC)
    token, _ = await sessions.start(cid, now=t0)
    assert await sessions.resolve(token, now=t0 + IDLE - timedelta(seconds=5)) is not None  # touches it
    idle_again = t0 + IDLE - timedelta(seconds=5) + IDLE + timedelta(seconds=5)
    assert await sessions.resolve(token, now=idle_again) is None
    assert await sessions.resolve(token, now=t0) is None  # ended for good

    busy, _ = await sessions.start(cid, now=t0)
    moment = t0
    while moment < t0 + ABSOLUTE - IDLE:
        moment += IDLE / 2
        assert await sessions.resolve(busy, now=moment) is not None
    assert await sessions.resolve(busy, now=t0 + ABSOLUTE + timedelta(seconds=1)) is None


async def test_sign_out_elsewhere_keeps_only_this_session(runtime: Runtime) -> None:
    sessions = runtime.services.session_service
    cid = await runtime.services.accounts.register("elsewhere", "elsewhere password")
    here, _ = await sessions.start(cid)
    phone, _ = await sessions.start(cid)
    laptop, _ = await sessions.start(cid)
    assert len(await sessions.active(cid)) == 3
    assert await sessions.end_all(cid, except_token=here) == 2
    assert await sessions.resolve(here) is not None
    assert await sessions.resolve(phone) is None
    assert await sessions.resolve(laptop) is None
    assert [s.session_id for s in await sessions.active(cid)] == [(await sessions.resolve(here)).session_id]  # type: ignore[union-attr]


async def test_unknown_or_oversized_tokens_resolve_to_nothing(runtime: Runtime) -> None:
    assert await runtime.services.session_service.resolve("") is None
    assert await runtime.services.session_service.resolve("x" * 5000) is None
    assert await runtime.services.session_service.resolve("not-a-session") is None
