"""Why a quota runs out: readings of each API key's spend, keys the bot paused (to restore
their expiry), spike alerts, and what an exhaustion alert said about failed calls.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TEAM = ("workspaces.team_id",)


def _team() -> sa.Column:
    return sa.Column(
        "team_id", sa.String(32), sa.ForeignKey(*_TEAM, ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "key_readings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("key_name", sa.String(100)),
        sa.Column("used", sa.Text(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_key_readings_application_time",
        "key_readings",
        ["team_id", "application_id", "observed_at"],
    )
    op.create_table(
        "key_pauses",
        _team(),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("key_name", sa.String(100)),
        sa.Column("previous_expired_at", sa.DateTime(timezone=True)),
        sa.Column("paused_by", sa.String(32), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "key_id"),
    )
    op.create_table(
        "spike_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _team(),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(32), nullable=False),
        sa.Column("factor", sa.Text(), nullable=False),
        sa.Column("episode_started_at", sa.DateTime(timezone=True)),
        sa.Column("episode_ts", sa.String(32)),
        sa.Column("snoozed_until", sa.DateTime(timezone=True)),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True)),
        sa.Column("paused_reason", sa.String(64)),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("team_id", "channel_id", "alias", name="uq_spike_alerts_alias"),
    )
    op.create_index("ix_spike_alerts_due", "spike_alerts", ["next_check_at"])
    with op.batch_alter_table("quota_alerts") as batch:
        batch.add_column(sa.Column("out_since", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("out_ts", sa.String(32)))
        batch.add_column(sa.Column("out_failed_calls", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("quota_alerts") as batch:
        batch.drop_column("out_failed_calls")
        batch.drop_column("out_ts")
        batch.drop_column("out_since")
    op.drop_table("spike_alerts")
    op.drop_table("key_pauses")
    op.drop_table("key_readings")
