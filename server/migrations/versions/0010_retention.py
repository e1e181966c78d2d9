"""retention: how long a café's raw recordings are kept, and when they were deleted

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cafes") as batch:
        batch.add_column(sa.Column("recording_retention_days", sa.Integer(), nullable=False,
                                   server_default="30"))
        batch.add_column(sa.Column("recordings_deleted_at", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cafes") as batch:
        batch.drop_column("recordings_deleted_at")
        batch.drop_column("recording_retention_days")
