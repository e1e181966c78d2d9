"""attendance peak: the most parents present at once in a café, recorded while live

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 03:30:00

One nullable number per café: cafés that were live before this revision keep NULL (not
recorded), which the figures page shows as a dash.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cafes") as batch:
        batch.add_column(sa.Column("peak_parents", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cafes") as batch:
        batch.drop_column("peak_parents")
