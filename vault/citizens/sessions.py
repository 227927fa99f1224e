"""Server-side sign-in sessions.

The browser holds only a random token (cookie ``__Host-vault``); the database holds its SHA-256,
the citizen, the assurance level, the CSRF token and the times. A session ends after
``IDLE`` without use or ``ABSOLUTE`` after sign-in, whichever comes first, or when the citizen signs
out (here or from another session).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, LargeBinary, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from vault.citizens.reauth import effective_level
from vault.citizens.tables import Citizen
from vault.db.models import Base, UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)


class SessionRow(Base):
    """A sign-in. Stores the SHA-256 of the session token, never the token itself."""

    __tablename__ = "sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    assurance: Mapped[str] = mapped_column(String(16))  # how the person signed in (the means' level)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session as the HTTP layer sees it.

    ``assurance`` is the effective level: the lower of how the person signed in (``method_level``) and
    the level at which the account's identity was proven (``identity_level``, read at every request,
    so lowering it, e.g. by unlinking the last eID, lowers every session at once).
    """

    citizen_id: str
    csrf_token: str
    assurance: str
    session_id: str
    created_at: datetime
    last_seen_at: datetime
    method_level: str = "basic"
    identity_level: str = "basic"


def _signed_in(row: SessionRow, identity_level: str, digest: bytes) -> SignedIn:
    return SignedIn(
        row.citizen_id,
        row.csrf_token,
        effective_level(row.assurance, identity_level),
        session_id(digest),
        row.created_at,
        row.last_seen_at,
        row.assurance,
        identity_level,
    )


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def session_id(token_hash: bytes) -> str:
    """A stable, non-secret id for listing sessions (first 16 hex digits of the token hash)."""
    return token_hash.hex()[:16]


class SessionService:
    """Create, resolve and end sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def start(self, citizen_id: str, assurance: str = "basic", *, now: datetime | None = None) -> tuple[str, str]:
        """A new session (a fresh token on every sign-in); returns ``(token, csrf_token)``."""
        now = now or datetime.now(UTC)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        async with self.sessions.begin() as db:
            db.add(
                SessionRow(
                    token_hash=_hash(token),
                    citizen_id=citizen_id,
                    csrf_token=csrf,
                    assurance=assurance,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return token, csrf

    async def resolve(self, token: str, *, now: datetime | None = None) -> SignedIn | None:
        """The live session for ``token``, or ``None`` (unknown, ended, idle or too old)."""
        if not token or len(token) > 100:
            return None
        now = now or datetime.now(UTC)
        digest = _hash(token)
        async with self.sessions.begin() as db:
            found = (
                await db.execute(
                    select(SessionRow, Citizen.identity_level)
                    .join(Citizen, Citizen.id == SessionRow.citizen_id)
                    .where(SessionRow.token_hash == digest)
                )
            ).first()
            if found is None or found[0].ended_at is not None:
                return None
            row, identity_level = found
            created, seen = row.created_at, row.last_seen_at
            if now - seen > IDLE or now - created > ABSOLUTE:
                row.ended_at = now
                return None
            if now - seen > TOUCH_EVERY:
                row.last_seen_at = now
            return _signed_in(row, identity_level, digest)

    async def end(self, token: str) -> None:
        """Sign out this session."""
        async with self.sessions.begin() as db:
            await db.execute(
                update(SessionRow)
                .where(SessionRow.token_hash == _hash(token), SessionRow.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC))
            )

    async def end_hash(self, token_hash: bytes) -> None:
        """Sign out the session whose token hashes to ``token_hash`` (when only the hash is known)."""
        async with self.sessions.begin() as db:
            await db.execute(
                update(SessionRow)
                .where(SessionRow.token_hash == token_hash, SessionRow.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC))
            )

    async def end_all(self, citizen_id: str, *, except_token: str | None = None) -> int:
        """Sign out every session of the citizen (but ``except_token``); returns how many ended."""
        query = update(SessionRow).where(SessionRow.citizen_id == citizen_id, SessionRow.ended_at.is_(None))
        if except_token is not None:
            query = query.where(SessionRow.token_hash != _hash(except_token))
        async with self.sessions.begin() as db:
            result = await db.execute(query.values(ended_at=datetime.now(UTC)))
        return int(getattr(result, "rowcount", 0) or 0)

    async def active(self, citizen_id: str, *, now: datetime | None = None) -> list[SignedIn]:
        """The citizen's live sessions, newest first."""
        now = now or datetime.now(UTC)
        async with self.sessions() as db:
            rows = (
                await db.execute(
                    select(SessionRow, Citizen.identity_level)
                    .join(Citizen, Citizen.id == SessionRow.citizen_id)
                    .where(SessionRow.citizen_id == citizen_id, SessionRow.ended_at.is_(None))
                    .order_by(SessionRow.created_at.desc())
                )
            ).all()
        return [
            _signed_in(row, identity_level, row.token_hash)
            for row, identity_level in rows
            if now - row.last_seen_at <= IDLE and now - row.created_at <= ABSOLUTE
        ]


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time CSRF token comparison."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
