"""Sign-in throttling, shared by all workers through the database.

Two counters per attempt: the account (keyed by the login name's lookup hash, so unknown names
count exactly like known ones) and the client address. Failures within ``WINDOW`` add up:

* account: from the ``ACCOUNT_FREE``-th failure on, sign-in is refused for a delay that doubles
  per failure but never exceeds ``ACCOUNT_MAX_BLOCK`` — a guesser is slowed to a crawl, while the
  real owner is never locked out for more than a minute;
* client: after ``CLIENT_FREE`` failures, that address is refused for ``CLIENT_BLOCK``.

A successful sign-in clears the account's counter. Refusals happen before any password hashing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Integer, LargeBinary, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

WINDOW = timedelta(minutes=15)
ACCOUNT_FREE = 5
ACCOUNT_MAX_BLOCK = timedelta(seconds=60)
CLIENT_FREE = 20
CLIENT_BLOCK = timedelta(minutes=5)


class ThrottleRow(Base):
    """Failure counter for one key (SHA-256 of ``account:<lookup hash>`` or ``client:<address>``)."""

    __tablename__ = "login_throttle"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


def account_key(lookup_hash: bytes) -> bytes:
    """Throttle key of an account (also of a name nobody has)."""
    return hashlib.sha256(b"account:" + lookup_hash).digest()


def client_key(address: str) -> bytes:
    """Throttle key of a client address."""
    return hashlib.sha256(b"client:" + address.encode()).digest()


class LoginThrottle:
    """Counts failures and says how long to wait."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def retry_after(self, account: bytes, client: bytes, *, now: datetime | None = None) -> int:
        """Seconds until another attempt is allowed (0: go ahead)."""
        now = now or datetime.now(UTC)
        async with self.sessions() as db:
            rows = await db.execute(select(ThrottleRow.blocked_until).where(ThrottleRow.key.in_([account, client])))
            waits = [(until - now).total_seconds() for (b,) in rows if (until := b) is not None]
        return max([0, *(int(w) + 1 for w in waits if w > 0)])

    async def failed(self, account: bytes, client: bytes, *, now: datetime | None = None) -> None:
        """Record a failed attempt for both keys and set their blocks."""
        now = now or datetime.now(UTC)
        async with self.sessions.begin() as db:
            for key, is_account in ((account, True), (client, False)):
                failures = await self._count(db, key, now)
                block = _block_for(failures, is_account=is_account)
                if block:
                    row = await db.get(ThrottleRow, key)
                    assert row is not None
                    row.blocked_until = now + block

    async def succeeded(self, account: bytes) -> None:
        """Clear the account's counter after a correct sign-in."""
        async with self.sessions.begin() as db:
            await db.execute(delete(ThrottleRow).where(ThrottleRow.key == account))

    @staticmethod
    async def _count(db: AsyncSession, key: bytes, now: datetime) -> int:
        dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(ThrottleRow).values(key=key, failures=1, window_start=now)
        inserted = (
            await db.execute(stmt.on_conflict_do_nothing(index_elements=["key"]).returning(ThrottleRow.key))
        ).first()
        row = await db.get(ThrottleRow, key, with_for_update=True, populate_existing=True)
        assert row is not None
        if inserted is not None:
            return 1
        start = row.window_start
        if start is not None and now - start > WINDOW:
            row.failures, row.window_start, row.blocked_until = 1, now, None
        else:
            row.failures += 1
        return row.failures


def _block_for(failures: int, *, is_account: bool) -> timedelta | None:
    if is_account:
        if failures < ACCOUNT_FREE:
            return None
        return min(timedelta(seconds=2 ** (failures - ACCOUNT_FREE)), ACCOUNT_MAX_BLOCK)
    return CLIENT_BLOCK if failures >= CLIENT_FREE else None
