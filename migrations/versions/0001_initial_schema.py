"""Initial schema: workspaces, aliases, bot admins, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WORKSPACE_ONLY = sa.text("channel_id IS NULL")


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("enterprise_id", sa.String(32)),
        sa.Column("acedata_token", sa.Text()),
        sa.Column("acedata_token_last4", sa.String(4)),
        sa.Column("acedata_account", sa.String(255)),
        sa.Column("token_set_by", sa.String(32)),
        sa.Column("token_set_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "team_id",
            sa.String(32),
            sa.ForeignKey("workspaces.team_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("team_id", "channel_id", "name", name="uq_aliases_channel_name"),
    )
    op.create_index(
        "uq_aliases_workspace_name",
        "aliases",
        ["team_id", "name"],
        unique=True,
        sqlite_where=WORKSPACE_ONLY,
        postgresql_where=WORKSPACE_ONLY,
    )
    op.create_table(
        "bot_admins",
        sa.Column(
            "team_id",
            sa.String(32),
            sa.ForeignKey("workspaces.team_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("added_by", sa.String(32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(32)),
        sa.Column("application_id", sa.String(36)),
        sa.Column("before", sa.String(64)),
        sa.Column("requested", sa.String(64)),
        sa.Column("after", sa.String(64)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(100)),
        sa.Column("detail", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_events_team_created", "audit_events", ["team_id", "created_at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("bot_admins")
    op.drop_index("uq_aliases_workspace_name", table_name="aliases")
    op.drop_table("aliases")
    op.drop_table("workspaces")
