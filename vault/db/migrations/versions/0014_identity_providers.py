"""Upstream identity providers, accounts bound to them, and the level an account's identity was proven at.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

Every existing account was self-registered, so its identity level is ``basic``; sessions keep how
the person signed in (``sessions.assurance``) and are effective at the lower of that and the
account's identity level, so no existing session changes level.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("citizens") as batch:
        batch.add_column(sa.Column("identity_level", sa.String(16), server_default="basic", nullable=False))
    op.create_table(
        "identity_providers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(500), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("acr_map", sa.Text(), nullable=False),
        sa.Column("claims_map", sa.Text(), nullable=False),
        sa.Column("metadata_doc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_providers")),
    )
    op.create_table(
        "identity_links",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("provider_id", sa.String(36), nullable=False),
        sa.Column("subject_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("citizen_id", sa.String(36), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["identity_providers.id"], name=op.f("fk_identity_links_provider_id_identity_providers")
        ),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name=op.f("fk_identity_links_citizen_id_citizens")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_links")),
    )
    op.create_index(op.f("ix_identity_links_citizen_id"), "identity_links", ["citizen_id"])
    op.create_index(
        "ix_identity_links_provider_subject", "identity_links", ["provider_id", "subject_hash"], unique=True
    )
    op.create_index(  # one ID per provider per account
        "ix_identity_links_provider_citizen", "identity_links", ["provider_id", "citizen_id"], unique=True
    )
    op.create_table(
        "identity_requests",
        sa.Column("state_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("browser_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("provider_id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("citizen_id", sa.String(36), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("nonce", sa.String(100), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("session_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("next", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["identity_providers.id"],
            name=op.f("fk_identity_requests_provider_id_identity_providers"),
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_identity_requests")),
    )
    op.create_index(op.f("ix_identity_requests_expires_at"), "identity_requests", ["expires_at"])
    op.create_table(
        "saml_assertions_seen",
        sa.Column("id_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_saml_assertions_seen")),
    )
    op.create_index(op.f("ix_saml_assertions_seen_expires_at"), "saml_assertions_seen", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_saml_assertions_seen_expires_at"), table_name="saml_assertions_seen")
    op.drop_table("saml_assertions_seen")
    op.drop_index(op.f("ix_identity_requests_expires_at"), table_name="identity_requests")
    op.drop_table("identity_requests")
    op.drop_index("ix_identity_links_provider_citizen", table_name="identity_links")
    op.drop_index("ix_identity_links_provider_subject", table_name="identity_links")
    op.drop_index(op.f("ix_identity_links_citizen_id"), table_name="identity_links")
    op.drop_table("identity_links")
    op.drop_table("identity_providers")
    with op.batch_alter_table("citizens") as batch:
        batch.drop_column("identity_level")
