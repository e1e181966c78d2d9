"""transcript review: segment versions (optimistic locking) and redactions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:45:00

A plain ADD COLUMN (no batch copy of the table on SQLite: that would drop the search
index's triggers on ``segments``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('segments', sa.Column('version', sa.Integer(), server_default='1',
                                        nullable=False))
    op.create_table(
        'redactions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cafe_id', sa.Integer(), nullable=False),
        sa.Column('start_seconds', sa.Float(), nullable=False),
        sa.Column('end_seconds', sa.Float(), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('applied', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['cafe_id'], ['cafes.id'],
                                name=op.f('fk_redactions_cafe_id_cafes'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_redactions')),
    )
    op.create_index(op.f('ix_redactions_cafe_id'), 'redactions', ['cafe_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_redactions_cafe_id'), table_name='redactions')
    op.drop_table('redactions')
    # Not a batch copy on SQLite (it would drop the search triggers); SQLite >= 3.35 drops
    # a column in place.
    op.drop_column('segments', 'version')
