"""1,000 concurrent agency reads racing a revoke: nothing is served or logged as served after the revoke commits.

The reads go through the same path as ``GET /api/v1/data``: ``read_attributes_logged`` with the
grant guard, which holds the grant row ``FOR SHARE`` in the transaction that appends the log entry;
the revoke takes the row ``FOR UPDATE``. On SQLite every write transaction is serialised by
``BEGIN IMMEDIATE``. Each read's guard records when it passed; the revoke records when it committed.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from tests.support.agency import TestAgency
from tests.support.catalogue import service_toml
from vault.citizens.vault import AccessReason
from vault.consent.catalogue import parse_service
from vault.consent.grants import GrantNotActive
from vault.consent.server import grant_guard

if TYPE_CHECKING:
    from vault.runtime import Runtime

READS = 1000
SPREAD_S = 1.5


async def test_no_read_is_served_or_logged_after_a_revoke_commits(runtime: Runtime) -> None:
    assert runtime.catalogue is not None
    assert runtime.grants is not None
    assert runtime.accounts is not None
    assert runtime.vault is not None
    vault, grants = runtime.vault, runtime.grants
    citizen = await runtime.accounts.register("race@example.de", "ein sehr gutes Passwort")
    await vault.set_attribute(citizen, "given_name", "Erika")
    agency = TestAgency("https://vault.example")
    client_id = await runtime.catalogue.add_agency("Amt", [agency.redirect_uri], agency.jwks())
    service = parse_service(service_toml(client_id, access='access = "ongoing"'))
    await runtime.catalogue.add_service(service)
    grant = await grants.create(citizen, await runtime.catalogue.agency(client_id), service, ("given_name",), ())
    reason = AccessReason(actor=client_id, action="read", service=service.id, grant_id=grant.id)

    passed_at: list[float] = []
    served = refused = 0
    revoked_at: list[float] = []

    async def read(index: int) -> None:
        nonlocal served, refused
        await asyncio.sleep(index * SPREAD_S / READS)  # reads keep arriving before, during and after the revoke
        inner = grant_guard(grant.id, client_id, "data")

        async def guard(db: Any) -> None:
            await inner(db)
            passed_at.append(time.monotonic())

        try:
            values, _ = await vault.read_attributes_logged(citizen, reason, ("given_name",), guard=guard)
        except GrantNotActive:
            refused += 1
        else:
            assert values["given_name"].value == "Erika"
            served += 1

    async def revoke() -> None:
        await asyncio.sleep(SPREAD_S / 3)  # let a good number of reads through first
        await grants.revoke(citizen, grant.id)
        revoked_at.append(time.monotonic())

    await asyncio.gather(revoke(), *[read(i) for i in range(READS)])
    assert served + refused == READS
    assert served > 0, "the revoke came before every read: the race was not exercised"
    assert refused > 0, "every read came before the revoke: the race was not exercised"
    # A guard passes only while it holds the grant row; none passed after the revoke committed.
    assert max(passed_at) < revoked_at[0]
    assert len(passed_at) == served
    history_reads = [e for e in await _entries(runtime, citizen) if e.action == "read" and e.grant_id == grant.id]
    assert len(history_reads) == served  # refused reads rolled their log entries back; served ones are all there


async def _entries(runtime: Runtime, citizen: str) -> list[Any]:
    from vault.citizens.history import history

    assert runtime.log is not None
    items, _ = await history(runtime.engine, runtime.log, citizen, limit=None)
    return items
