"""Persistence of organisers, cafés, invitations and participants (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.cafe import Cafe, CafeDraft, CafeStatus
from sessions.storage.database import as_utc, as_utc_or_none
from sessions.storage.tables import cafes, invitations, organisers, participants

T = TypeVar("T")
# rows or bound values per statement: far below SQLite's 32,766 variables
CHUNK = 200


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def row_to_cafe(row: Any) -> Cafe:
    m = row._mapping
    return Cafe(
        id=m["id"], slug=m["slug"], title=m["title"], description=m["description"],
        theme=m["theme"], language=m["language"], starts_at=as_utc(m["starts_at"]),
        duration_minutes=m["duration_minutes"], status=CafeStatus(m["status"]),
        transcript_published=bool(m["transcript_published"]), glossary=m["glossary"],
        opened_at=as_utc_or_none(m["opened_at"]), ended_at=as_utc_or_none(m["ended_at"]),
        association_id=m["association_id"],
    )


class CafeRepository:
    async def slug_exists(self, conn: AsyncConnection, slug: str) -> bool:
        found = await conn.scalar(sa.select(cafes.c.id).where(cafes.c.slug == slug))
        return found is not None

    async def insert(self, conn: AsyncConnection, slug: str, draft: CafeDraft,
                     organiser_id: int | None, now: datetime, association_id: int) -> Cafe:
        result = await conn.execute(
            cafes.insert().values(
                slug=slug, title=draft.title, description=draft.description,
                theme=draft.theme, language=draft.language, starts_at=draft.starts_at,
                duration_minutes=draft.duration_minutes, glossary=draft.glossary,
                status=CafeStatus.SCHEDULED.value, transcript_published=False,
                created_by=organiser_id, created_at=now, association_id=association_id,
            ).returning(*cafes.c)
        )
        return row_to_cafe(result.one())

    async def update_draft(self, conn: AsyncConnection, cafe_id: int, draft: CafeDraft) -> None:
        await conn.execute(
            cafes.update().where(cafes.c.id == cafe_id).values(
                title=draft.title, description=draft.description, theme=draft.theme,
                language=draft.language, starts_at=draft.starts_at,
                duration_minutes=draft.duration_minutes, glossary=draft.glossary,
            )
        )

    async def save_state(self, conn: AsyncConnection, cafe: Cafe) -> None:
        await conn.execute(
            cafes.update().where(cafes.c.id == cafe.id).values(
                status=cafe.status.value, opened_at=cafe.opened_at, ended_at=cafe.ended_at,
                transcript_published=cafe.transcript_published,
            )
        )

    async def by_slug(self, conn: AsyncConnection, slug: str, *,
                      for_update: bool = False) -> Cafe | None:
        query = sa.select(cafes).where(cafes.c.slug == slug)
        if for_update:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return None if row is None else row_to_cafe(row)

    async def by_id(self, conn: AsyncConnection, cafe_id: int, *,
                    for_update: bool = False) -> Cafe | None:
        query = sa.select(cafes).where(cafes.c.id == cafe_id)
        if for_update:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return None if row is None else row_to_cafe(row)

    async def all(self, conn: AsyncConnection, *, theme: str | None = None,
                  association_id: int | None = None, limit: int = 200) -> list[Cafe]:
        query = sa.select(cafes).order_by(cafes.c.starts_at).limit(limit)
        if theme:
            query = query.where(cafes.c.theme == theme)
        if association_id is not None:
            query = query.where(cafes.c.association_id == association_id)
        return [row_to_cafe(r) for r in (await conn.execute(query)).all()]

    async def themes(self, conn: AsyncConnection) -> list[str]:
        rows = await conn.execute(sa.select(cafes.c.theme).distinct().order_by(cafes.c.theme))
        return [r[0] for r in rows]

    # organisers

    async def insert_organiser(self, conn: AsyncConnection, email: str, display_name: str,
                               password_hash: str, now: datetime, *,
                               association_id: int | None,
                               platform_admin: bool = False) -> int:
        result = await conn.execute(
            organisers.insert().values(email=email, display_name=display_name,
                                       password_hash=password_hash, created_at=now,
                                       association_id=association_id,
                                       platform_admin=platform_admin)
            .returning(organisers.c.id)
        )
        return int(result.scalar_one())

    async def organiser_by_email(self, conn: AsyncConnection, email: str) -> Any | None:
        row = (await conn.execute(sa.select(organisers).where(organisers.c.email == email))).first()
        return None if row is None else row._mapping

    async def organiser_by_id(self, conn: AsyncConnection, organiser_id: int) -> Any | None:
        row = (await conn.execute(
            sa.select(organisers).where(organisers.c.id == organiser_id))).first()
        return None if row is None else row._mapping

    async def set_password_hash(self, conn: AsyncConnection, organiser_id: int,
                                password_hash: str) -> None:
        await conn.execute(organisers.update().where(organisers.c.id == organiser_id)
                           .values(password_hash=password_hash))

    # invitations

    async def insert_invitation(self, conn: AsyncConnection, cafe_id: int, role: str,
                                nonce: str, expires_at: datetime, now: datetime) -> int:
        result = await conn.execute(
            invitations.insert().values(cafe_id=cafe_id, role=role, nonce=nonce,
                                        expires_at=expires_at, created_at=now)
            .returning(invitations.c.id)
        )
        return int(result.scalar_one())

    async def invitation(self, conn: AsyncConnection, invitation_id: int) -> Any | None:
        row = (await conn.execute(
            sa.select(invitations).where(invitations.c.id == invitation_id))).first()
        return None if row is None else row._mapping

    async def invitations_by_ids(self, conn: AsyncConnection,
                                 invitation_ids: Sequence[int]) -> dict[int, Any]:
        found: dict[int, Any] = {}
        for chunk in _chunks(sorted(set(invitation_ids))):
            rows = await conn.execute(sa.select(invitations).where(invitations.c.id.in_(chunk)))
            found.update((int(r.id), r._mapping) for r in rows)
        return found

    async def invitations_for(self, conn: AsyncConnection, cafe_id: int) -> list[Any]:
        rows = await conn.execute(sa.select(invitations).where(invitations.c.cafe_id == cafe_id)
                                  .order_by(invitations.c.id))
        return [r._mapping for r in rows]

    async def revoke_invitation(self, conn: AsyncConnection, invitation_id: int,
                                now: datetime) -> None:
        await conn.execute(invitations.update().where(invitations.c.id == invitation_id)
                           .values(revoked_at=now))

    async def demote_participants(self, conn: AsyncConnection, invitation_id: int,
                                  role: str) -> list[int]:
        """Give `role` to the participants who joined with this invitation; their ids."""
        result = await conn.execute(
            participants.update().where(participants.c.invitation_id == invitation_id,
                                        participants.c.role != role)
            .values(role=role).returning(participants.c.id))
        return sorted(int(r[0]) for r in result)

    async def demote_participant(self, conn: AsyncConnection, participant_id: int,
                                 from_role: str, role: str) -> None:
        await conn.execute(participants.update().where(participants.c.id == participant_id,
                                                       participants.c.role == from_role)
                           .values(role=role))

    # participants

    async def participant_by_browser(self, conn: AsyncConnection, cafe_id: int,
                                     browser_key: str) -> Any | None:
        row = (await conn.execute(sa.select(participants).where(
            participants.c.cafe_id == cafe_id, participants.c.browser_key == browser_key))).first()
        return None if row is None else row._mapping

    async def participants_by_browsers(self, conn: AsyncConnection, cafe_id: int,
                                       browser_keys: Sequence[str]) -> dict[str, Any]:
        """The participants of these browsers in this café, by browser key (one read)."""
        found: dict[str, Any] = {}
        for chunk in _chunks(sorted(set(browser_keys))):
            rows = await conn.execute(sa.select(participants).where(
                participants.c.cafe_id == cafe_id, participants.c.browser_key.in_(chunk)))
            found.update((r.browser_key, r._mapping) for r in rows)
        return found

    async def insert_participants(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]
                                  ) -> dict[str, int]:
        """New participants of one café, in one statement: the ids by browser key of those
        inserted; a browser that already has one (or comes twice) is skipped, as in
        `insert_participant`."""
        if not rows:
            return {}
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)
        inserted: dict[str, int] = {}
        for chunk in _chunks(rows):
            result = await conn.execute(
                insert(participants).values(list(chunk))
                .on_conflict_do_nothing(index_elements=[participants.c.cafe_id,
                                                        participants.c.browser_key])
                .returning(participants.c.id, participants.c.browser_key))
            inserted.update((r.browser_key, int(r.id)) for r in result)
        return inserted

    async def participant(self, conn: AsyncConnection, participant_id: int) -> Any | None:
        row = (await conn.execute(
            sa.select(participants).where(participants.c.id == participant_id))).first()
        return None if row is None else row._mapping

    async def insert_participant(self, conn: AsyncConnection, *, cafe_id: int, pseudonym: str,
                                 role: str, browser_key: str, invitation_id: int | None,
                                 now: datetime) -> int | None:
        """The new participant's id, or None when this browser already has one in this café
        (`INSERT ... ON CONFLICT DO NOTHING`: concurrent first joins never collide)."""
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)
        statement = (
            insert(participants).values(cafe_id=cafe_id, pseudonym=pseudonym, role=role,
                                        browser_key=browser_key, invitation_id=invitation_id,
                                        joined_at=now)
            .on_conflict_do_nothing(index_elements=[participants.c.cafe_id,
                                                    participants.c.browser_key])
            .returning(participants.c.id)
        )
        found = (await conn.execute(statement)).scalar()
        return None if found is None else int(found)

    async def update_participant(self, conn: AsyncConnection, participant_id: int, *,
                                 pseudonym: str, role: str, invitation_id: int | None) -> None:
        await conn.execute(participants.update().where(participants.c.id == participant_id)
                           .values(pseudonym=pseudonym, role=role, invitation_id=invitation_id))
