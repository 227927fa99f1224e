"""Every DPoP proof and client assertion is accepted once (RFC 9449 §11.1, RFC 7523 §3): its ``jti`` is recorded.

:func:`spend_proofs` is the one place that records proofs, for every endpoint that takes one: the
token endpoint and :meth:`~vault.consent.resource.ResourceAccess.resolve` (one proof, in a short
transaction of their own, :meth:`Replays.spend`) and the group-committed data reads (a batch, in the
read's transaction). A proof is keyed by its key's thumbprint and its ``jti``, and kept until it could
no longer pass the ``iat`` check anyway (:data:`DPOP_JTI_LIFETIME`). :meth:`Replays.remember` records
client assertions' ``jti`` values. Expired rows are purged now and then (:data:`PURGE_EVERY`).
With server nonces on, :func:`check_nonce` refuses a proof without a current one before it is spent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from vault.consent.errors import UseDpopNonce
from vault.consent.proofs import CLOCK_SKEW
from vault.consent.tables import SeenJti, digest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.nonces import DpopNonces
    from vault.consent.proofs import DpopProof

#: A proof passes while ``|iat - now| <= CLOCK_SKEW``: one spent now with ``iat`` up to CLOCK_SKEW ahead stays
#: acceptable until ``now + 2 * CLOCK_SKEW``, and ``now`` is compared in whole seconds: 5 s to spare.
DPOP_JTI_LIFETIME = timedelta(seconds=2 * CLOCK_SKEW + 5)
PURGE_EVERY = timedelta(seconds=10)


class ProofReplayed(Exception):
    """The DPoP proof's ``jti`` was used before."""


def proof_key(proof: DpopProof) -> bytes:
    """What is stored of a proof: SHA-256 of its key's thumbprint and its ``jti``."""
    return digest(f"{proof.jkt}\x00{proof.jti}")


async def spend_proofs(db: AsyncSession, proofs: Sequence[DpopProof], now: datetime) -> list[bool]:
    """Record the proofs in ``db``'s transaction: for each, True if it was new, False for a replay.

    A proof that comes twice in ``proofs`` is a replay the second time. The rows go in sorted by
    hash: the insert locks each key as it goes, so two transactions that replay the same proofs in
    opposite orders would otherwise deadlock on PostgreSQL. If the transaction rolls back, the
    proofs are not spent.
    """
    keys = [proof_key(p) for p in proofs]
    first = {key: i for i, key in reversed(list(enumerate(keys)))}
    if not first:
        return []
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    table = SeenJti.__table__
    statement = dialect.insert(table).on_conflict_do_nothing().returning(table.c.jti_hash)
    rows = [{"kind": "dpop", "jti_hash": key, "expires_at": now + DPOP_JTI_LIFETIME} for key in sorted(first)]
    inserted = {bytes(h) for h in (await (await db.connection()).execute(statement, rows)).scalars()}
    return [key in inserted and first[key] == i for i, key in enumerate(keys)]


async def spend_proof(db: AsyncSession, proof: DpopProof, now: datetime) -> None:
    """:func:`spend_proofs` for one proof; :class:`ProofReplayed` if it was used before."""
    if not (await spend_proofs(db, [proof], now))[0]:
        raise ProofReplayed


class Replays:
    """Spends proofs and remembers assertions, each in a short transaction of its own."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._last_purge = datetime.min.replace(tzinfo=UTC)

    async def _purge(self, db: AsyncSession, now: datetime) -> None:
        if now - self._last_purge > PURGE_EVERY:  # not on every call: concurrent deletes contend
            self._last_purge = now
            await db.execute(delete(SeenJti).where(SeenJti.expires_at < now))

    async def remember(self, kind: str, value: str, until: datetime) -> bool:
        """Record a ``jti``; False if it was seen before (a replay)."""
        now = datetime.now(UTC)
        try:
            async with self.sessions.begin() as db:
                await self._purge(db, now)
                db.add(SeenJti(kind=kind, jti_hash=digest(value), expires_at=until))
        except IntegrityError:
            return False
        return True

    async def spend(self, proof: DpopProof) -> None:
        """Spend a DPoP proof; :class:`ProofReplayed` if it was used before."""
        now = datetime.now(UTC)
        async with self.sessions.begin() as db:
            await self._purge(db, now)
            await spend_proof(db, proof, now)


def check_nonce(nonces: DpopNonces | None, proof: DpopProof) -> None:
    """With server nonces on, a proof must carry a current one; :class:`UseDpopNonce` hands it out."""
    if nonces is not None and not nonces.valid(proof.nonce):
        raise UseDpopNonce(nonces.current())
