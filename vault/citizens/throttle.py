"""Throttling, shared by all workers through the database: sign-in attempts, registrations, challenges.

Each counter belongs to one key, the SHA-256 of ``<limit name>:<value>``:

* ``account``: the login name's lookup hash, so unknown names count exactly like known ones. From
  the ``ACCOUNT_FREE``-th attempt on, sign-in is refused for a delay that doubles per attempt but
  never exceeds ``ACCOUNT_MAX_BLOCK`` — a guesser is slowed to a crawl, while the real owner is
  never locked out for more than a minute.
* ``client``: the client address (an IPv6 address by its /64 network). After ``CLIENT_FREE``
  attempts that address is refused for ``CLIENT_BLOCK``.
* ``register`` and ``challenge``: new accounts per address and hour, passkey sign-in challenges per
  address and minute (``VAULT_REGISTER_LIMIT``, ``VAULT_CHALLENGE_LIMIT``); the attempt that reaches
  the limit blocks the address until its window ends.

An attempt is counted *before* the work it allows (Argon2, a new account, a stored challenge), in
one transaction that also decides whether it may go ahead (:meth:`Throttle.reserve`): so attempts
in flight count, and N parallel guesses never get more than the limit past the check, on either
database and across workers. A refused attempt changes nothing — in particular it adds no row for
an unknown login name, so one address can add at most ``CLIENT_FREE`` account rows per window. A
wrong password keeps its count, and the block it reached runs from when the answer is known; a
correct sign-in clears the account's counter and gives the address its attempt back.
Rows whose window and block have both ended are deleted by :func:`purge_throttle`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Integer, LargeBinary, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

WINDOW = timedelta(minutes=15)
ACCOUNT_FREE = 5
ACCOUNT_MAX_BLOCK = timedelta(seconds=60)
CLIENT_FREE = 20
CLIENT_BLOCK = timedelta(minutes=5)
REGISTER_WINDOW = timedelta(hours=1)
CHALLENGE_WINDOW = timedelta(minutes=1)
#: No counter matters longer than this after its window began (the longest window, blocks included).
LONGEST = REGISTER_WINDOW


class ThrottleRow(Base):
    """One counter: attempts in the current window not known to have succeeded, and any block.

    ``key`` is the SHA-256 of ``<limit>:<value>``; no address or login name is stored in clear.
    """

    __tablename__ = "login_throttle"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``free`` attempts per ``window``; the ``free``-th starts a block.

    The block lasts ``block`` (doubling per further attempt up to ``block`` when ``doubling``), or
    until the window ends when ``block`` is ``None``.
    """

    name: str
    free: int
    window: timedelta
    block: timedelta | None = None
    doubling: bool = False

    def key(self, value: bytes) -> bytes:
        """The counter's key for ``value`` under this limit."""
        return hashlib.sha256(self.name.encode() + b":" + value).digest()


ACCOUNT = Limit("account", ACCOUNT_FREE, WINDOW, ACCOUNT_MAX_BLOCK, doubling=True)
CLIENT = Limit("client", CLIENT_FREE, WINDOW, CLIENT_BLOCK)


def register_limit(per_hour: int) -> Limit:
    """New accounts per client address and hour."""
    return Limit("register", per_hour, REGISTER_WINDOW)


def challenge_limit(per_minute: int) -> Limit:
    """Passkey sign-in challenges per client address and minute."""
    return Limit("challenge", per_minute, CHALLENGE_WINDOW)


def address_value(address: str) -> bytes:
    """What a client address counts as: itself, or for IPv6 its /64 (one subscriber's whole network)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address.encode()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped).encode()
        return str(ipaddress.IPv6Network((ip, 64), strict=False)).encode()
    return str(ip).encode()


def account_key(lookup_hash: bytes) -> bytes:
    """Throttle key of an account (also of a name nobody has)."""
    return ACCOUNT.key(lookup_hash)


def client_key(address: str) -> bytes:
    """Sign-in throttle key of a client address."""
    return CLIENT.key(address_value(address))


@dataclass(frozen=True, slots=True)
class Counter:
    """A counter's state: attempts in the window that began at ``window_start``, and a block."""

    attempts: int
    window_start: datetime
    blocked_until: datetime | None = None


def admit(counter: Counter, limit: Limit, now: datetime) -> tuple[Counter, int]:
    """One more attempt: ``(counter with it counted, 0)``, or ``(counter unchanged, seconds to wait)``."""
    if counter.blocked_until is not None and now < counter.blocked_until:
        return counter, math.ceil((counter.blocked_until - now).total_seconds())
    if now - counter.window_start > limit.window:
        counter = Counter(0, now)
    counted = Counter(counter.attempts + 1, counter.window_start, counter.blocked_until)
    return replace(counted, blocked_until=_block(counted, limit, now) or counted.blocked_until), 0


def after_failure(counter: Counter, limit: Limit, now: datetime) -> Counter:
    """An admitted attempt turned out wrong: its block counts from ``now``, when the answer is known.

    So a guesser cannot spend the block on the password check; a block is never shortened.
    """
    until = _block(counter, limit, now)
    if until is None or (counter.blocked_until is not None and counter.blocked_until >= until):
        return counter
    return replace(counter, blocked_until=until)


def _block(counter: Counter, limit: Limit, now: datetime) -> datetime | None:
    """Until when ``counter`` blocks at ``now`` (``None``: below the limit)."""
    if counter.attempts < limit.free:
        return None
    if limit.block is None:
        return counter.window_start + limit.window
    if limit.doubling:
        return now + min(timedelta(seconds=2 ** min(counter.attempts - limit.free, 30)), limit.block)
    return now + limit.block


def refund(counter: Counter, limit: Limit) -> Counter:
    """Give back one attempt (it succeeded); the block goes when fewer than ``free`` remain."""
    attempts = max(counter.attempts - 1, 0)
    return replace(counter, attempts=attempts, blocked_until=None if attempts < limit.free else counter.blocked_until)


class _Refused(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


def _now() -> datetime:
    return datetime.now(UTC)


class Throttle:
    """Counts attempts per key and says how long to wait."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reads: async_sessionmaker[AsyncSession] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions
        self.clock = clock

    async def reserve(self, *checks: tuple[Limit, bytes]) -> int:
        """Count one attempt under every ``(limit, key)`` and return 0, or return the seconds to wait.

        One transaction locks the keys' rows (in key order, so two attempts never deadlock), decides
        for all of them, and either counts the attempt under each or, when any says wait, changes
        nothing. A block already committed is seen by a plain read first, without taking the lock.
        """
        keys = sorted({key for _, key in checks})
        async with self.reads() as db:
            blocks = (await db.execute(select(ThrottleRow.blocked_until).where(ThrottleRow.key.in_(keys)))).all()
        now = self.clock()  # read after the rows, so no block set meanwhile looks longer than it is
        waits = [until - now for (until,) in blocks if until is not None and until > now]
        if waits:
            return math.ceil(max(waits).total_seconds())
        try:
            async with self.sessions.begin() as db:
                locked = {key: await _locked(db, key, now) for key in keys}
                now = self.clock()  # likewise, after waiting for the locks
                decisions = [(locked[key], *admit(_counter(locked[key]), limit, now)) for limit, key in checks]
                wait = max(seconds for _, _, seconds in decisions)
                if wait:
                    raise _Refused(wait)  # rolls back: not even the new empty rows stay
                for row, counter, _ in decisions:
                    row.failures, row.window_start = counter.attempts, counter.window_start
                    row.blocked_until = counter.blocked_until
        except _Refused as refused:
            return refused.wait
        return 0

    async def failed(self, *checks: tuple[Limit, bytes]) -> None:
        """An admitted attempt was wrong: the blocks it reached count from now (:func:`after_failure`)."""
        now = self.clock()
        limits = {key: limit for limit, key in checks}
        async with self.sessions.begin() as db:
            for key in sorted(limits):
                if row := await db.get(ThrottleRow, key, with_for_update=True, populate_existing=True):
                    row.blocked_until = after_failure(_counter(row), limits[key], now).blocked_until

    async def succeeded(self, account: bytes, client: bytes) -> None:
        """A correct sign-in: clear the account's counter, give the address its attempt back (keys in order)."""
        async with self.sessions.begin() as db:
            for key in sorted((account, client)):
                if key == account:
                    await db.execute(delete(ThrottleRow).where(ThrottleRow.key == account))
                elif row := await db.get(ThrottleRow, client, with_for_update=True, populate_existing=True):
                    counter = refund(_counter(row), CLIENT)
                    row.failures, row.blocked_until = counter.attempts, counter.blocked_until


async def _locked(db: AsyncSession, key: bytes, now: datetime) -> ThrottleRow:
    """The key's row, created empty if missing, locked for this transaction.

    One statement creates or locks it (a no-op ``DO UPDATE`` takes the row lock, unlike ``DO
    NOTHING``), so a purge deleting the row meanwhile cannot leave us without one.
    """
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ThrottleRow).values(key=key, failures=0, window_start=now)
    await db.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"failures": ThrottleRow.failures}))
    row = await db.get(ThrottleRow, key, populate_existing=True)
    assert row is not None
    return row


def _counter(row: ThrottleRow) -> Counter:
    return Counter(row.failures, row.window_start, row.blocked_until)


async def purge_throttle(db: AsyncSession, now: datetime) -> int:
    """Delete counters whose window (the longest there is) and block have both ended."""
    result = await db.execute(
        delete(ThrottleRow).where(
            ThrottleRow.window_start < now - LONGEST,
            or_(ThrottleRow.blocked_until.is_(None), ThrottleRow.blocked_until < now),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
