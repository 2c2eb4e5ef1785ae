"""Seen request signatures: a signed Slack request is accepted once, so it cannot be replayed.

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
        "seen_request_signatures",
        sa.Column("signature", sa.String(80), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_seen_request_signatures_seen_at", "seen_request_signatures", ["seen_at"])


def downgrade() -> None:
    op.drop_table("seen_request_signatures")
