"""The stage service: raised hands, bringing a participant on stage and back, muting.

Same shape as the Q&A service: one transaction per action, the café locked, the pure
`sessions.stage` machine applied to the state rebuilt from `stage_entries`, the difference
written back. An invitation waits for the parent's answer (`accept` / `decline`); the
browser acts on the events (`stage.invited`, sent on accepting: publish the microphone,
`stage.dismissed`: stop); the media plane acts on the commands returned beside them
(`send_back` stops the publication, `mute` mutes it), and checks `speaker_state` before
accepting a published track, so a stored mute holds across a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sessions import stage as rules
from sessions.actors import Actor
from sessions.clock import Clock
from sessions.commands import MediaReason, SetMuted, StopPublication
from sessions.errors import InvalidTransition, NotFound
from sessions.events import Audience, Effects, Outbound
from sessions.moderation import AuditAction
from sessions.roles import Permission
from sessions.service_guards import audit_entry, guard
from sessions.settings import Limits
from sessions.stage import Stage
from sessions.storage.database import Database
from sessions.storage.repo_help import LeaveOutRepository
from sessions.storage.repo_moderation import ModerationRepository, StageRepository

log = logging.getLogger("causerie.stage")


@dataclass(frozen=True, slots=True)
class SpeakerState:
    on_stage: bool
    muted: bool

P = Permission


class StageService:
    def __init__(self, db: Database, clock: Clock, limits: Limits) -> None:
        self.db = db
        self.clock = clock
        self.limits = limits
        self.repo = StageRepository()
        self.moderation = ModerationRepository()
        self.leave_outs = LeaveOutRepository()

    async def raise_hand(self, actor: Actor) -> list[Outbound]:
        actor.require(P.RAISE_HAND)
        return await self._apply(actor, actor.participant_id, lambda s, now: rules.raise_hand(
            s, actor.participant_id, pseudonym=actor.pseudonym, now=now))

    async def lower_hand(self, actor: Actor, participant_id: int | None = None) -> list[Outbound]:
        """Lower one's own hand, or (staff) dismiss someone else's."""
        target = actor.participant_id if participant_id is None else participant_id
        audit = None
        if target == actor.participant_id:
            actor.require(P.RAISE_HAND)
        else:
            actor.require(P.MANAGE_STAGE)
            audit = AuditAction.STAGE_DISMISS_HAND
        return await self._apply(actor, target, lambda s, _now: rules.lower_hand(s, target),
                                 audit)

    async def bring_on_stage(self, actor: Actor, participant_id: int) -> list[Outbound]:
        actor.require(P.MANAGE_STAGE)
        return await self._apply(
            actor, participant_id,
            lambda s, now: rules.bring_on_stage(s, participant_id, now=now,
                                                stage_max=self.limits.stage_max),
            AuditAction.STAGE_INVITE)

    async def accept(self, actor: Actor, leave_out: bool = False) -> list[Outbound]:
        """The invited parent accepts: on stage (their browser publishes now). With
        `leave_out`, they ask that their stage time be left out of the published transcript
        (the organiser sees it in the review)."""
        actor.require(P.RAISE_HAND)

        async def ask_leave_out(conn: AsyncConnection, now: datetime) -> None:
            if leave_out:
                await self.leave_outs.request(conn, actor.cafe_id, actor.participant_id, now)

        return await self._apply(actor, actor.participant_id, lambda s, now: rules.accept(
            s, actor.participant_id, now=now, stage_max=self.limits.stage_max),
            also=ask_leave_out)

    async def leave_out(self, actor: Actor) -> list[Outbound]:
        """A speaker on stage asks (again, or for the first time) that their stage time be
        left out of the published transcript. Only a parent on stage now may ask."""
        actor.require(P.RAISE_HAND)
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            stage = await self.repo.load(conn, actor.cafe_id)
            if not stage.is_on_stage(actor.participant_id):
                raise InvalidTransition("This participant is not on stage.")
            await self.leave_outs.request(conn, actor.cafe_id, actor.participant_id,
                                          self.clock.now())
        log.info("leave-out asked cafe=%s participant=%s", actor.cafe_id, actor.participant_id)
        return [Outbound("stage.left_out", {}, Audience.PARTICIPANT, actor.cafe_id,
                         participant_id=actor.participant_id)]

    async def decline(self, actor: Actor) -> list[Outbound]:
        """The invited parent declines: not an error; the staff read that they declined."""
        actor.require(P.RAISE_HAND)
        return await self._apply(actor, actor.participant_id,
                                 lambda s, _now: rules.decline(s, actor.participant_id))

    async def send_back(self, actor: Actor, participant_id: int | None = None) -> Effects:
        """Leave the stage oneself, or (staff) send a speaker back to the audience: their
        publication stops."""
        target = actor.participant_id if participant_id is None else participant_id
        audit = None
        if target != actor.participant_id:
            actor.require(P.MANAGE_STAGE)
            audit = AuditAction.STAGE_SEND_BACK
        events = await self._apply(actor, target, lambda s, _now: rules.send_back(s, target),
                                   audit)
        return Effects(tuple(events),
                       (StopPublication(actor.cafe_id, target, MediaReason.DISMISSED),))

    async def mute(self, actor: Actor, participant_id: int, muted: bool = True) -> Effects:
        """A moderator mutes (or unmutes) a speaker: stored, and applied to their audio."""
        actor.require(P.MUTE)
        events = await self._apply(
            actor, participant_id,
            lambda s, _now: rules.set_muted(s, participant_id, muted=muted),
            AuditAction.STAGE_MUTE if muted else AuditAction.STAGE_UNMUTE)
        return Effects(tuple(events), (SetMuted(actor.cafe_id, participant_id, muted),))

    async def snapshot(self, actor: Actor) -> dict[str, Any]:
        async with self.db.connect() as conn:
            stage = await self.repo.load(conn, actor.cafe_id)
        return rules.snapshot_for(stage, actor.role, actor.participant_id)

    async def is_on_stage(self, cafe_id: int, participant_id: int) -> bool:
        """For the media plane: may this participant publish a microphone now?"""
        async with self.db.connect() as conn:
            stage = await self.repo.load(conn, cafe_id)
        return stage.is_on_stage(participant_id)

    async def speaker_state(self, cafe_id: int, participant_id: int) -> SpeakerState:
        """For the media plane, when a participant publishes: on stage, and muted (the stored
        mute, which outlives the media router's memory: a restart keeps a speaker muted)."""
        async with self.db.connect() as conn:
            stage = await self.repo.load(conn, cafe_id)
        entry = stage.entries.get(participant_id)
        return SpeakerState(on_stage=stage.is_on_stage(participant_id),
                            muted=entry is not None and entry.muted)

    async def _apply(self, actor: Actor, target: int,
                     transition: Callable[[Stage, datetime], rules.Step],
                     audit: AuditAction | None = None, *,
                     also: Callable[[AsyncConnection, datetime], Awaitable[None]] | None = None,
                     ) -> list[Outbound]:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            # Someone else's hand or place on stage: only a participant of this café.
            if (target != actor.participant_id
                    and await self.moderation.target(conn, actor.cafe_id, target) is None):
                raise NotFound("No such participant.")
            before = await self.repo.load(conn, actor.cafe_id)
            after, events = transition(before, now)
            await self.repo.save(conn, before, after)
            if also is not None:
                await also(conn, now)
            if audit is not None:
                entry = before.entries.get(target)
                detail = {"pseudonym": entry.pseudonym if entry else None}
                await self.moderation.audit(conn, audit_entry(
                    actor, audit, f"participant:{target}", detail, now))
        log.info("stage change cafe=%s participant=%s target=%s",
                 actor.cafe_id, actor.participant_id, target)
        return events
