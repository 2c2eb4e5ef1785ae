"""Guard rails: a workspace's two-person approval policy, fallback requests waiting for a
second admin (and the workflow step waiting on one), and timers that switch a fallback back off.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _team() -> sa.Column:
    return sa.Column(
        "team_id",
        sa.String(32),
        sa.ForeignKey("workspaces.team_id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("approval_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "fallback_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        _team(),
        sa.Column("requester_id", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(32)),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("duration", sa.String(16), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("function_execution_id", sa.String(64)),
        sa.Column("function_token", sa.Text()),
    )
    op.create_index("ix_fallback_requests_due", "fallback_requests", ["status", "expires_at"])
    op.create_table(
        "fallback_timers",
        _team(),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("alias", sa.String(32)),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("set_by", sa.String(32), nullable=False),
        sa.Column("approved_by", sa.String(32)),
        sa.Column("off_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "application_id"),
    )
    op.create_index("ix_fallback_timers_due", "fallback_timers", ["off_at"])


def downgrade() -> None:
    op.drop_table("fallback_timers")
    op.drop_table("fallback_requests")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("approval_required")
