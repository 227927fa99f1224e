"""Auditors' own activity, recorded for other auditors.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auditor_activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("path", sa.String(64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["auditors.account_id"], name=op.f("fk_auditor_activity_account_id_auditors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auditor_activity")),
    )
    op.create_index(op.f("ix_auditor_activity_created_at"), "auditor_activity", ["created_at"])
    op.create_index(op.f("ix_auditor_activity_account_id"), "auditor_activity", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auditor_activity_account_id"), table_name="auditor_activity")
    op.drop_index(op.f("ix_auditor_activity_created_at"), table_name="auditor_activity")
    op.drop_table("auditor_activity")
