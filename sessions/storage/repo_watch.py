"""Persistence of the watched-word lists: one row per café (its own terms) and one per
association (its default list)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.storage.tables import cafes, watch_lists


class WatchRepository:
    async def body(self, conn: AsyncConnection, *, cafe_id: int | None = None,
                   association_id: int | None = None) -> str | None:
        column = watch_lists.c.cafe_id if cafe_id is not None else watch_lists.c.association_id
        found = await conn.scalar(sa.select(watch_lists.c.body).where(
            column == (cafe_id if cafe_id is not None else association_id)))
        return None if found is None else str(found)

    async def save(self, conn: AsyncConnection, body: str, now: datetime, *,
                   cafe_id: int | None = None, association_id: int | None = None) -> None:
        owner = ({"cafe_id": cafe_id} if cafe_id is not None
                 else {"association_id": association_id})
        column = watch_lists.c.cafe_id if cafe_id is not None else watch_lists.c.association_id
        updated = await conn.execute(sa.update(watch_lists).where(
            column == next(iter(owner.values()))).values(body=body, updated_at=now))
        if updated.rowcount == 0:
            await conn.execute(sa.insert(watch_lists).values(body=body, updated_at=now,
                                                             **owner))

    async def cafe_association(self, conn: AsyncConnection, cafe_id: int) -> int | None:
        """The association the café belongs to (whose default list it applies)."""
        found = await conn.scalar(sa.select(cafes.c.association_id).where(
            cafes.c.id == cafe_id))
        return None if found is None else int(found)
