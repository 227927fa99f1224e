"""SQLite keeps no deleted content around: zeroed on delete, WAL bounded, and truncated on demand.

SQLite only by nature (PostgreSQL's side is the operator procedure, tested with erasure in
tests/integration/citizens/test_erasure_leaves_nothing.py).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text

from vault.config import load_settings
from vault.db.engine import SQLITE_JOURNAL_SIZE_LIMIT, create_engine, truncate_wal, writer

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine


def _engine(tmp_path: Path) -> tuple[AsyncEngine, Path]:
    db = tmp_path / "t.db"
    settings = load_settings({}, data_dir=str(tmp_path / "var"), database_url=f"sqlite:///{db}")
    return create_engine(settings), db


async def test_every_connection_zeroes_deleted_content_and_bounds_the_wal(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)

    def library_defaults_off(dbapi_connection: Any, _record: Any) -> None:
        # As on builds without SQLITE_SECURE_DELETE (Debian's has it on): the engine must not rely on it.
        dbapi_connection.execute("PRAGMA secure_delete=OFF")
        dbapi_connection.execute("PRAGMA journal_size_limit=-1")

    event.listen(engine.sync_engine, "connect", library_defaults_off, insert=True)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA secure_delete"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA journal_size_limit"))).scalar() == SQLITE_JOURNAL_SIZE_LIMIT
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await engine.dispose()


async def test_truncation_waits_a_bounded_time_for_an_old_reader_then_completes_after_it(tmp_path: Path) -> None:
    engine, db = _engine(tmp_path)
    wal = db.with_name(db.name + "-wal")
    try:
        async with writer(engine).begin() as conn:
            await conn.execute(text("CREATE TABLE t (v BLOB)"))
            await conn.execute(text("INSERT INTO t VALUES (randomblob(5000))"))
        reader = sqlite3.connect(db, isolation_level=None)
        try:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)  # holds this snapshot
            async with writer(engine).begin() as conn:
                await conn.execute(text("DELETE FROM t"))
            assert await truncate_wal(engine) is False  # gave up: the reader still needs the old pages
            assert wal.stat().st_size > 0
            reader.execute("COMMIT")
        finally:
            reader.close()
        assert await truncate_wal(engine) is True
        assert wal.stat().st_size == 0
        async with engine.connect() as conn:  # the engine's connections still work as before
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await engine.dispose()
