"""Alerts count the rounds they could not be checked for a reason no retry fixes (alias gone, no
token), so that they are paused with that reason instead of tried forever.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quota_alerts") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("quota_alerts") as batch:
        batch.drop_column("failures")
