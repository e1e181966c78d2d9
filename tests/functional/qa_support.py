"""Rows and services for the Q&A, stage and moderation functional tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from sessions.actors import Actor
from sessions.clock import FixedClock
from sessions.events import Outbound
from sessions.ratelimit import RateLimiter
from sessions.roles import Role
from sessions.service_moderation import ModerationService
from sessions.service_qa import QaService
from sessions.service_stage import StageService
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.repo_associations import first_association_id
from sessions.storage.tables import cafes, invitations, participants

# Generous rates: tests of the limits pass their own.
ROOMY = Limits(questions_per_minute=100, votes_per_second=100, chat_per_minute=100)


@dataclass
class Services:
    qa: QaService
    stage: StageService
    moderation: ModerationService


def services(db: Database, clock: FixedClock, limits: Limits = ROOMY) -> Services:
    limiter = RateLimiter()
    return Services(QaService(db, clock, limiter, limits), StageService(db, clock, limits),
                    ModerationService(db, clock, limiter, limits))


async def make_cafe(db: Database, clock: FixedClock, *, status: str = "live") -> int:
    now = clock.now()
    async with db.transaction() as conn:
        result = await conn.execute(sa.insert(cafes).values(
            association_id=await first_association_id(conn),
            slug=f"cafe-{uuid.uuid4().hex[:12]}", title="Écrans", theme="screens",
            starts_at=now, duration_minutes=60, status=status, created_at=now,
        ).returning(cafes.c.id))
        return int(result.scalar_one())


async def join(db: Database, clock: FixedClock, cafe_id: int, pseudonym: str,
               role: Role = Role.PARTICIPANT, *, invited: bool = False) -> Actor:
    now = clock.now()
    async with db.transaction() as conn:
        invitation_id = None
        if invited:
            invitation_id = (await conn.execute(sa.insert(invitations).values(
                cafe_id=cafe_id, role=role.value, nonce=f"n-{pseudonym}-{cafe_id}",
                expires_at=now + timedelta(days=1), created_at=now,
            ).returning(invitations.c.id))).scalar_one()
        pid = (await conn.execute(sa.insert(participants).values(
            cafe_id=cafe_id, pseudonym=pseudonym, role=role.value,
            browser_key=browser_key(pseudonym), invitation_id=invitation_id, joined_at=now,
        ).returning(participants.c.id))).scalar_one()
    return Actor(int(pid), cafe_id, role, pseudonym)


def browser_key(pseudonym: str) -> str:
    return f"key-{pseudonym.lower()}-0123456789"


async def count(db: Database, table: sa.Table) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def qid(events: list[Outbound]) -> int:
    """The question id carried by the first event of an action."""
    return int(events[0].payload["id"])
