"""What every service action on a live café does first and last: `guard` (lock the café,
refuse an ended café or a banned actor) and `audit_entry` (the audit row of a staff action,
written in the same transaction as its effect)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.actors import Actor
from sessions.cafe import CafeStatus
from sessions.errors import Banned, InvalidTransition
from sessions.moderation import AuditAction, AuditEntry
from sessions.storage.repo_moderation import ModerationRepository
from sessions.storage.repo_qa import lock_cafe


async def guard(conn: AsyncConnection, actor: Actor) -> None:
    """Lock the actor's café for this transaction; refuse an ended café or a banned actor."""
    status = await lock_cafe(conn, actor.cafe_id)
    if status is CafeStatus.ENDED:
        raise InvalidTransition("This café has ended.")
    if await ModerationRepository().participant_banned(conn, actor.cafe_id,
                                                       actor.participant_id):
        raise Banned()


def audit_entry(actor: Actor, action: AuditAction, target: str, detail: dict[str, Any],
                now: datetime) -> AuditEntry:
    return AuditEntry(actor.cafe_id, actor.label, action, target,
                      detail | {"actor_id": actor.participant_id, "role": actor.role.value}, now)
