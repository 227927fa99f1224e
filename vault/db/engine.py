"""Async engine for SQLite (embedded) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on, ``synchronous=FULL`` (a committed log entry survives a
power cut, not just a crash) and a busy timeout so concurrent writers wait instead of failing.

SQLite transactions are opened by us, not by the driver: Python's sqlite3 would only begin one at
the first write, leaving the reads before it (``require_citizen``, a grant check, ``max(version)``)
outside the transaction. Connections from :func:`session_factory` begin ``IMMEDIATE`` — they take
the single writer lock up front, so check-then-write sequences are atomic and never fail with
``SQLITE_BUSY_SNAPSHOT`` — while plain ``engine.connect()`` reads begin deferred and run beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000


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
