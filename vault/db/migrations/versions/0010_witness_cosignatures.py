"""Witness cosignatures of log checkpoints; checkpoints held back while witnesses are asked.

Existing checkpoints are not awaiting witnesses (the column's default), so they stay served.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_checkpoints") as batch:
        batch.add_column(sa.Column("awaiting_witnesses", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "log_cosignatures",
        sa.Column("witness", sa.String(300), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("witness", "size", name=op.f("pk_log_cosignatures")),
    )


def downgrade() -> None:
    op.drop_table("log_cosignatures")
    with op.batch_alter_table("log_checkpoints") as batch:
        batch.drop_column("awaiting_witnesses")
