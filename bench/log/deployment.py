"""Fresh databases with the vault schema, and a :class:`TransparencyLog` on them, as the service builds it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault.bootstrap import prepare
from vault.config import load_settings
from vault.crypto.macs import Pseudonymizer
from vault.crypto.service_secrets import service_secret
from vault.db.engine import create_engine
from vault.db.migrate import upgrade
from vault.transparency.log import TransparencyLog

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.support.postgres import PostgresServer
    from vault.config import Settings

_counter = itertools.count()


@dataclass
class Backend:
    """Where fresh databases come from: SQLite files in ``tmp``, or databases on ``server``."""

    name: str
    tmp: Path
    server: PostgresServer | None = None

    def fresh_url(self) -> str:
        """The URL of a new, empty database."""
        if self.server is not None:
            return self.server.url(self.server.create_database())
        return f"sqlite+aiosqlite:///{self.tmp / f'bench-{next(_counter)}.db'}"


@dataclass
class Deployment:
    """One migrated database, its settings and keys, and the log the service would build on it."""

    settings: Settings
    engine: AsyncEngine
    log: TransparencyLog

    async def dispose(self) -> None:
        """Close the engine's connections."""
        await self.engine.dispose()


async def deploy(backend: Backend, pool_size: int = 10) -> Deployment:
    """Create a database, migrate it, create keys and build the :class:`TransparencyLog` like ``vault serve``."""
    data_dir = backend.tmp / f"var-{next(_counter)}"
    return await _open(str(data_dir), backend.fresh_url(), pool_size, migrate=True)


async def reopen(data_dir: str, database_url: str, pool_size: int) -> Deployment:
    """The same deployment from another process: its keys from ``data_dir``, a new engine on its database."""
    return await _open(data_dir, database_url, pool_size, migrate=False)


async def _open(data_dir: str, database_url: str, pool_size: int, *, migrate: bool) -> Deployment:
    settings = load_settings({}, data_dir=data_dir, database_url=database_url, db_pool_size=pool_size)
    keys = prepare(settings)
    engine = create_engine(settings)
    if migrate:
        await upgrade(engine)
    pseudonymizer = Pseudonymizer(await service_secret(engine, keys.root, "log-pseudonym"))
    return Deployment(settings, engine, TransparencyLog(settings.log_origin, keys.log_signing, pseudonymizer))
