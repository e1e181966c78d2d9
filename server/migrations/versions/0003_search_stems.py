"""search index v2: French stems on SQLite; bucketed GIN indexes on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 06:00:00

Reinstalls the search index at its current version (`transcripts.search`): on SQLite the
FTS5 table now indexes Snowball French stems computed in Python (the triggers call
``causerie_fr_stems``, a function `transcripts.search_sqlite` registers on every
connection); on PostgreSQL the tsvector column gets partial GIN indexes by bucket so that a
search reads a bounded part of the index. Existing segments are indexed again here.
Downgrading keeps the current index (0002 installs the same code).
"""

from __future__ import annotations

from alembic import op

from transcripts.search import install_search_index, uninstall_search_index

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    uninstall_search_index(op.get_bind())
    install_search_index(op.get_bind(), scope=False)


def downgrade() -> None:
    pass
