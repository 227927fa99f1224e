"""Sign-ins started at a provider: stored when the browser leaves, taken once when it comes back.

The ``state`` (OIDC) or ``RelayState`` (SAML) sent to the provider is a random token; the database
keeps its SHA-256 only. The browser that started the sign-in holds a second random token in the
cookie ``__Host-vault-idp`` (its SHA-256 is stored too): a callback carrying a valid state from
another browser (login CSRF, a link sent to a victim) is refused like an unknown state.
A request is taken (deleted) in the same transaction that reads it, so a state works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete

from vault.identity.model import IdentityError, StartedRequest
from vault.identity.tables import IdentityRequest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.identity.model import Purpose

#: How long a citizen may take at the provider.
LIFETIME = timedelta(minutes=10)
BROWSER_COOKIE = "__Host-vault-idp"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class IdentityRequests:
    """Store and take :class:`StartedRequest` rows."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def store(
        self,
        provider_id: str,
        *,
        purpose: Purpose,
        level: str,
        next_path: str,
        citizen_id: str | None,
        nonce: str,
        code_verifier: str = "",
        browser: str | None = None,
        session: str | None = None,
        now: datetime | None = None,
    ) -> tuple[str, str]:
        """Store a request; returns ``(state, browser)``: the state for the provider, the cookie value for the browser.

        ``browser`` reuses the cookie value the browser already has (several tabs may sign in at once);
        ``session`` is the browser's session token, if any (its hash is kept, to end it afterwards).
        """
        now = now or datetime.now(UTC)
        state = secrets.token_urlsafe(32)
        if not browser or len(browser) > 100:
            browser = secrets.token_urlsafe(32)
        async with self.sessions.begin() as db:
            db.add(
                IdentityRequest(
                    state_hash=_digest(state),
                    browser_hash=_digest(browser),
                    provider_id=provider_id,
                    purpose=purpose,
                    citizen_id=citizen_id,
                    level=level,
                    nonce=nonce,
                    code_verifier=code_verifier,
                    session_hash=_digest(session) if session else None,
                    next=next_path,
                    created_at=now,
                    expires_at=now + LIFETIME,
                )
            )
        return state, browser

    async def take(self, state: str, browser: str | None, *, now: datetime | None = None) -> StartedRequest:
        """The request for ``state`` started in this ``browser``, removed so it cannot be used again.

        Raises ``IdentityError("unknown_state")`` for an unknown, used or expired state and for a
        browser without (or with another) cookie; a state presented from the wrong browser is spent too.
        """
        now = now or datetime.now(UTC)
        if not state or len(state) > 100:
            raise IdentityError("unknown_state", "missing or oversized state")
        async with self.sessions.begin() as db:
            row = await db.scalar(
                delete(IdentityRequest).where(IdentityRequest.state_hash == _digest(state)).returning(IdentityRequest)
            )
        if row is None:
            raise IdentityError("unknown_state", "no such state")
        if row.expires_at < now:
            raise IdentityError("unknown_state", "expired")
        if not browser or not hmac.compare_digest(row.browser_hash, _digest(browser)):
            raise IdentityError("unknown_state", "started in another browser")
        return StartedRequest(
            row.provider_id,
            row.purpose,  # stored from Purpose only
            row.level,
            row.next,
            row.citizen_id,
            row.nonce,
            row.code_verifier,
            row.session_hash,
        )
