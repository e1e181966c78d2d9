"""search filters in the index (PostgreSQL): segments.search_scope, bucket GIN indexes on
(search_vector, search_scope)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:00:00

A filtered search read five times the rows it kept on PostgreSQL (a theme filter: every
match of the buckets it went through, then the café's theme checked on each): the café's
theme, association and id now sit in the index beside the text (`transcripts.search_postgres`),
kept by triggers; the existing segments get theirs here and the bucket indexes are built
again. SQLite's index does not change. Downgrading puts back the indexes of 0003.
"""

from __future__ import annotations

from alembic import op

from transcripts import search_postgres

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        search_postgres.install_scope(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        search_postgres.uninstall_scope(op.get_bind())
