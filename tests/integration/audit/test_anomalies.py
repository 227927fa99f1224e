"""The anomaly views on both databases: each finds what it should and nothing a correct vault produces.

A read outside its grant's window cannot come out of the vault's own read path (tests in
tests/integration/consent prove that), so the tests here append such entries directly, as a vault
bug or a bypass would leave them, and check that the auditors' view finds exactly those.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from tests.integration.consent.test_oauth_flow import _flow, _read
from tests.support.web import domain, session_token
from vault.citizens.tables import Citizen
from vault.consent.grants import GrantRow
from vault.consent.reads import agency_reason
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings
    from vault.runtime import Runtime


async def _grant(runtime: Runtime, grant_id: str) -> GrantRow:
    async with runtime.sessions() as db:
        grant = await db.scalar(select(GrantRow).where(GrantRow.id == grant_id))
    assert grant is not None
    return grant


async def _append_read(runtime: Runtime, grant: GrantRow) -> int:
    """A read entry as a bypass would leave it: logged now, under ``grant``, with no check."""
    async with runtime.sessions.begin() as db:
        access, _ = await runtime.services.vault.log_access(db, grant.citizen_id, agency_reason(grant), ("given_name",))
    return access.entry_id


async def _grant_id(web: AsyncTestClient[Any]) -> str:
    return str((await web.get("/api/v1/me/grants")).json()["grants"][0]["id"])


async def test_reads_within_their_window_are_not_anomalies(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "once@example.de", documents="documents = []")  # the read ends it
    assert (await _read(web, agency, token)).status_code == 200
    async with domain(migrated) as runtime:
        grant = await _grant(runtime, await _grant_id(web))
        assert grant.ended_at is not None
        assert await runtime.services.audit.reads_outside_window() == []
        assert [u.service for u in await runtime.services.audit.unused_services()] == []


async def test_a_read_after_a_revoke_or_after_expiry_is_found(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "late@example.de", access='access = "ongoing"')
    async with domain(migrated) as runtime:
        assert [u.service for u in await runtime.services.audit.unused_services()] == ["ummeldung"]
    assert (await _read(web, agency, token)).status_code == 200
    grant_id = await _grant_id(web)
    r = await web.post(f"/api/v1/me/grants/{grant_id}/revoke", headers={"X-CSRF-Token": await session_token(web)})
    assert r.status_code == 200
    async with domain(migrated) as runtime:
        assert await runtime.services.audit.reads_outside_window() == []
        assert await runtime.services.audit.unused_services() == []
        grant = await _grant(runtime, grant_id)
        late = await _append_read(runtime, grant)
        found = await runtime.services.audit.reads_outside_window()
        assert [v.entry.id for v in found] == [late]
        assert found[0].grant_status == "revoked"

        # The same grant, had it not been revoked but expired in a minute, read again in an hour: outside.
        async with runtime.sessions.begin() as db:
            now = datetime.now(UTC)
            await db.execute(
                update(GrantRow)
                .where(GrantRow.id == grant_id)
                .values(status="active", ended_at=None, expires_at=now + timedelta(minutes=1))
            )
            await db.execute(update(LogEntry).where(LogEntry.id == late).values(created_at=now + timedelta(hours=1)))
        assert {v.entry.id for v in await runtime.services.audit.reads_outside_window()} == {late}

        # And a read logged before the grant existed.
        async with runtime.sessions.begin() as db:
            future = datetime.now(UTC) + timedelta(days=1)
            await db.execute(
                update(GrantRow)
                .where(GrantRow.id == grant_id)
                .values(created_at=future, expires_at=future + timedelta(days=1))
            )
        assert (
            len(await runtime.services.audit.reads_outside_window()) == 2
        )  # the legitimate read is now "before" it too


async def test_an_agency_reading_far_above_its_usual_rate_is_found(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency, token = await _flow(web, migrated, "busy@example.de", access='access = "ongoing"')
    assert (await _read(web, agency, token)).status_code == 200
    async with domain(migrated) as runtime:
        assert await runtime.services.audit.rate_anomalies(datetime.now(UTC)) == []
        grant = await _grant(runtime, await _grant_id(web))
        for _ in range(24):
            await _append_read(runtime, grant)
        (anomaly,) = await runtime.services.audit.rate_anomalies(datetime.now(UTC))
        assert anomaly.agency == agency.client_id
        assert anomaly.reads == 25
        assert anomaly.usual == 0
        counts = await runtime.services.audit.reads_per_day(datetime.now(UTC) - timedelta(days=1), datetime.now(UTC))
        assert [(c.agency, c.service, c.reads) for c in counts] == [(agency.client_id, "ummeldung", 25)]
        async with runtime.sessions() as db:
            assert await db.scalar(select(Citizen.id).limit(1)) is not None
