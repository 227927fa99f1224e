"""1,000 concurrent agency reads racing a revoke: nothing is served or logged as served after the revoke commits.

The revoke is the citizen's (the grant) or the agency's (its access token, RFC 7009).

The reads go through the same path as ``GET /api/v1/data``: a verified DPoP proof and the access token
into :class:`~vault.consent.reads.DataReads`, whose group-committed transactions hold the grant
``FOR SHARE`` while they append the log entries; the revoke takes the row ``FOR UPDATE``. On SQLite
every write transaction is serialised by ``BEGIN IMMEDIATE``. Each transaction records when its
reads passed the grant check (still inside it); the revoke records when it committed.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.agency import TestAgency
from tests.support.catalogue import service_toml
from vault.consent.catalogue import parse_service
from vault.consent.errors import OAuthError
from vault.consent.grants import GrantNotActive
from vault.consent.reads import DataReads

if TYPE_CHECKING:
    from vault.runtime import Runtime

READS = 1000
SPREAD_S = 1.5
# Reads sent right after the revoke committed. On SQLite, a revoke waits for the database's write
# lock behind the reads' transactions; on a busy machine it may commit after the spread is over, and
# these make sure reads do meet a committed revoke.
TAIL = 20


@pytest.mark.parametrize("revoked", ["grant", "token"])
async def test_no_read_is_served_or_logged_after_a_revoke_commits(runtime: Runtime, revoked: str) -> None:
    vault, grants, oauth = runtime.services.vault, runtime.services.grants, runtime.services.oauth
    citizen = await runtime.services.accounts.register("race@example.de", "ein sehr gutes Passwort")
    await vault.set_attribute(citizen, "given_name", "Erika")
    agency = TestAgency(oauth.issuer)
    client_id = await runtime.services.catalogue.add_agency("Amt", [agency.redirect_uri], agency.jwks())
    agency.client_id = client_id
    service = parse_service(service_toml(client_id, access='access = "ongoing"'))
    await runtime.services.catalogue.add_service(service)
    registered = await runtime.services.catalogue.agency(client_id)
    grant = await grants.create(citizen, registered, service, ("given_name",), ())
    jkt = agency.dpop_key.thumbprint()
    token = (await oauth.issue(registered, grant.id, jkt, code_hash=None, refresh=False))["access_token"]
    url = f"{oauth.issuer}/api/v1/data"
    proofs = [agency.dpop("GET", url, token) for _ in range(READS + TAIL)]

    passed_at: list[float] = []
    reads = Probe(runtime.sessions, vault, passed_at)
    served = refused = 0
    revoked_at: list[float] = []

    async def read(index: int, *, delay: bool = True) -> None:
        nonlocal served, refused
        if delay:
            await asyncio.sleep(index * SPREAD_S / READS)  # reads keep arriving before, during and after the revoke
        try:
            done = await reads.read(*oauth.presented(f"DPoP {token}", proofs[index], "GET", url))
        except (GrantNotActive, OAuthError):  # the grant, or its tokens, revoked: both answer 401
            refused += 1
        else:
            assert done.values["given_name"].value == "Erika"
            served += 1

    async def revoke() -> None:
        await asyncio.sleep(SPREAD_S / 3)  # let a good number of reads through first
        if revoked == "grant":
            await grants.revoke(citizen, grant.id)
        else:
            await oauth.revoke({"token": token, **agency.auth()})
        revoked_at.append(time.monotonic())
        await asyncio.gather(*[read(i, delay=False) for i in range(READS, READS + TAIL)])

    await asyncio.gather(revoke(), *[read(i) for i in range(READS)])
    assert served + refused == READS + TAIL
    assert served > 0, "the revoke came before every read: the race was not exercised"
    assert refused >= TAIL
    assert reads.group.batches < READS, "no reads shared a transaction: the group commit was not exercised"
    # A read passes only while its transaction holds the grant; none passed after the revoke committed.
    assert max(passed_at) < revoked_at[0]
    assert len(passed_at) == served
    history_reads = [e for e in await _entries(runtime, citizen) if e.action == "read" and e.grant_id == grant.id]
    assert len(history_reads) == served  # refused reads left no log entry; served ones are all there


class Probe(DataReads):
    """:class:`DataReads` that notes, inside the transaction, when each read passed the grant check."""

    def __init__(self, sessions: Any, vault: Any, passed_at: list[float]) -> None:
        super().__init__(sessions, vault)
        self.passed_at = passed_at

    async def _hold_grants(self, db: Any, requests: Any, grants: Any, answers: list[Any]) -> None:
        await super()._hold_grants(db, requests, grants, answers)
        self.passed_at.extend(time.monotonic() for answer in answers if answer is None)


async def _entries(runtime: Runtime, citizen: str) -> list[Any]:
    from vault.citizens.history import history

    items, _ = await history(runtime.engine, runtime.services.log, citizen, limit=None)
    return items
