"""Agency data reads (``GET /api/v1/data``), group-committed (DESIGN.md §2, §6).

A read is: an access token and a verified DPoP proof in; the granted attributes, decrypted, and the
log entry's receipt out. Reads that arrive while one transaction runs share the next
(:class:`~vault.db.group_commit.GroupCommit`); each transaction, for all of its reads at once:

1. finds the tokens with their grants and agencies (:func:`~vault.consent.checks.token_problem`),
2. spends the proofs (:func:`~vault.consent.replay.spend_proofs`: a replay is refused, also within one batch),
3. queues fairly for the grants (PostgreSQL advisory locks, in one fixed order), then holds them —
   ``FOR SHARE``, or ``FOR UPDATE`` for a ``once`` grant, which the read uses up — and re-reads them
   with the tokens, so a read after a committed revoke (of the grant, or of the token) cannot pass,
4. loads the current attributes and the wrapped keys, and appends one log entry per read.

Only after that transaction has committed are the keys unwrapped — each against its own
:class:`~vault.transparency.log.LoggedAccess` — and the attributes decrypted. A read refused at any
step answers on its own and leaves no log entry; a failed transaction fails every read in it, and
none is served. Expired ``jti`` rows are purged now and then in a short transaction of their own.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from vault.citizens.tables import Citizen, StoredAttribute
from vault.citizens.vault import AccessReason
from vault.consent.catalogue import AgencyRow
from vault.consent.checks import token_problem
from vault.consent.grants import GrantNotActive, GrantRow, effective_status, fair_grant_locks
from vault.consent.guards import use_once
from vault.consent.replay import PURGE_EVERY, ProofReplayed, spend_proofs
from vault.consent.tables import SeenJti, Token, digest
from vault.crypto.datakeys import WrappedKey
from vault.crypto.tables import CitizenKey
from vault.db.group_commit import GroupCommit

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.citizens.vault import AttributeValue, CitizenVault
    from vault.consent.proofs import DpopProof
    from vault.transparency.log import LoggedAccess

MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class DataRequest:
    """One read: the access token as presented and its verified DPoP proof."""

    token: str
    proof: DpopProof


@dataclass(frozen=True, slots=True)
class DataRead:
    """A served read: the grant it was served under, the granted attributes and the log entry."""

    grant: GrantRow
    values: dict[str, AttributeValue]
    logged: LoggedAccess


def agency_reason(grant: GrantRow) -> AccessReason:
    """How an agency read under ``grant`` is logged."""
    return AccessReason(
        actor=grant.agency,
        action="read",
        service=grant.service,
        purpose=json.loads(grant.purpose)["de"],
        legal_basis=grant.legal_basis,
        grant_id=grant.id,
    )


class DataReads:
    """Serves agency data reads in group-committed transactions."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], vault: CitizenVault, max_batch: int = MAX_BATCH
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.group: GroupCommit[DataRequest, DataRead] = GroupCommit(self._serve, max_batch)
        self._last_purge = datetime.min.replace(tzinfo=UTC)

    async def read(self, token: str, proof: DpopProof) -> DataRead:
        """The granted attributes.

        Refused with an error of :mod:`vault.consent.errors`, :class:`ProofReplayed` or :class:`GrantNotActive`.
        """
        return await self.group.submit(DataRequest(token, proof))

    async def _serve(self, requests: Sequence[DataRequest]) -> list[DataRead | Exception]:
        answers: list[DataRead | Exception | None] = [None] * len(requests)
        await self._purge_seen_jtis()
        now = datetime.now(UTC)
        async with self.sessions.begin() as db:
            grants = await self._tokens(db, requests, answers, now)
            await self._record_proofs(db, requests, answers, now)
            await self._hold_grants(db, requests, grants, answers)
            live = [i for i, answer in enumerate(answers) if answer is None]
            citizens = {grants[i].citizen_id for i in live}
            granted = {grants[i].id: frozenset(json.loads(grants[i].fields)) for i in live}
            reasons = {grants[i].id: agency_reason(grants[i]) for i in live}
            keys = await _wrapped_keys(db, citizens)
            rows = await _attributes(db, citizens, set().union(*granted.values()))
            reads = []
            for i in live:
                grant = grants[i]
                if grant.citizen_id not in keys:  # erased (its grants ended with it)
                    answers[i] = GrantNotActive(grant.id)
                    continue
                mine = [r for r in rows.get(grant.citizen_id, ()) if r.name in granted[grant.id]]
                fields = tuple(r.name for r in mine) if mine else tuple(sorted(granted[grant.id]))
                reads.append((i, mine, self.vault.log_record(grant.citizen_id, reasons[grant.id], fields)))
            logged = await self.vault.log.append_many(db, [(record, grants[i].citizen_id) for i, _, record in reads])
        for (i, mine, _), access in zip(reads, logged, strict=True):  # committed: the entries are durable
            try:
                values = self.vault.open_attributes(keys[grants[i].citizen_id], access, mine)
            except Exception as exc:  # noqa: BLE001  e.g. a tampered ciphertext: this read fails, not the batch
                answers[i] = exc
            else:
                answers[i] = DataRead(grants[i], values, access)
        assert all(answer is not None for answer in answers)
        return answers  # type: ignore[return-value]

    async def _tokens(
        self, db: AsyncSession, requests: Sequence[DataRequest], answers: list[Any], now: datetime
    ) -> dict[int, GrantRow]:
        """Each request's grant, by request index; a refused token answers the request."""
        query = (
            select(Token, GrantRow, AgencyRow.disabled_at)
            .join(GrantRow, GrantRow.id == Token.grant_id)
            .join(AgencyRow, AgencyRow.client_id == Token.client_id)
            .where(Token.token_hash.in_({digest(r.token) for r in requests}))
        )
        found = {bytes(row[0].token_hash): row for row in (await db.execute(query)).all()}
        grants = {}
        for i, request in enumerate(requests):
            token, grant, agency_disabled = found.get(digest(request.token), (None, None, None))
            problem = token_problem(token, grant, agency_disabled, request.proof.jkt, now)
            if problem is not None:
                answers[i] = problem
            else:
                assert grant is not None
                grants[i] = grant
        return grants

    async def _purge_seen_jtis(self) -> None:
        """Delete the expired ``jti`` rows, at most every ``PURGE_EVERY``, in a short transaction of its own.

        Not in the read's transaction: that one holds grant locks, and a long delete there would keep
        revokes (and the other workers' reads of the same grants) waiting.
        """
        now = datetime.now(UTC)
        if now - self._last_purge <= PURGE_EVERY:
            return
        self._last_purge = now
        async with self.sessions.begin() as db:
            await db.execute(delete(SeenJti).where(SeenJti.expires_at < now))

    async def _record_proofs(
        self, db: AsyncSession, requests: Sequence[DataRequest], answers: list[Any], now: datetime
    ) -> None:
        """Spend the live requests' proofs (:func:`~vault.consent.replay.spend_proofs`); a replay is refused."""
        live = [i for i, answer in enumerate(answers) if answer is None]
        fresh = await spend_proofs(db, [requests[i].proof for i in live], now)
        for i, new in zip(live, fresh, strict=True):
            if not new:
                answers[i] = ProofReplayed()

    async def _hold_grants(
        self, db: AsyncSession, requests: Sequence[DataRequest], grants: dict[int, GrantRow], answers: list[Any]
    ) -> None:
        """Lock the grants of the live requests and check them and their tokens again; ``once`` grants are used here.

        The tokens are read again with the grants, after the fair locks: a token revocation holds the
        grant's lock exclusively, so one that committed before is seen here and one that did not waits
        for this transaction. Expiry is judged at the moment the grants are held, not when the batch began.
        """
        live = {i: grants[i] for i, answer in enumerate(answers) if answer is None}
        once = {g.id for g in live.values() if g.access == "once"}
        await fair_grant_locks(db, {g.id: g.id in once for g in live.values()})
        hashes = {digest(requests[i].token) for i in live}
        held: dict[str, GrantRow] = {}
        tokens: dict[bytes, Token] = {}
        for ids, exclusive in ((sorted({g.id for g in live.values()} - once), False), (sorted(once), True)):
            if ids:
                query = (
                    select(GrantRow, Token)
                    .join(Token, Token.grant_id == GrantRow.id)
                    .where(GrantRow.id.in_(ids), Token.token_hash.in_(hashes))
                    .with_for_update(read=not exclusive, of=GrantRow)
                )
                for grant, token in await db.execute(query.execution_options(populate_existing=True)):
                    held[grant.id] = grant
                    tokens[bytes(token.token_hash)] = token
        now = datetime.now(UTC)
        for i, grant in live.items():
            fresh = held.get(grant.id)
            if fresh is None or effective_status(fresh, now) != "active":
                answers[i] = GrantNotActive(grant.id)
                continue
            problem = token_problem(tokens.get(digest(requests[i].token)), fresh, None, requests[i].proof.jkt, now)
            if problem is not None:  # e.g. the token was revoked (RFC 7009) since it was looked up
                answers[i] = problem
                continue
            grants[i] = fresh
            if fresh.access == "once":
                try:
                    use_once(fresh, "data", now)
                except GrantNotActive as exc:
                    answers[i] = exc


async def _wrapped_keys(db: AsyncSession, citizens: set[str]) -> dict[str, WrappedKey]:
    if not citizens:
        return {}
    query = (
        select(CitizenKey.citizen_id, CitizenKey.dek_version, CitizenKey.root_version, CitizenKey.wrapped)
        .join(Citizen, Citizen.id == CitizenKey.citizen_id)
        .where(CitizenKey.citizen_id.in_(citizens), CitizenKey.wrapped.is_not(None), Citizen.erased_at.is_(None))
    )
    rows = await db.execute(query)
    return {r.citizen_id: WrappedKey(r.citizen_id, r.dek_version, r.root_version, bytes(r.wrapped)) for r in rows}


async def _attributes(db: AsyncSession, citizens: set[str], names: set[str]) -> dict[str, list[Any]]:
    """The current sealed attributes ``names`` of each citizen, by name."""
    if not citizens or not names:
        return {}
    columns = (StoredAttribute.citizen_id, StoredAttribute.id, StoredAttribute.name, StoredAttribute.ciphertext,
               StoredAttribute.source, StoredAttribute.updated_at, StoredAttribute.version)  # fmt: skip
    query = (
        select(*columns)
        .where(StoredAttribute.citizen_id.in_(citizens), StoredAttribute.current, StoredAttribute.name.in_(names))
        .order_by(StoredAttribute.name)
    )
    out: dict[str, list[Any]] = defaultdict(list)
    for row in await db.execute(query):
        out[row.citizen_id].append(row)
    return out
