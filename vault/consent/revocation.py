"""Token revocation (RFC 7009): a client revokes one of its own tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from vault.consent.guards import hold_grant_exclusively
from vault.consent.tables import Token, digest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.clients import ClientAuthentication


class Revocation:
    """Revokes the client's tokens; no read with a revoked token is served after the commit."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clients: ClientAuthentication) -> None:
        self.sessions = sessions
        self.clients = clients

    async def revoke(self, form: dict[str, str]) -> None:
        """Revoke one of the client's tokens (unknown tokens are not an error)."""
        agency = await self.clients.authenticate(form)
        mine = (Token.token_hash == digest(form.get("token", "")), Token.client_id == agency.client_id)
        async with self.sessions.begin() as db:
            grant_id = await db.scalar(select(Token.grant_id).where(*mine, Token.revoked_at.is_(None)))
            if grant_id is None:
                return
            await hold_grant_exclusively(db, grant_id)  # no read with this token is served after the commit
            await db.execute(
                update(Token).where(*mine, Token.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))
            )
