"""Persistence of the safeguarding queue (`sessions.reports`), and the loading of what a
parent reports (a question, a chat message, a participant), always within one café."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.reports import (
    Report,
    Reported,
    ReportKind,
    ReportQueue,
    ReportReason,
    ReportStatus,
    Resolution,
)
from sessions.storage.database import as_utc
from sessions.storage.tables import chat_messages, participants, questions, reports

EXCERPT_MAX = 2000


class ReportRepository:
    async def load(self, conn: AsyncConnection, cafe_id: int) -> ReportQueue:
        rows = await conn.execute(sa.select(reports).where(reports.c.cafe_id == cafe_id))
        return ReportQueue(cafe_id, {r.id: _report(r) for r in rows})

    async def insert(self, conn: AsyncConnection, *, cafe_id: int, reporter_id: int,
                     reported: Reported, reason: str, note: str, now: datetime) -> int:
        result = await conn.execute(sa.insert(reports).values(
            cafe_id=cafe_id, reporter_id=reporter_id, kind=reported.kind.value,
            target_id=reported.target_id, target_participant_id=reported.participant_id,
            target_pseudonym=reported.pseudonym[:40], excerpt=reported.excerpt[:EXCERPT_MAX],
            reason=reason, note=note, status=ReportStatus.OPEN.value, created_at=now,
        ).returning(reports.c.id))
        return int(result.scalar_one())

    async def save_resolved(self, conn: AsyncConnection, done: list[Report]) -> None:
        for r in done:
            await conn.execute(sa.update(reports).where(reports.c.id == r.id).values(
                status=r.status.value, resolution=r.resolution.value if r.resolution else None,
                resolved_by=(r.resolved_by or "")[:120], resolved_at=r.resolved_at))

    async def all(self, conn: AsyncConnection, cafe_id: int) -> list[Report]:
        """Every report of the café, oldest first (the evidence export)."""
        rows = await conn.execute(sa.select(reports).where(reports.c.cafe_id == cafe_id)
                                  .order_by(reports.c.created_at, reports.c.id))
        return [_report(r) for r in rows]

    async def erase_participants(self, conn: AsyncConnection, cafe_id: int, who: list[int],
                                 erased: str) -> int:
        """A participant's erasure: the reports about them lose their pseudonym and the
        copied text, the reports they made lose their note. Returns the reports changed."""
        about = await conn.execute(sa.update(reports).where(
            reports.c.cafe_id == cafe_id, reports.c.target_participant_id.in_(who)).values(
            target_pseudonym=erased, excerpt=sa.case((reports.c.excerpt == "", ""),
                                                     else_=erased)))
        by = await conn.execute(sa.update(reports).where(
            reports.c.cafe_id == cafe_id, reports.c.reporter_id.in_(who),
            reports.c.note != "").values(note=erased))
        return int(about.rowcount or 0) + int(by.rowcount or 0)

    # what is reported

    async def reported(self, conn: AsyncConnection, cafe_id: int, kind: ReportKind,
                       target_id: int) -> tuple[Reported, dict[str, Any]] | None:
        """The target in this café, and what decides who may see it (a question's status
        and author, a message's hidden and held flags); None when there is no such thing."""
        row: Any
        if kind is ReportKind.QUESTION:
            row = (await conn.execute(
                sa.select(questions.c.text, questions.c.status, questions.c.author_id,
                          participants.c.pseudonym)
                .join(participants, participants.c.id == questions.c.author_id)
                .where(questions.c.id == target_id, questions.c.cafe_id == cafe_id))).first()
            if row is None:
                return None
            return (Reported(kind, target_id, row.author_id, row.pseudonym, row.text),
                    {"status": row.status})
        if kind is ReportKind.CHAT:
            row = (await conn.execute(
                sa.select(chat_messages.c.text, chat_messages.c.hidden, chat_messages.c.held,
                          chat_messages.c.author_id, participants.c.pseudonym)
                .join(participants, participants.c.id == chat_messages.c.author_id)
                .where(chat_messages.c.id == target_id,
                       chat_messages.c.cafe_id == cafe_id))).first()
            if row is None:
                return None
            return (Reported(kind, target_id, row.author_id, row.pseudonym, row.text),
                    {"hidden": bool(row.hidden), "held": bool(row.held)})
        row = (await conn.execute(sa.select(participants.c.pseudonym, participants.c.role)
                                  .where(participants.c.id == target_id,
                                         participants.c.cafe_id == cafe_id))).first()
        if row is None:
            return None
        return Reported(kind, target_id, target_id, row.pseudonym), {"role": row.role}


def _report(r: Any) -> Report:
    return Report(
        r.id, r.cafe_id, r.reporter_id,
        Reported(ReportKind(r.kind), r.target_id, r.target_participant_id or 0,
                 r.target_pseudonym, r.excerpt),
        ReportReason(r.reason), r.note, ReportStatus(r.status), as_utc(r.created_at),
        Resolution(r.resolution) if r.resolution else None, r.resolved_by,
        as_utc(r.resolved_at) if r.resolved_at else None)
