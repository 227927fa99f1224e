"""Async engine for SQLite (embedded) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on, ``synchronous=FULL`` (a committed log entry survives a
power cut, not just a crash) and a busy timeout so concurrent writers wait instead of failing. Deleted
content is overwritten with zeros (``secure_delete``) and the WAL is cut back to
``SQLITE_JOURNAL_SIZE_LIMIT`` after each checkpoint, so an erasure can be made complete on disk by
:func:`truncate_wal` (docs/operations.md, "What erasure leaves behind").

SQLite transactions are opened by us, not by the driver: Python's sqlite3 would only begin one at
the first write, leaving the reads before it (``require_citizen``, a grant check, ``max(version)``)
outside the transaction. Connections from :func:`session_factory` begin ``IMMEDIATE`` — they take
the single writer lock up front, so check-then-write sequences are atomic and never fail with
``SQLITE_BUSY_SNAPSHOT`` — while plain ``engine.connect()`` reads begin deferred and run beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.config import Settings

log = structlog.get_logger("vault.db")

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024  # about one auto-checkpoint's worth of WAL (1000 pages)
CHECKPOINT_ATTEMPTS = 5
CHECKPOINT_WAIT_MS = 200  # per attempt, for readers of an older snapshot to finish


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for the configured database, with the SQLite pragmas applied on every connection."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No pre-ping: it costs three round trips per checkout (measured in bench/log). A connection
        # that died with the server fails its request once and is dropped from the pool.
        pool_recycle=600,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see the module docstring)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA secure_delete=ON")  # not FAST: freed pages are zeroed too
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get(IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


IMMEDIATE = "vault_sqlite_immediate"


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine, but SQLite transactions take the writer lock when they begin (no-op elsewhere)."""
    return engine.execution_options(**{IMMEDIATE: True})


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads only: on SQLite they begin deferred and do not queue behind writers."""
    return async_sessionmaker(engine, expire_on_commit=False)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for check-then-write work: objects stay usable after commit; SQLite begins IMMEDIATE."""
    return async_sessionmaker(writer(engine), expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def truncate_wal(engine: AsyncEngine) -> bool:
    """SQLite: checkpoint the WAL into the database file and truncate it to zero bytes; True once done.

    After an erasure the WAL still holds the page images written before it (the wrapped key, the
    ciphertexts). A ``TRUNCATE`` checkpoint copies the current pages — where ``secure_delete`` zeroed the
    deleted rows — into the database file and empties the WAL. It cannot complete while a reader still
    uses an older snapshot or another writer holds the lock: it is tried ``CHECKPOINT_ATTEMPTS`` times,
    each waiting at most ``CHECKPOINT_WAIT_MS``, and then gives up with False (the next erasure's
    checkpoint, or the close of the last connection, completes it). Other database errors propagate.
    PostgreSQL: nothing to do here, True (its procedure is the operator's: docs/operations.md).
    """
    if engine.dialect.name != "sqlite":
        return True
    async with engine.connect() as conn:
        return await conn.run_sync(_checkpoint_truncate)


def _checkpoint_truncate(conn: Connection) -> bool:
    cursor = conn.connection.cursor()  # the driver's cursor: no BEGIN, a checkpoint runs outside transactions
    try:
        cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        for _ in range(CHECKPOINT_ATTEMPTS):
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _frames, _copied = cursor.fetchone() or (1, 0, 0)
            if not busy:
                return True
        return False
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


async def forget_erased(engine: AsyncEngine) -> None:
    """After an erasure has committed: :func:`truncate_wal`, logging (never raising) if it cannot complete.

    The erasure itself is done and must not fail because of this; a failure is logged with its cause.
    """
    try:
        done = await truncate_wal(engine)
    except Exception as exc:  # noqa: BLE001  the erasure has committed; report, do not fail it
        log.warning("erasure: WAL checkpoint failed", error_type=type(exc).__name__)
        return
    if not done:
        log.warning(
            "erasure: WAL not truncated yet; readers or writers kept it busy",
            attempts=CHECKPOINT_ATTEMPTS,
            wait_ms=CHECKPOINT_WAIT_MS,
        )
