"""Catalogue (agencies, services) and grants.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_agencies")),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency"], ["agencies.client_id"], name=op.f("fk_services_agency_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    op.create_index(op.f("ix_services_agency"), "services", ["agency"])
    op.create_table(
        "grants",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("citizen_id", sa.String(36), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("documents", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(500), nullable=False),
        sa.Column("access", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name=op.f("fk_grants_citizen_id_citizens")),
        sa.ForeignKeyConstraint(["agency"], ["agencies.client_id"], name=op.f("fk_grants_agency_agencies")),
        sa.ForeignKeyConstraint(["service"], ["services.id"], name=op.f("fk_grants_service_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    op.create_index(op.f("ix_grants_citizen_id"), "grants", ["citizen_id"])
    op.create_index(op.f("ix_grants_agency"), "grants", ["agency"])


def downgrade() -> None:
    op.drop_table("grants")
    op.drop_index(op.f("ix_services_agency"), table_name="services")
    op.drop_table("services")
    op.drop_table("agencies")
