"""Transparency log: entries, tiles, state, checkpoints; wrapped service secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wrapped_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("root_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_wrapped_secrets")),
    )
    op.create_table(
        "log_entries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("commitment", sa.LargeBinary(32), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_entries")),
        sa.UniqueConstraint("leaf_index", name=op.f("uq_log_entries_leaf_index")),
        sa.UniqueConstraint("commitment", name=op.f("uq_log_entries_commitment")),
    )
    op.create_index(op.f("ix_log_entries_pseudonym"), "log_entries", ["pseudonym"])
    op.create_index(
        "ix_log_entries_pending",
        "log_entries",
        ["id"],
        sqlite_where=sa.text("leaf_index IS NULL"),
        postgresql_where=sa.text("leaf_index IS NULL"),
    )
    op.create_table(
        "log_tiles",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_log_tiles")),
    )
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("compact", sa.LargeBinary(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_state")),
    )
    log_state = sa.table(
        "log_state",
        sa.column("id", sa.Integer()),
        sa.column("size", sa.BigInteger()),
        sa.column("compact", sa.LargeBinary()),
        sa.column("root", sa.LargeBinary()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        log_state,
        [{"id": 1, "size": 0, "compact": b"", "root": hashlib.sha256(b"").digest(), "updated_at": datetime.now(UTC)}],
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_log_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_table("log_state")
    op.drop_table("log_tiles")
    op.drop_index("ix_log_entries_pending", table_name="log_entries")
    op.drop_index(op.f("ix_log_entries_pseudonym"), table_name="log_entries")
    op.drop_table("log_entries")
    op.drop_table("wrapped_secrets")
