"""transcript jobs keep their part's check: seconds of speech, seconds transcribed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:00:00

Each transcribed part is checked against its own audio (`transcripts.parts`): the job row
keeps the seconds of speech found, the seconds its text covers, whether it fell short, and
what the check did (chunks retried, fallbacks, repeats cut, chunks decoded cheaper).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COLUMNS = ("speech_seconds", "covered_seconds", "short", "retried", "fallbacks",
           "repetitions_cut", "degraded", "work_seconds")


def upgrade() -> None:
    with op.batch_alter_table("transcript_jobs") as batch:
        batch.add_column(sa.Column("speech_seconds", sa.Float))
        batch.add_column(sa.Column("covered_seconds", sa.Float))
        batch.add_column(sa.Column("short", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        for name in ("retried", "fallbacks", "repetitions_cut", "degraded"):
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("work_seconds", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("transcript_jobs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
