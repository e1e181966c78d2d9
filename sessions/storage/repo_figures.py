"""The rows an association's figures are computed from (one query per kind of row), and the
one figure written while a café is live: its peak of parents present at once."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.attendance import PARENT_ROLES
from sessions.cafe import CafeStatus
from sessions.figures import CafeFigures, transcript_status
from sessions.storage.database import as_utc
from sessions.storage.tables import (
    cafes,
    participants,
    questions,
    reports,
    segments,
    transcript_jobs,
)

APPROVED = ("approved", "answering", "answered")
UNANSWERED = ("approved", "answering")
PARENTS = tuple(sorted(role.value for role in PARENT_ROLES))


async def _counts(conn: AsyncConnection, table: sa.Table, ids: list[int],
                  where: Iterable[sa.ColumnElement[bool]] = ()) -> dict[int, int]:
    if not ids:
        return {}
    rows = await conn.execute(sa.select(table.c.cafe_id, sa.func.count())
                              .where(table.c.cafe_id.in_(ids), *where)
                              .group_by(table.c.cafe_id))
    return {int(cafe_id): int(n) for cafe_id, n in rows}


async def association_figures(conn: AsyncConnection,
                              association_id: int) -> list[CafeFigures]:
    """Every café of the association, oldest first."""
    rows = (await conn.execute(
        sa.select(cafes.c.id, cafes.c.slug, cafes.c.title, cafes.c.theme, cafes.c.starts_at,
                  cafes.c.status, cafes.c.transcript_published, cafes.c.peak_parents)
        .where(cafes.c.association_id == association_id)
        .order_by(cafes.c.starts_at, cafes.c.id))).all()
    ids = [int(r.id) for r in rows]
    status = questions.c.status
    parents = await _counts(conn, participants, ids, [
        participants.c.role.in_(PARENTS), participants.c.invitation_id.is_(None)])
    asked = await _counts(conn, questions, ids, [status.notin_(("withdrawn",))])
    approved = await _counts(conn, questions, ids, [status.in_(APPROVED)])
    answered = await _counts(conn, questions, ids, [status == "answered"])
    unanswered = await _counts(conn, questions, ids, [status.in_(UNANSWERED)])
    said = await _counts(conn, segments, ids)
    open_jobs = await _counts(conn, transcript_jobs, ids,
                              [transcript_jobs.c.status.in_(("queued", "running"))])
    reported = await _counts(conn, reports, ids)
    return [CafeFigures(
        slug=r.slug, title=r.title, theme=r.theme, starts_at=as_utc(r.starts_at),
        status=r.status,
        peak_parents=None if r.peak_parents is None else int(r.peak_parents),
        parents=parents.get(r.id, 0), questions=asked.get(r.id, 0),
        approved=approved.get(r.id, 0), answered=answered.get(r.id, 0),
        unanswered=unanswered.get(r.id, 0), reports=reported.get(r.id, 0),
        transcript=transcript_status(published=bool(r.transcript_published),
                                     segments=said.get(r.id, 0),
                                     jobs_open=open_jobs.get(r.id, 0)))
        for r in rows]


async def raise_peak(conn: AsyncConnection, cafe_id: int, peak: int, *,
                     live_only: bool) -> bool:
    """Store `peak` as the café's peak of parents present at once if it is higher than the
    stored one (a write from every process, in any order, leaves the highest); `live_only`:
    only while the café is live. True when it was raised."""
    column = cafes.c.peak_parents
    query = (cafes.update()
             .where(cafes.c.id == cafe_id, sa.or_(column.is_(None), column < peak))
             .values(peak_parents=peak))
    if live_only:
        query = query.where(cafes.c.status == CafeStatus.LIVE.value)
    result = await conn.execute(query)
    return bool(result.rowcount)
