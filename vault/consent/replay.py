"""Every DPoP proof is accepted once (RFC 9449 §11.1): its ``jti`` is recorded as the proof is used.

:func:`spend_proofs` is the one place that records them, for every endpoint that takes a proof: the
token endpoint and :meth:`~vault.consent.server.AuthorizationServer.resolve` (one proof, in a short
transaction of their own) and the group-committed data reads (a batch, in the read's transaction).
A proof is keyed by its key's thumbprint and its ``jti``, and kept until it could no longer pass the
``iat`` check anyway (:data:`DPOP_JTI_LIFETIME`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.dialects import postgresql, sqlite

from vault.consent.proofs import CLOCK_SKEW
from vault.consent.tables import SeenJti, digest

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.consent.proofs import DpopProof

#: A proof passes while ``|iat - now| <= CLOCK_SKEW``: one spent now with ``iat`` up to CLOCK_SKEW ahead stays
#: acceptable until ``now + 2 * CLOCK_SKEW``, and ``now`` is compared in whole seconds: 5 s to spare.
DPOP_JTI_LIFETIME = timedelta(seconds=2 * CLOCK_SKEW + 5)


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
