"""The migrations build exactly the schema the models describe (no table, column or index missing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import vault.audit.tables
import vault.citizens.passkeys
import vault.citizens.sessions
import vault.citizens.tables
import vault.citizens.throttle
import vault.consent.catalogue
import vault.consent.grants
import vault.consent.tables
import vault.crypto.tables
import vault.transparency.tables  # noqa: F401  the models the migrations must match
from vault.db.engine import create_engine
from vault.db.models import Base

if TYPE_CHECKING:
    from vault.config import Settings


def _diff(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [d for d in compare_metadata(context, Base.metadata) if not _alembic_own(d)]


def _alembic_own(diff: Any) -> bool:
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


async def test_migrated_schema_matches_the_models(migrated: Settings) -> None:
    engine = create_engine(migrated)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == []
