"""transcript search index (SQLite FTS5 / PostgreSQL fr_unaccent tsvector + GIN)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:00:00

The index objects live outside `sessions.storage.tables.metadata` (an FTS5 virtual table and
its triggers on SQLite; a text search configuration, a generated tsvector column and a GIN
index on PostgreSQL): `transcripts.search.is_search_object` names them for autogenerate.
"""

from __future__ import annotations

from alembic import op

from transcripts.search import install_search_index, uninstall_search_index

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    install_search_index(op.get_bind(), scope=False)


def downgrade() -> None:
    uninstall_search_index(op.get_bind())
