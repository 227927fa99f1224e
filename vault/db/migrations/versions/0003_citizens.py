"""Citizens, their wrapped data keys, attributes and documents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("login_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("login_ct", sa.LargeBinary(), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizens")),
        sa.UniqueConstraint("login_hash", name=op.f("uq_citizens_login_hash")),
    )
    op.create_table(
        "citizen_keys",
        sa.Column("citizen_id", sa.String(36), nullable=False),
        sa.Column("dek_version", sa.Integer(), nullable=False),
        sa.Column("root_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name=op.f("fk_citizen_keys_citizen_id_citizens")),
        sa.PrimaryKeyConstraint("citizen_id", name=op.f("pk_citizen_keys")),
    )
    op.create_index(op.f("ix_citizen_keys_root_version"), "citizen_keys", ["root_version"])
    op.create_table(
        "attributes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("citizen_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name=op.f("fk_attributes_citizen_id_citizens")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attributes")),
    )
    op.create_index("ix_attributes_citizen_name_version", "attributes", ["citizen_id", "name", "version"], unique=True)
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("citizen_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name=op.f("fk_documents_citizen_id_citizens")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index(op.f("ix_documents_citizen_id"), "documents", ["citizen_id"])
    op.create_table(
        "document_chunks",
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_document_chunks_document_id_documents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("document_id", "idx", name=op.f("pk_document_chunks")),
    )


def downgrade() -> None:
    op.drop_table("document_chunks")
    op.drop_index(op.f("ix_documents_citizen_id"), table_name="documents")
    op.drop_table("documents")
    op.drop_index("ix_attributes_citizen_name_version", table_name="attributes")
    op.drop_table("attributes")
    op.drop_index(op.f("ix_citizen_keys_root_version"), table_name="citizen_keys")
    op.drop_table("citizen_keys")
    op.drop_table("citizens")
