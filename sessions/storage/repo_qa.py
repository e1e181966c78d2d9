"""Persistence of the question queue (questions and votes), SQLAlchemy Core, async.

The service rebuilds the pure `Queue` from rows at each action and writes back the
difference, inside one transaction that first locks the café (`lock_cafe`): two moderators
acting at once are serialised instead of overwriting each other. Fine for the hundreds of
questions a café gets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.cafe import CafeStatus
from sessions.errors import NotFound
from sessions.qa import Question, QuestionStatus, Queue
from sessions.storage.database import as_utc, as_utc_or_none
from sessions.storage.tables import cafes, participants, questions, votes


async def lock_cafe(conn: AsyncConnection, cafe_id: int) -> CafeStatus:
    """Lock the café's row for the rest of the transaction and return its status.

    PostgreSQL: SELECT ... FOR UPDATE, so a second writer of the same café waits. SQLite
    ignores FOR UPDATE; a no-op UPDATE first takes the database's write lock at the start of
    the transaction (a deferred transaction that read first could not upgrade later).
    """
    if conn.dialect.name == "sqlite":
        await conn.execute(sa.update(cafes).where(cafes.c.id == cafe_id)
                           .values(id=cafes.c.id))
    status = await conn.scalar(
        sa.select(cafes.c.status).where(cafes.c.id == cafe_id).with_for_update())
    if status is None:
        raise NotFound("No such café.")
    return CafeStatus(status)


class QuestionRepository:
    async def load(self, conn: AsyncConnection, cafe_id: int) -> Queue:
        rows = (await conn.execute(
            sa.select(questions, participants.c.pseudonym)
            .join(participants, participants.c.id == questions.c.author_id)
            .where(questions.c.cafe_id == cafe_id)
        )).all()
        voters: dict[int, set[int]] = {}
        vote_rows = await conn.execute(
            sa.select(votes.c.question_id, votes.c.participant_id)
            .join(questions, questions.c.id == votes.c.question_id)
            .where(questions.c.cafe_id == cafe_id)
        )
        for question_id, participant_id in vote_rows:
            voters.setdefault(question_id, set()).add(participant_id)
        return Queue(cafe_id, {
            row.id: _question(row, frozenset(voters.get(row.id, ()))) for row in rows
        })

    async def insert(self, conn: AsyncConnection, *, cafe_id: int, author_id: int, text: str,
                     anonymous: bool, now: datetime,
                     watch: dict[str, Any] | None = None) -> int:
        """Insert a pending question and return its id (the pure `ask` then takes it)."""
        result = await conn.execute(
            sa.insert(questions).values(
                cafe_id=cafe_id, author_id=author_id, text=text, original_text=text,
                anonymous=anonymous, status=QuestionStatus.PENDING.value,
                created_at=now, updated_at=now, watch=watch,
            ).returning(questions.c.id)
        )
        return int(result.scalar_one())

    async def save(self, conn: AsyncConnection, before: Queue, after: Queue,
                   now: datetime) -> None:
        """Write what a transition changed: question columns, then added and removed votes."""
        for question_id, new in after.questions.items():
            old = before.questions.get(question_id)
            if old is None or old == new:
                continue  # a new question was inserted already; unchanged ones stay
            if _columns(old) != _columns(new):
                await conn.execute(
                    sa.update(questions).where(questions.c.id == question_id)
                    .values(**_columns(new))
                )
            gone = old.voters - new.voters
            if gone:
                await conn.execute(sa.delete(votes).where(
                    votes.c.question_id == question_id, votes.c.participant_id.in_(gone)))
            added = new.voters - old.voters
            if added:
                await conn.execute(sa.insert(votes), [
                    {"question_id": question_id, "participant_id": p, "created_at": now}
                    for p in sorted(added)
                ])


def _columns(q: Question) -> dict[str, Any]:
    return {
        "text": q.text, "status": q.status.value, "reject_reason": q.reject_reason,
        "merged_into": q.merged_into, "updated_at": q.updated_at,
        "answering_at": q.answering_at, "answered_at": q.answered_at,
    }


def _question(row: Any, voters: frozenset[int]) -> Question:
    return Question(
        id=row.id, author_id=row.author_id, author_pseudonym=row.pseudonym, text=row.text,
        original_text=row.original_text, anonymous=bool(row.anonymous),
        status=QuestionStatus(row.status), created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at), reject_reason=row.reject_reason,
        merged_into=row.merged_into, answering_at=as_utc_or_none(row.answering_at),
        answered_at=as_utc_or_none(row.answered_at), voters=voters, watch=row.watch,
    )
