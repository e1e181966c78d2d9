"""Persistence of a café's safeguarding settings and of stage leave-out requests."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.associations import help_settings
from sessions.errors import InvalidInput
from sessions.help_settings import CafeHelp, HelpSettings, PrivacyNotice
from sessions.storage.database import as_utc
from sessions.storage.tables import (
    associations,
    cafe_help,
    cafes,
    participants,
    stage_leave_outs,
)


class HelpRepository:
    async def load(self, conn: AsyncConnection, cafe_id: int) -> CafeHelp:
        row = (await conn.execute(sa.select(cafe_help).where(
            cafe_help.c.cafe_id == cafe_id))).first()
        if row is None:
            return CafeHelp()
        lines = row.help_lines
        return CafeHelp(
            help=None if lines is None else HelpSettings.from_json(lines),
            privacy=PrivacyNotice(row.privacy_fr, row.privacy_en))

    async def save(self, conn: AsyncConnection, cafe_id: int, settings: CafeHelp,
                   now: datetime) -> None:
        values = {
            "help_lines": None if settings.help is None else settings.help.to_json(),
            "privacy_fr": settings.privacy.text_fr, "privacy_en": settings.privacy.text_en,
            "updated_at": now,
        }
        insert = (postgresql.insert(cafe_help) if conn.dialect.name == "postgresql"
                  else sqlite.insert(cafe_help))
        await conn.execute(insert.values(cafe_id=cafe_id, **values).on_conflict_do_update(
            index_elements=[cafe_help.c.cafe_id], set_=values))


class LeaveOutRepository:
    async def request(self, conn: AsyncConnection, cafe_id: int, participant_id: int,
                      now: datetime) -> None:
        """Idempotent: the first request's time stays."""
        insert = (postgresql.insert(stage_leave_outs) if conn.dialect.name == "postgresql"
                  else sqlite.insert(stage_leave_outs))
        await conn.execute(insert.values(cafe_id=cafe_id, participant_id=participant_id,
                                         requested_at=now).on_conflict_do_nothing())

    async def for_cafe(self, conn: AsyncConnection,
                       cafe_id: int) -> list[tuple[int, str, datetime, datetime | None]]:
        """(participant id, pseudonym, requested at, redacted at), first asked first."""
        rows = await conn.execute(
            sa.select(stage_leave_outs, participants.c.pseudonym)
            .join(participants, participants.c.id == stage_leave_outs.c.participant_id)
            .where(stage_leave_outs.c.cafe_id == cafe_id)
            .order_by(stage_leave_outs.c.requested_at, stage_leave_outs.c.participant_id))
        return [(r.participant_id, r.pseudonym, as_utc(r.requested_at),
                 None if r.redacted_at is None else as_utc(r.redacted_at)) for r in rows]

    async def mark_redacted(self, conn: AsyncConnection, cafe_id: int, participant_id: int,
                            now: datetime) -> bool:
        result = await conn.execute(sa.update(stage_leave_outs).where(
            stage_leave_outs.c.cafe_id == cafe_id,
            stage_leave_outs.c.participant_id == participant_id).values(redacted_at=now))
        return bool(result.rowcount)


async def effective_help(conn: AsyncConnection, cafe_id: int,
                         default: HelpSettings) -> HelpSettings:
    """The help lines a café's pages show: its own, else its association's, else
    `default` (issue 12: the association's numbers are its cafés' defaults)."""
    own = (await HelpRepository().load(conn, cafe_id)).help
    if own is not None:
        return own
    text = await conn.scalar(sa.select(associations.c.help_numbers).join(
        cafes, cafes.c.association_id == associations.c.id).where(cafes.c.id == cafe_id))
    try:
        association = help_settings(text or "")
    except InvalidInput:  # a row written by hand: the defaults instead
        association = None
    return association if association is not None else default
