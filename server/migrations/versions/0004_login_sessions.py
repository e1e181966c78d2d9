"""login sessions: organiser logins kept on the server, so logout and a password change end them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("organiser_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organiser_id"], ["organisers.id"], ondelete="CASCADE",
                                name=op.f("fk_login_sessions_organiser_id_organisers")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_sessions")),
    )
    op.create_index(op.f("ix_login_sessions_organiser_id"), "login_sessions", ["organiser_id"])
    op.create_index(op.f("ix_login_sessions_expires_at"), "login_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_sessions_expires_at"), table_name="login_sessions")
    op.drop_index(op.f("ix_login_sessions_organiser_id"), table_name="login_sessions")
    op.drop_table("login_sessions")
