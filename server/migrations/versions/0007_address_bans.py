"""address bans: a moderator's short ban by Internet address, kept only while it lasts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "address_bans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cafe_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cafe_id"], ["cafes.id"], ondelete="CASCADE",
                                name=op.f("fk_address_bans_cafe_id_cafes")),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="SET NULL",
                                name=op.f("fk_address_bans_participant_id_participants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_bans")),
    )
    op.create_index(op.f("ix_address_bans_cafe_id"), "address_bans", ["cafe_id"])
    op.create_index(op.f("ix_address_bans_expires_at"), "address_bans", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_address_bans_expires_at"), table_name="address_bans")
    op.drop_index(op.f("ix_address_bans_cafe_id"), table_name="address_bans")
    op.drop_table("address_bans")
