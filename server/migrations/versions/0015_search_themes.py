"""search: prefix indexes of 3 to 8 characters and the café's theme in SQLite's index

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 04:20:00

A search filtered by theme read five times the matches it kept on SQLite, each joined to
its café, and bm25 counted every match of the word: a second FTS5 table holds each stem
behind its café's theme code (`transcripts.search_sqlite`), so such a search reads the
theme's postings only; and a prefix of 3 to 8 characters reads its own index instead of
merging the postings of every word it starts. The index is built again (every segment
stemmed again).
PostgreSQL does not change here (0014). Downgrading builds 0003's table again.
"""

from __future__ import annotations

from alembic import op

from transcripts import search_sqlite

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        search_sqlite.reinstall(op.get_bind(), themed=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        search_sqlite.reinstall(op.get_bind(), themed=False)
