"""Alembic environment: runs on the connection given by :mod:`vault.db.migrate`."""

from __future__ import annotations

from alembic import context

import vault.audit.tables
import vault.citizens.passkeys
import vault.citizens.sessions
import vault.citizens.tables
import vault.citizens.throttle
import vault.consent.catalogue
import vault.consent.grants
import vault.consent.tables
import vault.crypto.tables
import vault.identity.tables
import vault.transparency.tables  # noqa: F401  registers the tables on Base.metadata
from vault.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `vault db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
