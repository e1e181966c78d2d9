"""Persistence of the stage, chat, bans and the audit log (SQLAlchemy Core, async).

Callers hold the café lock (`repo_qa.lock_cafe`) for read-modify-write sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.moderation import AuditAction, AuditEntry, BanRecord, ChatMessage, Target
from sessions.roles import Role
from sessions.stage import EntryState, Stage, StageEntry
from sessions.storage.database import as_utc
from sessions.storage.tables import (
    address_bans,
    audit_log,
    bans,
    chat_messages,
    participants,
    stage_state,
)


class StageRepository:
    async def load(self, conn: AsyncConnection, cafe_id: int) -> Stage:
        rows = await conn.execute(
            sa.select(stage_state, participants.c.pseudonym)
            .join(participants, participants.c.id == stage_state.c.participant_id)
            .where(stage_state.c.cafe_id == cafe_id)
        )
        return Stage(cafe_id, {
            r.participant_id: StageEntry(r.participant_id, r.pseudonym, EntryState(r.state),
                                         as_utc(r.since), bool(r.muted))
            for r in rows
        })

    async def save(self, conn: AsyncConnection, before: Stage, after: Stage) -> None:
        for pid in before.entries.keys() - after.entries.keys():
            await conn.execute(sa.delete(stage_state).where(
                stage_state.c.cafe_id == after.cafe_id, stage_state.c.participant_id == pid))
        for pid, entry in after.entries.items():
            old = before.entries.get(pid)
            if old == entry:
                continue
            values = {"state": entry.state.value, "muted": entry.muted, "since": entry.since}
            if old is None:
                await conn.execute(sa.insert(stage_state).values(
                    cafe_id=after.cafe_id, participant_id=pid, **values))
            else:
                await conn.execute(sa.update(stage_state).where(
                    stage_state.c.cafe_id == after.cafe_id,
                    stage_state.c.participant_id == pid).values(**values))


class ModerationRepository:
    # participants and bans

    async def target(self, conn: AsyncConnection, cafe_id: int,
                     participant_id: int) -> Target | None:
        row = (await conn.execute(sa.select(participants).where(
            participants.c.id == participant_id, participants.c.cafe_id == cafe_id))).first()
        if row is None:
            return None
        return Target(row.id, row.cafe_id, Role(row.role), row.pseudonym, row.browser_key,
                      row.invitation_id)

    async def insert_ban(self, conn: AsyncConnection, ban: BanRecord) -> None:
        await conn.execute(sa.insert(bans).values(
            cafe_id=ban.cafe_id, browser_key=ban.browser_key, invitation_id=ban.invitation_id,
            participant_id=ban.participant_id, created_at=ban.created_at))

    async def is_banned(self, conn: AsyncConnection, cafe_id: int, browser_key: str | None,
                        invitation_id: int | None) -> bool:
        matches = []
        if browser_key:
            matches.append(bans.c.browser_key == browser_key)
        if invitation_id is not None:
            matches.append(bans.c.invitation_id == invitation_id)
        if not matches:
            return False
        found = await conn.scalar(sa.select(bans.c.id).where(
            bans.c.cafe_id == cafe_id, sa.or_(*matches)).limit(1))
        return found is not None

    async def banned_among(self, conn: AsyncConnection, cafe_id: int,
                           browser_keys: Sequence[str], invitation_ids: Sequence[int]
                           ) -> tuple[set[str], set[int]]:
        """Which of these browsers and invitations are banned from this café (one read)."""
        keys, ids = sorted(set(browser_keys)), sorted(set(invitation_ids))
        matches = []
        if keys:
            matches.append(bans.c.browser_key.in_(keys))
        if ids:
            matches.append(bans.c.invitation_id.in_(ids))
        if not matches:
            return set(), set()
        rows = await conn.execute(sa.select(bans.c.browser_key, bans.c.invitation_id).where(
            bans.c.cafe_id == cafe_id, sa.or_(*matches)))
        banned_keys: set[str] = set()
        banned_ids: set[int] = set()
        for key, invitation_id in rows:
            if key is not None:
                banned_keys.add(key)
            if invitation_id is not None:
                banned_ids.add(int(invitation_id))
        return banned_keys, banned_ids

    async def addresses_banned(self, conn: AsyncConnection, cafe_id: int,
                               addresses: Sequence[str], now: datetime) -> set[str]:
        """Which of these addresses are barred from this café now (one read)."""
        if not addresses:
            return set()
        rows = await conn.execute(sa.select(address_bans.c.address).where(
            address_bans.c.cafe_id == cafe_id, address_bans.c.address.in_(sorted(set(addresses))),
            address_bans.c.expires_at > now))
        return {r[0] for r in rows}

    async def insert_address_ban(self, conn: AsyncConnection, *, cafe_id: int, address: str,
                                 participant_id: int, expires_at: datetime,
                                 now: datetime) -> None:
        await self.purge_address_bans(conn, now)
        await conn.execute(sa.insert(address_bans).values(
            cafe_id=cafe_id, address=address, participant_id=participant_id,
            expires_at=expires_at, created_at=now))

    async def address_banned(self, conn: AsyncConnection, cafe_id: int, address: str,
                             now: datetime) -> bool:
        found = await conn.scalar(sa.select(address_bans.c.id).where(
            address_bans.c.cafe_id == cafe_id, address_bans.c.address == address,
            address_bans.c.expires_at > now).limit(1))
        return found is not None

    async def purge_address_bans(self, conn: AsyncConnection, now: datetime) -> None:
        """Forget the addresses of the bans that are over."""
        await conn.execute(sa.delete(address_bans).where(address_bans.c.expires_at <= now))

    async def participant_banned(self, conn: AsyncConnection, cafe_id: int,
                                 participant_id: int) -> bool:
        found = await conn.scalar(sa.select(bans.c.id).where(
            bans.c.cafe_id == cafe_id, bans.c.participant_id == participant_id).limit(1))
        return found is not None

    # chat

    async def insert_message(self, conn: AsyncConnection, *, cafe_id: int, author_id: int,
                             text: str, now: Any, held: bool = False,
                             watch: dict[str, Any] | None = None) -> int:
        result = await conn.execute(sa.insert(chat_messages).values(
            cafe_id=cafe_id, author_id=author_id, text=text, hidden=False, held=held,
            watch=watch, created_at=now,
        ).returning(chat_messages.c.id))
        return int(result.scalar_one())

    async def message(self, conn: AsyncConnection, cafe_id: int,
                      message_id: int) -> ChatMessage | None:
        rows = await self._messages(conn, sa.and_(chat_messages.c.cafe_id == cafe_id,
                                                  chat_messages.c.id == message_id), limit=1)
        return rows[0] if rows else None

    async def recent_messages(self, conn: AsyncConnection, cafe_id: int, *, limit: int,
                              include_hidden: bool,
                              viewer_id: int | None = None) -> list[ChatMessage]:
        """The latest messages; without `include_hidden`, neither hidden ones nor held ones
        (but the viewer's own held messages)."""
        where = chat_messages.c.cafe_id == cafe_id
        if not include_hidden:
            where = sa.and_(where, chat_messages.c.hidden == sa.false(), sa.or_(
                chat_messages.c.held == sa.false(), chat_messages.c.author_id == viewer_id))
        return await self._messages(conn, where, limit=limit)

    async def set_hidden(self, conn: AsyncConnection, message_id: int) -> None:
        await conn.execute(sa.update(chat_messages).where(chat_messages.c.id == message_id)
                           .values(hidden=True))

    async def set_released(self, conn: AsyncConnection, message_id: int) -> None:
        await conn.execute(sa.update(chat_messages).where(chat_messages.c.id == message_id)
                           .values(held=False))

    async def _messages(self, conn: AsyncConnection, where: Any, *,
                        limit: int) -> list[ChatMessage]:
        rows = await conn.execute(
            sa.select(chat_messages, participants.c.pseudonym)
            .join(participants, participants.c.id == chat_messages.c.author_id)
            .where(where)
            .order_by(chat_messages.c.id.desc()).limit(limit)
        )
        return [ChatMessage(r.id, r.author_id, r.pseudonym, r.text, as_utc(r.created_at),
                            bool(r.hidden), bool(r.held), r.watch)
                for r in reversed(rows.all())]

    # audit log

    async def audit(self, conn: AsyncConnection, entry: AuditEntry) -> None:
        await conn.execute(sa.insert(audit_log).values(
            cafe_id=entry.cafe_id, actor=entry.actor[:120], action=entry.action.value,
            target=entry.target[:120], detail=entry.detail, created_at=entry.created_at))

    async def audit_entries(self, conn: AsyncConnection, cafe_id: int, *, limit: int,
                            offset: int) -> list[AuditEntry]:
        rows = await conn.execute(
            sa.select(audit_log).where(audit_log.c.cafe_id == cafe_id)
            .order_by(audit_log.c.created_at.desc(), audit_log.c.id.desc())
            .limit(limit).offset(offset)
        )
        return [AuditEntry(r.cafe_id, r.actor, AuditAction(r.action), r.target, r.detail,
                           as_utc(r.created_at), r.id) for r in rows]
