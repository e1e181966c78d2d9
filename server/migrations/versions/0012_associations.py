"""associations: several organisations share one Causerie; every café belongs to one

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:50:00

Existing cafés and organisers go into a first association, named by the setting
`first_association` (default "Causerie"): `causerie db upgrade` passes it in the Alembic
config's attributes; a bare `alembic upgrade` reads CAUSERIE_FIRST_ASSOCIATION.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _first_name() -> str:
    name = context.config.attributes.get("first_association") or os.environ.get(
        "CAUSERIE_FIRST_ASSOCIATION", "") or "Causerie"
    return str(name).strip()[:120] or "Causerie"


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:60].strip("-") or "association"


def upgrade() -> None:
    op.create_table(
        "associations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(60), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("website", sa.String(300), server_default="", nullable=False),
        sa.Column("colour", sa.String(7), server_default="#2f6f5e", nullable=False),
        sa.Column("help_numbers", sa.Text(), server_default="", nullable=False),
        sa.Column("logo", sa.String(100), nullable=True),
        sa.Column("logo_type", sa.String(20), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_associations")),
        sa.UniqueConstraint("slug", name=op.f("uq_associations_slug")),
    )
    name = _first_name()
    associations = sa.table("associations", sa.column("id", sa.Integer),
                            sa.column("slug", sa.String), sa.column("name", sa.String),
                            sa.column("created_at", TS))
    op.get_bind().execute(associations.insert().values(
        slug=_slug(name), name=name, created_at=datetime.now(UTC)))
    first = op.get_bind().execute(sa.select(sa.func.min(associations.c.id))).scalar_one()

    with op.batch_alter_table("organisers") as batch:
        batch.add_column(sa.Column("association_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("platform_admin", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.create_foreign_key(op.f("fk_organisers_association_id_associations"),
                                 "associations", ["association_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_index(op.f("ix_organisers_association_id"), ["association_id"])
    op.execute(sa.text("UPDATE organisers SET association_id = :a").bindparams(a=first))

    with op.batch_alter_table("cafes") as batch:
        batch.add_column(sa.Column("association_id", sa.Integer(), nullable=True))
    op.execute(sa.text("UPDATE cafes SET association_id = :a").bindparams(a=first))
    with op.batch_alter_table("cafes") as batch:
        batch.alter_column("association_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_cafes_association_id_associations"),
                                 "associations", ["association_id"], ["id"],
                                 ondelete="RESTRICT")
        batch.create_index(op.f("ix_cafes_association_id"), ["association_id"])

    op.create_table(
        "organiser_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("association_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"], ondelete="CASCADE",
                                name=op.f("fk_organiser_invitations_association_id_associations")),
        sa.ForeignKeyConstraint(["created_by"], ["organisers.id"], ondelete="SET NULL",
                                name=op.f("fk_organiser_invitations_created_by_organisers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organiser_invitations")),
        sa.UniqueConstraint("nonce", name=op.f("uq_organiser_invitations_nonce")),
    )
    op.create_index(op.f("ix_organiser_invitations_association_id"), "organiser_invitations",
                    ["association_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_organiser_invitations_association_id"),
                  table_name="organiser_invitations")
    op.drop_table("organiser_invitations")
    with op.batch_alter_table("cafes") as batch:
        batch.drop_index(op.f("ix_cafes_association_id"))
        batch.drop_constraint(op.f("fk_cafes_association_id_associations"), type_="foreignkey")
        batch.drop_column("association_id")
    with op.batch_alter_table("organisers") as batch:
        batch.drop_index(op.f("ix_organisers_association_id"))
        batch.drop_constraint(op.f("fk_organisers_association_id_associations"),
                              type_="foreignkey")
        batch.drop_column("platform_admin")
        batch.drop_column("association_id")
    op.drop_table("associations")
