"""Suite-wide fixtures: settings and an app client on SQLite and on a throwaway PostgreSQL.

Any test that takes ``database_url`` (or a fixture built on it) runs twice: ``[sqlite]`` and
``[postgresql]``. PostgreSQL tests skip, with the reason printed, only where no ``initdb``/``pg_ctl``
is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from litestar.testing import AsyncTestClient

from tests.support.log_harness import direct, harness  # noqa: F401  fixtures
from tests.support.postgres import PostgresServer, find_bindir, postgres_server
from tests.support.runtime import runtime  # noqa: F401  fixture
from tests.support.web import web  # noqa: F401  fixture
from vault.app import create_app
from vault.config import Settings, load_settings
from vault.db.engine import create_engine
from vault.db.migrate import upgrade

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run; each test gets its own database on it."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed; set VAULT_TEST_PG_BINDIR")
    with postgres_server(bindir) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'vault.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.url(server.create_database())


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with a fresh data dir and database."""
    return load_settings({}, data_dir=str(tmp_path / "var"), database_url=database_url)


@pytest.fixture
async def migrated(settings: Settings) -> Settings:
    """Settings whose database has the current schema."""
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return settings


@pytest.fixture
async def client(migrated: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """An in-process client of the whole app on a migrated database."""
    async with AsyncTestClient(create_app(migrated)) as c:
        yield c
