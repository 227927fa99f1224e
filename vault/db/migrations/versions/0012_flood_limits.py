"""Indexes for purging expired rows: challenges, OAuth state and throttle counters.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("passkey_challenges", "expires_at"),
    ("oauth_pushed_requests", "expires_at"),
    ("oauth_codes", "expires_at"),
    ("oauth_tokens", "expires_at"),
    ("login_throttle", "window_start"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def downgrade() -> None:
    for table, column in reversed(INDEXES):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
