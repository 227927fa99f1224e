"""OAuth state: pushed requests, codes, tokens, seen jti values; what a once grant has delivered.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_pushed_requests",
        sa.Column("request_uri_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["agencies.client_id"], name=op.f("fk_oauth_pushed_requests_client_id_agencies")
        ),
        sa.PrimaryKeyConstraint("request_uri_hash", name=op.f("pk_oauth_pushed_requests")),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(36), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["agencies.client_id"], name=op.f("fk_oauth_codes_client_id_agencies")),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_oauth_codes_grant_id_grants")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oauth_codes")),
    )
    op.create_table(
        "oauth_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(36), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("jkt", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["agencies.client_id"], name=op.f("fk_oauth_tokens_client_id_agencies")),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_oauth_tokens_grant_id_grants")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth_tokens")),
    )
    op.create_index(op.f("ix_oauth_tokens_grant_id"), "oauth_tokens", ["grant_id"])
    op.create_index(op.f("ix_oauth_tokens_code_hash"), "oauth_tokens", ["code_hash"])
    op.create_table(
        "oauth_seen_jtis",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("jti_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "jti_hash", name=op.f("pk_oauth_seen_jtis")),
    )
    op.create_index(op.f("ix_oauth_seen_jtis_expires_at"), "oauth_seen_jtis", ["expires_at"])
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("consumed", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("consumed")
    op.drop_table("oauth_seen_jtis")
    op.drop_table("oauth_tokens")
    op.drop_table("oauth_codes")
    op.drop_table("oauth_pushed_requests")
