"""Quota history (observations) and channel digests (schedules and their deliveries).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        # Exact decimal text as Ace Data Cloud sent it, however long.
        sa.Column("remaining", sa.Text(), nullable=False),
        sa.Column("used", sa.Text(), nullable=False),
        sa.Column("allow_consume_global", sa.Boolean()),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_observations_application_time",
        "observations",
        ["team_id", "application_id", "observed_at"],
    )
    op.create_table(
        "digest_schedules",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "team_id",
            sa.String(32),
            sa.ForeignKey("workspaces.team_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at_time", sa.String(5), nullable=False),
        sa.Column("weekday", sa.Integer()),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_reason", sa.String(64)),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("team_id", "channel_id", name="uq_digest_schedules_channel"),
    )
    op.create_index("ix_digest_schedules_due", "digest_schedules", ["next_run_at"])
    op.create_table(
        "digest_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "schedule_id",
            sa.Integer(),
            sa.ForeignKey("digest_schedules.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slack_error", sa.String(64)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("schedule_id", "slot", name="uq_digest_deliveries_slot"),
    )
    op.create_index("ix_digest_deliveries_lease", "digest_deliveries", ["outcome", "lease_until"])


def downgrade() -> None:
    op.drop_table("digest_deliveries")
    op.drop_table("digest_schedules")
    op.drop_index("ix_observations_application_time", table_name="observations")
    op.drop_table("observations")
