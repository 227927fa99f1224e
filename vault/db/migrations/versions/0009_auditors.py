"""Auditors, refused agency requests, and log columns for the auditors' filters and for retention.

``log_entries.service``, ``legal_basis`` and ``grant_id`` are copied from each entry's record (existing rows are
filled in here), so an auditor's filters do not decode every record.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BACKFILL_BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "auditors",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["citizens.id"], name=op.f("fk_auditors_account_id_citizens")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_auditors")),
    )
    op.create_table(
        "refused_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("grant_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refused_requests")),
    )
    op.create_index(op.f("ix_refused_requests_created_at"), "refused_requests", ["created_at"])
    op.create_index(op.f("ix_refused_requests_client_id"), "refused_requests", ["client_id"])
    with op.batch_alter_table("log_entries") as batch:
        batch.add_column(sa.Column("service", sa.String(64), nullable=True))
        batch.add_column(sa.Column("legal_basis", sa.String(500), nullable=True))
        batch.add_column(sa.Column("grant_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_log_entries_created_at"), "log_entries", ["created_at"])
    op.create_index(op.f("ix_log_entries_actor"), "log_entries", ["actor"])
    op.create_index(op.f("ix_log_entries_grant_id"), "log_entries", ["grant_id"])
    op.create_index(op.f("ix_log_entries_service"), "log_entries", ["service"])
    _backfill()


def _backfill() -> None:
    """Copy service and legal basis out of the existing records, a batch at a time."""
    conn = op.get_bind()
    entries = sa.table(
        "log_entries",
        sa.column("id", sa.Integer),
        sa.column("record", sa.LargeBinary),
        sa.column("service", sa.String),
        sa.column("legal_basis", sa.String),
        sa.column("grant_id", sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(entries.c.id, entries.c.record)
            .where(entries.c.id > last)
            .order_by(entries.c.id)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        for entry_id, record in rows:
            fields = json.loads(bytes(record))
            copied = {name: fields.get(name) for name in ("service", "legal_basis", "grant_id")}
            if any(value is not None for value in copied.values()):
                conn.execute(sa.update(entries).where(entries.c.id == entry_id).values(**copied))
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index(op.f("ix_log_entries_service"), table_name="log_entries")
    op.drop_index(op.f("ix_log_entries_grant_id"), table_name="log_entries")
    op.drop_index(op.f("ix_log_entries_actor"), table_name="log_entries")
    op.drop_index(op.f("ix_log_entries_created_at"), table_name="log_entries")
    with op.batch_alter_table("log_entries") as batch:
        batch.drop_column("pruned_at")
        batch.drop_column("grant_id")
        batch.drop_column("legal_basis")
        batch.drop_column("service")
    op.drop_index(op.f("ix_refused_requests_client_id"), table_name="refused_requests")
    op.drop_index(op.f("ix_refused_requests_created_at"), table_name="refused_requests")
    op.drop_table("refused_requests")
    op.drop_table("auditors")
