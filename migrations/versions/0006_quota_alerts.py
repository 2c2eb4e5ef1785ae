"""Low-quota alerts: one row per watched (channel, alias).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "team_id",
            sa.String(32),
            sa.ForeignKey("workspaces.team_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(32), nullable=False),
        sa.Column("threshold_kind", sa.String(8), nullable=False),
        sa.Column("threshold", sa.Text(), nullable=False),
        sa.Column("said", sa.Integer(), nullable=False),
        sa.Column("snoozed_until", sa.DateTime(timezone=True)),
        sa.Column("snoozed_at", sa.Integer()),
        sa.Column("until_recovered", sa.Boolean(), nullable=False),
        sa.Column("last_remaining", sa.Text()),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True)),
        sa.Column("paused_reason", sa.String(64)),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("team_id", "channel_id", "alias", name="uq_quota_alerts_alias"),
    )
    op.create_index("ix_quota_alerts_due", "quota_alerts", ["next_check_at"])


def downgrade() -> None:
    op.drop_table("quota_alerts")
