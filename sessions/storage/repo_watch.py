"""Persistence of the watched-word lists: one row per café (its own terms) and one per
organiser (their default list)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.storage.tables import cafes, watch_lists


class WatchRepository:
    async def body(self, conn: AsyncConnection, *, cafe_id: int | None = None,
                   organiser_id: int | None = None) -> str | None:
        column = watch_lists.c.cafe_id if cafe_id is not None else watch_lists.c.organiser_id
        found = await conn.scalar(sa.select(watch_lists.c.body).where(
            column == (cafe_id if cafe_id is not None else organiser_id)))
        return None if found is None else str(found)

    async def save(self, conn: AsyncConnection, body: str, now: datetime, *,
                   cafe_id: int | None = None, organiser_id: int | None = None) -> None:
        owner = {"cafe_id": cafe_id} if cafe_id is not None else {"organiser_id": organiser_id}
        column = watch_lists.c.cafe_id if cafe_id is not None else watch_lists.c.organiser_id
        updated = await conn.execute(sa.update(watch_lists).where(
            column == next(iter(owner.values()))).values(body=body, updated_at=now))
        if updated.rowcount == 0:
            await conn.execute(sa.insert(watch_lists).values(body=body, updated_at=now,
                                                             **owner))

    async def cafe_owner(self, conn: AsyncConnection, cafe_id: int) -> int | None:
        """The organiser who created the café (whose default list it starts from)."""
        found = await conn.scalar(sa.select(cafes.c.created_by).where(cafes.c.id == cafe_id))
        return None if found is None else int(found)
