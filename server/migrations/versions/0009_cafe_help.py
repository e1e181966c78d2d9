"""café help: help numbers and privacy notice per café, stage leave-out requests

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cafe_help",
        sa.Column("cafe_id", sa.Integer(), nullable=False),
        sa.Column("help_lines", sa.JSON(), nullable=True),
        sa.Column("privacy_fr", sa.Text(), server_default="", nullable=False),
        sa.Column("privacy_en", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cafe_id"], ["cafes.id"], ondelete="CASCADE",
                                name=op.f("fk_cafe_help_cafe_id_cafes")),
        sa.PrimaryKeyConstraint("cafe_id", name=op.f("pk_cafe_help")),
    )
    op.create_table(
        "stage_leave_outs",
        sa.Column("cafe_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["cafe_id"], ["cafes.id"], ondelete="CASCADE",
                                name=op.f("fk_stage_leave_outs_cafe_id_cafes")),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE",
                                name=op.f("fk_stage_leave_outs_participant_id_participants")),
        sa.PrimaryKeyConstraint("cafe_id", "participant_id", name=op.f("pk_stage_leave_outs")),
    )


def downgrade() -> None:
    op.drop_table("stage_leave_outs")
    op.drop_table("cafe_help")
