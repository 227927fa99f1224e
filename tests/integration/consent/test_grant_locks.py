"""Who waits for whom on a grant: erasure and token revocation hold it as a revoke does, issuing as a read does.

On PostgreSQL every grant lock is taken behind the grant's fair (advisory) lock, so a revoke cannot be
starved and two lockers of several grants cannot deadlock. SQLite serialises write transactions
(``BEGIN IMMEDIATE``), so the orderings tested here only arise on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, text

from tests.integration.consent.test_data_reads import Reader, _reader
from tests.support.agency import pkce_pair
from vault.consent.errors import OAuthError
from vault.consent.grants import GrantRow, fair_grant_lock, fair_grant_locks
from vault.consent.guards import token_guard
from vault.consent.tables import AuthorizationCode, digest

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.runtime import Runtime


# SQLite serialises write transactions: there is no lock order to get wrong, so these run on PostgreSQL only.
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _share(db: AsyncSession, grant_id: str) -> None:
    await db.execute(select(GrantRow.id).where(GrantRow.id == grant_id).with_for_update(read=True))


async def _blocked(runtime: Runtime, task: asyncio.Task[Any]) -> None:
    """Return once ``task`` waits for a lock (PostgreSQL reports it in ``pg_locks``), not after a guessed delay."""
    for _ in range(400):
        async with runtime.sessions() as db:
            waiting = await db.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
        if waiting:
            assert not task.done()
            return
        assert not task.done(), "finished instead of waiting for the lock"
        await asyncio.sleep(0.025)
    raise AssertionError("never waited for a lock")


@postgres_only
@pytest.mark.parametrize("first", [0, 1])
async def test_erasure_waits_for_a_read_holding_two_of_the_citizens_grants(runtime: Runtime, first: int) -> None:
    """A read batch holds its grants fairly, then their rows; the erasure must queue, not lock rows around it.

    Whichever row the erasure would have taken first, the read takes the other one first: one of the
    two orders deadlocked a bare ``UPDATE grants``.
    """
    reader = await _reader(runtime, "erika@example.de")
    agency = await runtime.services.catalogue.agency(reader.agency.client_id)
    service = await runtime.services.catalogue.service("svc-ongoing")
    other = await runtime.services.grants.create(reader.citizen_id, agency, service, ("given_name",), ())
    grants = [reader.grant_id, other.id]
    async with runtime.sessions.begin() as db:  # the read batch
        await fair_grant_locks(db, dict.fromkeys(grants, False))
        await _share(db, grants[first])
        erasure = asyncio.create_task(runtime.services.accounts.erase(reader.citizen_id))
        await _blocked(runtime, erasure)  # the erasure is waiting now
        await _share(db, grants[1 - first])
    await asyncio.wait_for(erasure, timeout=10)
    async with runtime.sessions() as db:
        statuses = set((await db.scalars(select(GrantRow.status).where(GrantRow.id.in_(grants)))).all())
    assert statuses == {"revoked"}


@postgres_only
async def test_issuing_a_token_waits_for_no_read_but_for_a_revoke(runtime: Runtime) -> None:
    reader = await _reader(runtime, "erika@example.de")
    agency = await runtime.services.catalogue.agency(reader.agency.client_id)
    jkt = reader.agency.dpop_key.thumbprint()

    async with runtime.sessions.begin() as db:  # a read holds the grant (readers keep coming: FOR UPDATE starved)
        await fair_grant_lock(db, reader.grant_id, exclusive=False)
        await _share(db, reader.grant_id)
        issued = await asyncio.wait_for(
            runtime.services.oauth.issue(agency, reader.grant_id, jkt, code_hash=None, refresh=False), 5
        )
    assert issued["access_token"]

    async with runtime.sessions.begin() as db:  # a revoke: issuing waits, then sees the grant revoked
        await fair_grant_lock(db, reader.grant_id, exclusive=True)
        issuing = asyncio.create_task(
            runtime.services.oauth.issue(agency, reader.grant_id, jkt, code_hash=None, refresh=False)
        )
        await _blocked(runtime, issuing)
        grant = await db.scalar(select(GrantRow).where(GrantRow.id == reader.grant_id).with_for_update())
        assert grant is not None
        grant.status = "revoked"
    with pytest.raises(OAuthError) as refused:
        await issuing
    assert refused.value.error == "invalid_grant"


async def test_a_document_read_resolved_before_its_token_was_revoked_is_refused(runtime: Runtime) -> None:
    """The document path looks its token up before its transaction; the guard checks it again inside."""
    reader = await _reader(runtime, "erika@example.de")
    access = await runtime.services.oauth.resolve(f"DPoP {reader.token}", reader.proof(), "GET", reader.url)
    await runtime.services.oauth.revoke({"token": reader.token, **reader.agency.auth()})  # RFC 7009, by the agency
    async with runtime.sessions.begin() as db:
        with pytest.raises(OAuthError) as refused:
            await token_guard(access)(db)
    assert refused.value.error == "invalid_token"


@postgres_only
@pytest.mark.parametrize("how", ["rfc7009", "code replay"])
async def test_a_token_revocation_waits_for_a_read_holding_the_grant(runtime: Runtime, how: str) -> None:
    """So the read's re-check of its token, after its grant locks, cannot miss a revocation that committed."""
    reader = await _reader(runtime, "erika@example.de")
    if how == "rfc7009":
        revocation = runtime.services.oauth.revoke({"token": reader.token, **reader.agency.auth()})
    else:
        reader, revocation = await _replay(runtime, reader)
    async with runtime.sessions.begin() as db:  # a read batch holding the grant
        await fair_grant_lock(db, reader.grant_id, exclusive=False)
        await _share(db, reader.grant_id)
        revoking = asyncio.create_task(revocation)
        await _blocked(runtime, revoking)
    await asyncio.wait_for(revoking, timeout=10)
    with pytest.raises(OAuthError) as refused:
        await reader.read()
    assert refused.value.error == "invalid_token"


async def _replay(runtime: Runtime, reader: Reader) -> tuple[Reader, Coroutine[Any, Any, None]]:
    """A token issued from a code, and the replay of that code (which revokes the token)."""
    oauth, agency = runtime.services.oauth, reader.agency
    code, (verifier, challenge) = secrets.token_urlsafe(32), pkce_pair()
    async with runtime.sessions.begin() as db:
        db.add(AuthorizationCode(code_hash=digest(code), client_id=agency.client_id, grant_id=reader.grant_id,
                                 redirect_uri=agency.redirect_uri, code_challenge=challenge,
                                 expires_at=datetime.now(UTC) + timedelta(seconds=60)))  # fmt: skip
    url = f"{oauth.issuer}/oauth/token"
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": agency.redirect_uri}  # fmt: skip
    issued = await oauth.token({**form, **agency.auth()}, agency.dpop("POST", url), url)

    async def replay() -> None:
        with pytest.raises(OAuthError, match="already used"):
            await oauth.token({**form, **agency.auth()}, agency.dpop("POST", url), url)

    return replace(reader, token=issued["access_token"]), replay()
