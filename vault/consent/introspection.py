"""Token introspection (RFC 7662) for the client's own tokens; anything else is ``{"active": false}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vault.consent.checks import details, introspectable
from vault.consent.grants import GrantRow
from vault.consent.tables import Token, digest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.clients import ClientAuthentication


class Introspection:
    """Says whether a token of the client is active, and what it grants."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clients: ClientAuthentication, issuer: str) -> None:
        self.sessions = sessions
        self.clients = clients
        self.issuer = issuer

    async def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        """The introspection response for ``form["token"]``."""
        agency = await self.clients.authenticate(form)
        now = datetime.now(UTC)
        async with self.sessions() as db:
            row = await db.get(Token, digest(form.get("token", "")))
            grant = await db.get(GrantRow, row.grant_id) if row is not None else None
        if row is None or grant is None or not introspectable(row, grant, agency.client_id, now):
            return {"active": False}
        return {
            "active": True,
            "client_id": row.client_id,
            "token_type": "DPoP" if row.kind == "access" else "refresh_token",
            "exp": int(row.expires_at.timestamp()),
            "iss": self.issuer,
            "cnf": {"jkt": row.jkt},
            "grant_id": row.grant_id,
            "authorization_details": [details(grant)],
        }
