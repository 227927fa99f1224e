"""Access tokens at the data API: ``Authorization: DPoP <token>`` with a proof by the key it is bound to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from vault.consent.catalogue import AgencyRow
from vault.consent.checks import token_problem
from vault.consent.errors import InvalidDpopProof, InvalidToken
from vault.consent.grants import GrantRow
from vault.consent.proofs import verify_dpop_proof
from vault.consent.replay import check_nonce
from vault.consent.tables import Token, digest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.nonces import DpopNonces
    from vault.consent.proofs import DpopProof
    from vault.consent.replay import Replays


@dataclass(frozen=True, slots=True)
class Access:
    """A valid access token with a valid proof, which is spent: which client, bound to which key, and its grant.

    The token was looked up before the read's transaction: :func:`~vault.consent.guards.token_guard`
    checks it (by ``token_hash``, never the token itself) again there.
    """

    client_id: str
    grant_id: str
    jkt: str
    grant: GrantRow
    token_hash: bytes


class ResourceAccess:
    """Checks the token and proof of a data API request."""

    def __init__(self, reads: async_sessionmaker[AsyncSession], replays: Replays, nonces: DpopNonces | None) -> None:
        self.reads = reads
        self.replays = replays
        self.nonces = nonces

    def presented(self, authorization: str | None, dpop: str | None, method: str, url: str) -> tuple[str, DpopProof]:
        """The access token of ``Authorization: DPoP <token>`` and its verified proof (not yet looked up).

        The proof is not spent yet: whoever serves the request spends it, as
        :class:`~vault.consent.reads.DataReads` does in its batch and :meth:`resolve` does for the others.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "dpop" or not token:
            raise InvalidToken("Authorization: DPoP <access token> is required")
        if not dpop:
            raise InvalidDpopProof("a DPoP proof is required")
        proof = verify_dpop_proof(dpop, method, url, int(datetime.now(UTC).timestamp()), access_token=token)
        check_nonce(self.nonces, proof)
        return token, proof

    async def resolve(self, authorization: str | None, dpop: str | None, method: str, url: str) -> Access:
        """The access behind ``Authorization: DPoP <token>`` with a valid proof, which it spends.

        ``invalid_token`` for a bad token, :class:`~vault.consent.replay.ProofReplayed` for a proof used before.
        """
        token, proof = self.presented(authorization, dpop, method, url)
        async with self.reads() as db:  # one query: token, its grant and whether the agency is enabled
            found = (
                await db.execute(
                    select(Token, GrantRow, AgencyRow.disabled_at)
                    .join(GrantRow, GrantRow.id == Token.grant_id)
                    .join(AgencyRow, AgencyRow.client_id == Token.client_id)
                    .where(Token.token_hash == digest(token))
                )
            ).first()
        row, grant, agency_disabled = found if found is not None else (None, None, None)
        problem = token_problem(row, grant, agency_disabled, proof.jkt, datetime.now(UTC))
        if problem is not None:
            raise problem
        assert row is not None
        assert grant is not None
        await self.replays.spend(proof)
        return Access(row.client_id, row.grant_id, row.jkt, grant, bytes(row.token_hash))
