"""Passkeys carry the assurance of the session that enrolled them.

A passkey sign-in used to count as ``substantial`` whatever the session that added the passkey, so a
password (``basic``) session could raise its own level by enrolling one. From now on each passkey
stores its level (``passkeys.assurance``) and a passkey sign-in gets that level.

Existing passkeys get ``basic``: every one of them was enrolled from a session that began with a
password (no stronger sign-in existed), so none is proven stronger. The column keeps ``basic`` as
its server default, the safe side for any row written without a level. Sessions that a passkey
started under the old rule claim ``substantial`` they never proved; they drop to ``basic`` too, or one
of them could still enrol a ``substantial`` passkey after the upgrade.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passkeys") as batch:
        batch.add_column(sa.Column("assurance", sa.String(16), server_default="basic", nullable=False))
    op.execute(sa.text("UPDATE sessions SET assurance = 'basic' WHERE assurance <> 'basic'"))


def downgrade() -> None:
    with op.batch_alter_table("passkeys") as batch:
        batch.drop_column("assurance")
