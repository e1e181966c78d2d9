"""safeguarding: watched-word lists, held and flagged chat and questions, reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("watch", sa.JSON(), nullable=True))
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("held", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("watch", sa.JSON(), nullable=True))
    op.create_table(
        "watch_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cafe_id", sa.Integer(), nullable=True),
        sa.Column("organiser_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["cafe_id"], ["cafes.id"], ondelete="CASCADE",
                                name=op.f("fk_watch_lists_cafe_id_cafes")),
        sa.ForeignKeyConstraint(["organiser_id"], ["organisers.id"], ondelete="CASCADE",
                                name=op.f("fk_watch_lists_organiser_id_organisers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_lists")),
        sa.UniqueConstraint("cafe_id", name=op.f("uq_watch_lists_cafe_id")),
        sa.UniqueConstraint("organiser_id", name=op.f("uq_watch_lists_organiser_id")),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cafe_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("target_participant_id", sa.Integer(), nullable=True),
        sa.Column("target_pseudonym", sa.String(40), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False, server_default=""),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("resolved_by", sa.String(120), nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["cafe_id"], ["cafes.id"], ondelete="CASCADE",
                                name=op.f("fk_reports_cafe_id_cafes")),
        sa.ForeignKeyConstraint(["reporter_id"], ["participants.id"], ondelete="SET NULL",
                                name=op.f("fk_reports_reporter_id_participants")),
        sa.ForeignKeyConstraint(["target_participant_id"], ["participants.id"],
                                ondelete="SET NULL",
                                name=op.f("fk_reports_target_participant_id_participants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index(op.f("ix_reports_cafe_id"), "reports", ["cafe_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reports_cafe_id"), table_name="reports")
    op.drop_table("reports")
    op.drop_table("watch_lists")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("watch")
        batch.drop_column("held")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("watch")
