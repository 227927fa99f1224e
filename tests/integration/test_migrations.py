from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text

from vault.bootstrap import SchemaNotReady, check_root_key, prepare, prepare_data_dir
from vault.config import Settings, load_settings
from vault.crypto.kek import RootKeyError
from vault.crypto.rootkey import EnvRootKey
from vault.db.engine import create_engine
from vault.db.migrate import current, head, upgrade


async def test_upgrade_an_empty_database_to_head(settings: Settings) -> None:
    prepare_data_dir(settings)
    engine = create_engine(settings)
    try:
        assert await current(engine) is None
        await upgrade(engine)
        assert await current(engine) == head()
        await upgrade(engine)  # idempotent
        assert await current(engine) == head()
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "root_key_versions" in tables
    finally:
        await engine.dispose()


async def test_root_key_check_refuses_another_key(migrated: Settings) -> None:
    keys = prepare(migrated)
    engine = create_engine(migrated)
    try:
        await check_root_key(engine, keys.root)
        await check_root_key(engine, keys.root)
        other = EnvRootKey(base64.b64encode(b"o" * 32).decode())
        with pytest.raises(RootKeyError, match="not the root key this database was created with"):
            await check_root_key(engine, other)
    finally:
        await engine.dispose()


async def test_root_key_check_on_empty_database_asks_for_upgrade(settings: Settings) -> None:
    prepare_data_dir(settings)
    engine = create_engine(settings)
    try:
        with pytest.raises(SchemaNotReady, match="vault db upgrade"):
            await check_root_key(engine, prepare(settings).root)
    finally:
        await engine.dispose()


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    s = load_settings({}, data_dir=str(tmp_path))
    prepare_data_dir(s)
    engine = create_engine(s)
    try:
        async with engine.connect() as conn:
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(text("PRAGMA foreign_keys"))) == 1
            assert (await conn.scalar(text("PRAGMA busy_timeout"))) >= 5000
    finally:
        await engine.dispose()


async def test_passkeys_and_passkey_sessions_from_before_0011_drop_to_basic(settings: Settings) -> None:
    """Under the old rule every passkey sign-in claimed substantial; nothing proved it, so nothing keeps it."""
    prepare_data_dir(settings)
    engine = create_engine(settings)
    now = datetime.now(UTC)
    try:
        await upgrade(engine, "0010")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO citizens (id, created_at) VALUES ('c1', :now)"), {"now": now})
            await conn.execute(
                text(
                    "INSERT INTO passkeys (id, citizen_id, credential_id, public_key, sign_count, created_at)"
                    " VALUES ('p1', 'c1', :cred, :key, 0, :now)"
                ),
                {"cred": b"credential", "key": b"cose key", "now": now},
            )
            for token, assurance in ((b"a" * 32, "substantial"), (b"b" * 32, "basic")):
                await conn.execute(
                    text(
                        "INSERT INTO sessions (token_hash, citizen_id, csrf_token, assurance, created_at, last_seen_at)"
                        " VALUES (:token, 'c1', 'csrf', :assurance, :now, :now)"
                    ),
                    {"token": token, "assurance": assurance, "now": now},
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            passkeys = (await conn.execute(text("SELECT assurance FROM passkeys"))).scalars().all()
            sessions = (await conn.execute(text("SELECT assurance FROM sessions"))).scalars().all()
        assert passkeys == ["basic"]
        assert sessions == ["basic", "basic"]
    finally:
        await engine.dispose()


async def test_accounts_and_sessions_from_before_0014_are_proven_at_basic(settings: Settings) -> None:
    """Every account before identity providers was self-registered: its identity level is basic, and a
    session keeps how it signed in while its effective level is the lower of the two."""
    from vault.citizens.reauth import effective_level

    prepare_data_dir(settings)
    engine = create_engine(settings)
    now = datetime.now(UTC)
    try:
        await upgrade(engine, "0013")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO citizens (id, created_at) VALUES ('c1', :now)"), {"now": now})
            await conn.execute(
                text(
                    "INSERT INTO sessions (token_hash, citizen_id, csrf_token, assurance, created_at, last_seen_at)"
                    " VALUES (:token, 'c1', 'csrf', 'basic', :now, :now)"
                ),
                {"token": b"a" * 32, "now": now},
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            level = (await conn.execute(text("SELECT identity_level FROM citizens"))).scalar_one()
            method = (await conn.execute(text("SELECT assurance FROM sessions"))).scalar_one()
            links = (await conn.execute(text("SELECT count(*) FROM identity_links"))).scalar_one()
        assert (level, method, links) == ("basic", "basic", 0)
        assert effective_level(method, level) == "basic"
    finally:
        await engine.dispose()
