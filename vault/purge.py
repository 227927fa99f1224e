"""Delete rows that can no longer mean anything, so unauthenticated traffic cannot grow tables without end.

What goes, and why it is safe (each table is indexed on the column the rule reads):

* passkey challenges past ``expires_at``: an expired challenge is refused anyway;
* pushed authorization requests past ``expires_at``: an expired ``request_uri`` is refused anyway;
* access and refresh tokens past ``expires_at``: refused anyway (a revoked token that has not expired
  stays, so it keeps answering "revoked");
* seen ``jti`` values past ``expires_at``: a proof that old is refused for its age;
* authorization codes an hour past ``expires_at`` (``CODE_GRACE``) from which no live token remains:
  while any token issued from a code is live, a replay of the code must still find it and revoke
  them (RFC 9700 §4.2.4); the hour covers a code redeemed just before it expired whose tokens are
  being issued in the next transaction;
* sign-in sessions that can no longer be used: ended, past ``IDLE`` since last use or past
  ``ABSOLUTE`` since sign-in (a successful sign-in adds a row: nothing else would remove it);
* sign-ins started at an identity provider past ``expires_at`` (ten minutes), and consumed SAML
  assertion ids past their assertion's end (a replay that late is refused for its age anyway);
* throttle counters whose window and block have both ended (:func:`~vault.citizens.throttle.purge_throttle`).

The serving processes run :func:`purge_expired` hourly (:mod:`vault.runtime`); ``vault db purge`` once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, or_

from vault.citizens.passkeys import PasskeyChallenge
from vault.citizens.sessions import ABSOLUTE, IDLE, SessionRow
from vault.citizens.throttle import purge_throttle
from vault.consent.tables import AuthorizationCode, PushedRequest, SeenJti, Token
from vault.identity.tables import IdentityRequest, SeenAssertion

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CODE_GRACE = timedelta(hours=1)


async def purge_expired(sessions: async_sessionmaker[AsyncSession], now: datetime | None = None) -> dict[str, int]:
    """Delete what has expired at ``now``, one table per transaction; the number of rows per table."""
    now = now or datetime.now(UTC)
    live_token = exists().where(
        Token.code_hash == AuthorizationCode.code_hash, Token.expires_at >= now, Token.revoked_at.is_(None)
    )
    statements: dict[str, Any] = {
        "passkey_challenges": delete(PasskeyChallenge).where(PasskeyChallenge.expires_at < now),
        "pushed_requests": delete(PushedRequest).where(PushedRequest.expires_at < now),
        "tokens": delete(Token).where(Token.expires_at < now),
        "codes": delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - CODE_GRACE, ~live_token),
        "seen_jtis": delete(SeenJti).where(SeenJti.expires_at < now),
        "identity_requests": delete(IdentityRequest).where(IdentityRequest.expires_at < now),
        "saml_assertions_seen": delete(SeenAssertion).where(SeenAssertion.expires_at < now),
        "sessions": delete(SessionRow).where(
            or_(
                SessionRow.ended_at.is_not(None),
                SessionRow.last_seen_at < now - IDLE,
                SessionRow.created_at < now - ABSOLUTE,
            )
        ),
    }
    deleted: dict[str, int] = {}
    for name, statement in statements.items():
        async with sessions.begin() as db:
            result = await db.execute(statement)
            deleted[name] = int(getattr(result, "rowcount", 0) or 0)
    async with sessions.begin() as db:
        deleted["throttle"] = await purge_throttle(db, now)
    return deleted
