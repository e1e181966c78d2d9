"""Persistence of a café's simulcast destinations (SQLAlchemy Core, async)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.destinations import Destination
from sessions.storage.database import as_utc
from sessions.storage.tables import rtmp_destinations as table


def _row(r: Any) -> Destination:
    return Destination(r.id, r.cafe_id, r.label, r.url, r.key_last4, as_utc(r.created_at))


class DestinationRepository:
    async def of_cafe(self, conn: AsyncConnection, cafe_id: int) -> list[Destination]:
        rows = await conn.execute(sa.select(table).where(table.c.cafe_id == cafe_id)
                                  .order_by(table.c.id))
        return [_row(r) for r in rows]

    async def sealed(self, conn: AsyncConnection, cafe_id: int
                     ) -> list[tuple[Destination, str]]:
        rows = await conn.execute(sa.select(table).where(table.c.cafe_id == cafe_id)
                                  .order_by(table.c.id))
        return [(_row(r), r.key_sealed) for r in rows]

    async def count(self, conn: AsyncConnection, cafe_id: int) -> int:
        found = await conn.scalar(sa.select(sa.func.count()).select_from(table)
                                  .where(table.c.cafe_id == cafe_id))
        return int(found or 0)

    async def add(self, conn: AsyncConnection, cafe_id: int, label: str, url: str,
                  key_sealed: str, key_last4: str, now: datetime) -> int:
        result = await conn.execute(table.insert().values(
            cafe_id=cafe_id, label=label, url=url, key_sealed=key_sealed,
            key_last4=key_last4, created_at=now).returning(table.c.id))
        return int(result.scalar_one())

    async def remove(self, conn: AsyncConnection, cafe_id: int, destination_id: int) -> bool:
        result = await conn.execute(table.delete().where(
            table.c.cafe_id == cafe_id, table.c.id == destination_id))
        return bool(result.rowcount)
