"""Group-committed agency reads: each read in a shared transaction is answered on its own merits.

``tests/integration/consent/test_oauth_flow.py`` attacks ``GET /api/v1/data`` one request at a time
over HTTP; these tests put good and bad reads into the *same* transaction on purpose (they are
submitted together, so they share a batch) and check that no bad one is served or logged, and no
good one is failed by a bad neighbour.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, select, update

from tests.support.agency import TestAgency
from tests.support.catalogue import service_toml
from vault.citizens.tables import StoredAttribute
from vault.consent.catalogue import parse_service
from vault.consent.errors import OAuthError
from vault.consent.grants import GrantNotActive, GrantRow, fair_grant_lock
from vault.consent.reads import DataReads
from vault.consent.replay import ProofReplayed
from vault.consent.tables import SeenJti
from vault.crypto.aead import InvalidCiphertext

if TYPE_CHECKING:
    from vault.consent.reads import DataRead
    from vault.runtime import Runtime

PASSWORD = "ein sehr gutes Passwort"


@dataclass
class Reader:
    """One agency's access token for one citizen's grant, and a way to make fresh proofs for it."""

    runtime: Runtime
    agency: TestAgency
    token: str
    grant_id: str
    citizen_id: str

    @property
    def url(self) -> str:
        return f"{self.runtime.services.oauth.issuer}/api/v1/data"

    def proof(self) -> str:
        return self.agency.dpop("GET", self.url, self.token)

    async def read(self, proof: str | None = None, reads: DataReads | None = None) -> DataRead:
        presented = self.runtime.services.oauth.presented(f"DPoP {self.token}", proof or self.proof(), "GET", self.url)
        return await (reads or self.runtime.services.data_reads).read(*presented)


async def _reader(runtime: Runtime, email: str, access: str = "ongoing", agency: TestAgency | None = None) -> Reader:
    citizen = await runtime.services.accounts.register(email, PASSWORD)
    await runtime.services.vault.set_attribute(citizen, "given_name", email.split("@")[0].title())
    await runtime.services.vault.set_attribute(citizen, "family_name", "Mustermann")
    if agency is None:
        agency = TestAgency(runtime.services.oauth.issuer)
        agency.client_id = await runtime.services.catalogue.add_agency("Amt", [agency.redirect_uri], agency.jwks())
    service_id = f"svc-{access}"
    lines = {"id": f'id = "{service_id}"', "access": f'access = "{access}"', "documents": "documents = []"}
    service = parse_service(service_toml(agency.client_id, **lines))
    try:
        await runtime.services.catalogue.service(service_id)
    except LookupError:
        await runtime.services.catalogue.add_service(service)
    registered = await runtime.services.catalogue.agency(agency.client_id)
    grant = await runtime.services.grants.create(citizen, registered, service, ("given_name", "family_name"), ())
    issued = await runtime.services.oauth.issue(
        registered, grant.id, agency.dpop_key.thumbprint(), code_hash=None, refresh=False
    )
    return Reader(runtime, agency, issued["access_token"], grant.id, citizen)


async def _logged_reads(runtime: Runtime) -> int:
    from vault.transparency.tables import LogEntry

    async with runtime.engine.connect() as conn:
        return len((await conn.execute(select(LogEntry.id).where(LogEntry.action == "read"))).all())


async def test_good_and_bad_reads_in_one_transaction_are_answered_each_on_its_own(runtime: Runtime) -> None:
    good = await _reader(runtime, "erika@example.de")
    other = await _reader(runtime, "max@example.de", agency=good.agency)
    revoked = await _reader(runtime, "rita@example.de", agency=good.agency)
    await runtime.services.grants.revoke(revoked.citizen_id, revoked.grant_id)
    thief = TestAgency(good.agency.issuer)  # holds the token but not the key it is bound to
    stolen = thief.dpop("GET", good.url, good.token)
    unknown = Reader(runtime, good.agency, "not-a-token", good.grant_id, good.citizen_id)
    before = await _logged_reads(runtime)

    results = await asyncio.gather(
        good.read(), other.read(), revoked.read(), good.read(stolen), unknown.read(), return_exceptions=True
    )

    assert runtime.services.data_reads.group.batches <= 2, "the reads did not share a transaction"
    first, second, refused, wrong_key, no_token = results
    assert not isinstance(first, BaseException)
    assert not isinstance(second, BaseException)
    assert first.values["given_name"].value == "Erika"  # each read gets its own citizen's data
    assert second.values["given_name"].value == "Max"
    assert first.logged.subject == good.citizen_id
    assert second.logged.subject == other.citizen_id
    assert isinstance(refused, (GrantNotActive, OAuthError))
    assert isinstance(wrong_key, OAuthError)
    assert wrong_key.error == "invalid_dpop_proof"
    assert isinstance(no_token, OAuthError)
    assert no_token.error == "invalid_token"
    assert await _logged_reads(runtime) == before + 2  # only the two served reads were logged


async def test_a_proof_sent_twice_in_one_transaction_is_served_once(runtime: Runtime) -> None:
    reader = await _reader(runtime, "erika@example.de")
    proof = reader.proof()
    before = await _logged_reads(runtime)
    results = await asyncio.gather(*[reader.read(proof) for _ in range(5)], return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, ProofReplayed) for r in results) == 4
    assert await _logged_reads(runtime) == before + 1
    with pytest.raises(ProofReplayed):  # and in a later transaction
        await reader.read(proof)


async def test_a_once_grant_read_by_many_at_the_same_time_is_served_once(runtime: Runtime) -> None:
    reader = await _reader(runtime, "erika@example.de", access="once")
    before = await _logged_reads(runtime)
    results = await asyncio.gather(*[reader.read() for _ in range(8)], return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, GrantNotActive) for r in results if isinstance(r, BaseException))
    assert await _logged_reads(runtime) == before + 1
    async with runtime.sessions() as db:
        assert (await db.get(GrantRow, reader.grant_id)).status == "used"  # type: ignore[union-attr]


async def test_a_tampered_ciphertext_fails_its_own_read_only(runtime: Runtime) -> None:
    victim = await _reader(runtime, "erika@example.de")
    neighbour = await _reader(runtime, "max@example.de", agency=victim.agency)
    async with runtime.sessions.begin() as db:
        row = await db.scalar(
            select(StoredAttribute).where(
                StoredAttribute.citizen_id == victim.citizen_id, StoredAttribute.name == "given_name"
            )
        )
        assert row is not None
        flipped = bytes(row.ciphertext[:-1]) + bytes([row.ciphertext[-1] ^ 1])
        await db.execute(update(StoredAttribute).where(StoredAttribute.id == row.id).values(ciphertext=flipped))
    results: list[Any] = await asyncio.gather(victim.read(), neighbour.read(), return_exceptions=True)
    assert isinstance(results[0], InvalidCiphertext)
    assert results[1].values["given_name"].value == "Max"


async def test_the_proofs_jti_rows_are_inserted_in_hash_order(runtime: Runtime) -> None:
    """Two workers' batches replaying the same proofs in opposite orders must lock them in one order."""
    reader = await _reader(runtime, "erika@example.de")
    inserted: list[list[bytes]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OAUTH_SEEN_JTIS"):
            values = [bytes(p) for p in _flat(parameters) if isinstance(p, (bytes, memoryview))]
            inserted.append([v for v in values if len(v) == 32])

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", capture)
    try:
        results = await asyncio.gather(*[reader.read() for _ in range(12)])
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", capture)
    assert len(results) == 12
    hashes = [h for statement in inserted for h in statement]
    assert len(hashes) == 12
    assert all(statement == sorted(statement) for statement in inserted)
    assert max(len(statement) for statement in inserted) > 1, "no batch inserted several rows"


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    return [value]


class FailingReads(DataReads):
    """Reads whose transaction fails after the grants are held (the database went away, say)."""

    async def _hold_grants(self, *args: Any) -> None:
        await super()._hold_grants(*args)
        raise ConnectionError("the database went away")


async def test_expired_jtis_are_purged_in_a_transaction_of_their_own_every_so_often(runtime: Runtime) -> None:
    reader = await _reader(runtime, "erika@example.de")
    reads = DataReads(runtime.sessions, runtime.services.vault)
    failing = FailingReads(runtime.sessions, runtime.services.vault)
    expired = datetime.now(UTC) - timedelta(minutes=5)
    async with runtime.sessions.begin() as db:
        db.add_all([SeenJti(kind="dpop", jti_hash=bytes([n]) * 32, expires_at=expired) for n in (1, 2)])

    with pytest.raises(ConnectionError):  # the read's transaction rolls back ...
        await reader.read(reads=failing)
    assert await _seen(runtime, bytes([1]) * 32) is False  # ... the purge had committed on its own

    await reader.read(reads=reads)  # purges (its first batch) and serves
    async with runtime.sessions.begin() as db:
        db.add(SeenJti(kind="dpop", jti_hash=bytes([3]) * 32, expires_at=expired))
    await reader.read(reads=reads)  # too soon after the last purge: none now
    assert await _seen(runtime, bytes([3]) * 32) is True
    assert await _seen(runtime, bytes([2]) * 32) is False


async def _seen(runtime: Runtime, jti_hash: bytes) -> bool:
    async with runtime.sessions() as db:
        return await db.get(SeenJti, ("dpop", jti_hash)) is not None


async def test_a_grant_that_expires_while_the_read_waits_for_its_lock_is_not_served(runtime: Runtime) -> None:
    """Expiry is judged when the grant is held, not when the batch began (before the lock waits)."""
    reader = await _reader(runtime, "erika@example.de")
    held, release = asyncio.Event(), asyncio.Event()
    expiry: list[datetime] = []

    async def hold() -> None:  # a revoke-like transaction (PostgreSQL: the grant's locks; SQLite: the writer lock)
        async with runtime.sessions.begin() as db:
            await fair_grant_lock(db, reader.grant_id, exclusive=True)
            grant = await db.scalar(select(GrantRow).where(GrantRow.id == reader.grant_id).with_for_update())
            assert grant is not None
            expiry.append(datetime.now(UTC) + timedelta(seconds=1))
            grant.expires_at = expiry[0]  # the grant runs out while the read waits
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await held.wait()
    read = asyncio.create_task(reader.read())
    await asyncio.sleep(0.3)
    assert not read.done(), "the read did not wait for the grant"
    await asyncio.sleep((expiry[0] - datetime.now(UTC)).total_seconds() + 0.2)
    release.set()
    await holder
    with pytest.raises(GrantNotActive):
        await read


class PausedReads(DataReads):
    """Reads whose batch pauses right after it looked its tokens up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.looked_up, self.resume = asyncio.Event(), asyncio.Event()

    async def _tokens(self, *args: Any) -> Any:
        grants = await super()._tokens(*args)
        self.looked_up.set()
        await self.resume.wait()
        return grants


async def test_no_read_is_served_with_a_token_whose_revocation_committed_after_the_lookup(runtime: Runtime) -> None:
    """RFC 7009 revocation against a batch that found the token just before: the batch checks it again."""
    reader = await _reader(runtime, "erika@example.de")
    reads = PausedReads(runtime.sessions, runtime.services.vault)
    read = asyncio.create_task(reader.read(reads=reads))
    await reads.looked_up.wait()
    revoke = asyncio.create_task(runtime.services.oauth.revoke({"token": reader.token, **reader.agency.auth()}))
    postgresql = runtime.engine.dialect.name == "postgresql"
    # PostgreSQL: the revocation must finish while the read is paused (a generous bound: only a revocation that
    # waits for the read reaches it). SQLite: it must still be waiting after a while (slowness cannot make it finish).
    done, _ = await asyncio.wait({revoke}, timeout=30 if postgresql else 1.5)
    reads.resume.set()
    if postgresql:
        assert done, "the revocation waited for a token lookup"  # the lookup holds no lock there
        with pytest.raises(OAuthError) as refused:
            await read
        assert refused.value.error == "invalid_token"
    else:
        assert not done  # SQLite: the read's transaction holds the writer lock; the revocation commits after it
        assert (await read).values["given_name"].value == "Erika"
        await revoke
    with pytest.raises(OAuthError):
        await reader.read()
