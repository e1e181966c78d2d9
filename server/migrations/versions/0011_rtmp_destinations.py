"""rtmp destinations: a café's simulcast ingests, the stream key sealed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rtmp_destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cafe_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(60), nullable=False),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("key_last4", sa.String(4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cafe_id"], ["cafes.id"], ondelete="CASCADE",
                                name=op.f("fk_rtmp_destinations_cafe_id_cafes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rtmp_destinations")),
    )
    op.create_index(op.f("ix_rtmp_destinations_cafe_id"), "rtmp_destinations", ["cafe_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rtmp_destinations_cafe_id"), table_name="rtmp_destinations")
    op.drop_table("rtmp_destinations")
