"""Persistence of associations, their organisers and organiser invitations (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.associations import Association, AssociationDraft, slug_from_name
from sessions.storage.tables import associations, organiser_invitations, organisers


def row_to_association(row: Any) -> Association:
    m = row._mapping
    return Association(id=m["id"], slug=m["slug"], name=m["name"],
                       description=m["description"], website=m["website"],
                       colour=m["colour"], help_numbers=m["help_numbers"], logo=m["logo"],
                       logo_type=m["logo_type"])


class AssociationRepository:
    async def insert(self, conn: AsyncConnection, slug: str, draft: AssociationDraft,
                     now: datetime) -> Association:
        result = await conn.execute(associations.insert().values(
            slug=slug, name=draft.name, description=draft.description, website=draft.website,
            colour=draft.colour, help_numbers=draft.help_numbers, created_at=now,
        ).returning(*associations.c))
        return row_to_association(result.one())

    async def update(self, conn: AsyncConnection, association_id: int,
                     draft: AssociationDraft) -> None:
        await conn.execute(associations.update().where(associations.c.id == association_id)
                           .values(name=draft.name, description=draft.description,
                                   website=draft.website, colour=draft.colour,
                                   help_numbers=draft.help_numbers))

    async def set_logo(self, conn: AsyncConnection, association_id: int, logo: str | None,
                       logo_type: str | None) -> None:
        await conn.execute(associations.update().where(associations.c.id == association_id)
                           .values(logo=logo, logo_type=logo_type))

    async def slug_exists(self, conn: AsyncConnection, slug: str) -> bool:
        found = await conn.scalar(sa.select(associations.c.id)
                                  .where(associations.c.slug == slug))
        return found is not None

    async def by_slug(self, conn: AsyncConnection, slug: str) -> Association | None:
        row = (await conn.execute(sa.select(associations)
                                  .where(associations.c.slug == slug))).first()
        return None if row is None else row_to_association(row)

    async def by_id(self, conn: AsyncConnection, association_id: int) -> Association | None:
        row = (await conn.execute(sa.select(associations)
                                  .where(associations.c.id == association_id))).first()
        return None if row is None else row_to_association(row)

    async def first(self, conn: AsyncConnection) -> Association | None:
        row = (await conn.execute(sa.select(associations).order_by(associations.c.id)
                                  .limit(1))).first()
        return None if row is None else row_to_association(row)

    async def all(self, conn: AsyncConnection) -> list[Association]:
        rows = await conn.execute(sa.select(associations).order_by(associations.c.name,
                                                                   associations.c.id))
        return [row_to_association(r) for r in rows]

    # organisers

    async def organisers(self, conn: AsyncConnection, association_id: int,
                         *, for_update: bool = False) -> list[Any]:
        query = (sa.select(organisers.c.id, organisers.c.email, organisers.c.display_name)
                 .where(organisers.c.association_id == association_id)
                 .order_by(organisers.c.id))
        if for_update:
            query = query.with_for_update()
        return [r._mapping for r in await conn.execute(query)]

    async def delete_organiser(self, conn: AsyncConnection, organiser_id: int) -> None:
        await conn.execute(organisers.delete().where(organisers.c.id == organiser_id))

    # organiser invitations

    async def insert_invitation(self, conn: AsyncConnection, association_id: int, nonce: str,
                                created_by: int | None, expires_at: datetime,
                                now: datetime) -> int:
        result = await conn.execute(organiser_invitations.insert().values(
            association_id=association_id, nonce=nonce, created_by=created_by,
            expires_at=expires_at, created_at=now).returning(organiser_invitations.c.id))
        return int(result.scalar_one())

    async def invitation(self, conn: AsyncConnection, invitation_id: int, *,
                         for_update: bool = False) -> Any | None:
        query = sa.select(organiser_invitations).where(
            organiser_invitations.c.id == invitation_id)
        if for_update:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return None if row is None else row._mapping

    async def invitations(self, conn: AsyncConnection, association_id: int) -> list[Any]:
        rows = await conn.execute(sa.select(organiser_invitations).where(
            organiser_invitations.c.association_id == association_id)
            .order_by(organiser_invitations.c.id))
        return [r._mapping for r in rows]

    async def mark_invitation(self, conn: AsyncConnection, invitation_id: int, *,
                              used_at: datetime | None = None,
                              revoked_at: datetime | None = None) -> None:
        values = {"used_at": used_at} if used_at is not None else {"revoked_at": revoked_at}
        await conn.execute(organiser_invitations.update()
                           .where(organiser_invitations.c.id == invitation_id).values(**values))


async def first_association_id(conn: AsyncConnection, name: str = "Causerie") -> int:
    """The first association's id, made (named `name`) on a database that has none (a
    database emptied by hand; scripts and tests that write cafés rows directly)."""
    found = await conn.scalar(sa.select(sa.func.min(associations.c.id)))
    if found is not None:
        return int(found)
    slug = slug_from_name(name)
    result = await conn.execute(associations.insert().values(
        slug=slug, name=name, created_at=datetime.now(UTC)).returning(associations.c.id))
    return int(result.scalar_one())
