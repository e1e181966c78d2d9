"""The safeguarding service: parents report a question, a chat message or a participant;
moderators and organisers resolve the reports (`sessions.reports`, pure). A resolution that
acts (hide, remove, ban) goes through the Q&A and moderation services, which check their
own permissions and write their own audit rows; the resolution itself is audited too, in
the transaction that records it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sessions import reports as rules
from sessions.actors import Actor
from sessions.clock import Clock
from sessions.errors import InvalidInput, InvalidTransition, NotFound
from sessions.events import Effects, Outbound
from sessions.moderation import AuditAction
from sessions.qa import PUBLIC_STATUSES, QuestionStatus
from sessions.ratelimit import RateLimiter
from sessions.reports import Action, Report, ReportKind, Resolution
from sessions.roles import Permission
from sessions.service_guards import audit_entry, guard
from sessions.service_moderation import ModerationService
from sessions.service_qa import QaService
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.repo_moderation import ModerationRepository
from sessions.storage.repo_reports import ReportRepository

log = logging.getLogger("causerie.reports")

P = Permission


@dataclass(frozen=True, slots=True)
class Resolved:
    effects: Effects
    # the participant a `ban` resolution banned (the edge revokes their invitation, if any)
    banned: int | None = None


class ReportService:
    def __init__(self, db: Database, clock: Clock, limiter: RateLimiter, limits: Limits,
                 qa: QaService, moderation: ModerationService) -> None:
        self.db = db
        self.clock = clock
        self.limiter = limiter
        self.limits = limits
        self.qa = qa
        self.moderation = moderation
        self.repo = ReportRepository()
        self.audit = ModerationRepository()

    async def file(self, actor: Actor, kind: str, target_id: int, reason: str,
                   note: str = "") -> list[Outbound]:
        """Report something of the actor's café; only moderators and organisers hear of it."""
        actor.require(P.REPORT)
        try:
            parsed_kind = ReportKind(kind)
        except ValueError:
            raise InvalidInput("Unknown kind of report.") from None
        rules.parse_reason(reason)
        note = rules.clean_note(note)
        await self.limiter.hit(f"report:{actor.cafe_id}:{actor.participant_id}",
                               self.limits.reports_per_minute, per="minute",
                               message="You are sending reports too fast, please wait a minute.")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            found = await self.repo.reported(conn, actor.cafe_id, parsed_kind, target_id)
            if found is None or not _visible(actor, *found):
                raise NotFound("Nothing to report here.")
            reported, _seen = found
            queue = await self.repo.load(conn, actor.cafe_id)
            report_id = await self.repo.insert(conn, cafe_id=actor.cafe_id,
                                               reporter_id=actor.participant_id,
                                               reported=reported, reason=reason, note=note,
                                               now=now)
            _, events = rules.file(queue, report_id=report_id,
                                   reporter_id=actor.participant_id, reported=reported,
                                   reason=reason, note=note, now=now)
        log.info("report filed cafe=%s participant=%s report=%s kind=%s target=%s",
                 actor.cafe_id, actor.participant_id, report_id, parsed_kind, target_id)
        return events

    async def resolve(self, actor: Actor, report_id: int, resolution: str) -> Resolved:
        """Resolve a report (and every open one of the same target): no action, hide the
        message or question, remove or ban its author."""
        actor.require(P.HANDLE_REPORTS)
        async with self.db.connect() as conn:
            action = rules.check_resolution(await self.repo.load(conn, actor.cafe_id),
                                            report_id, resolution)
        effects = await self._carry_out(actor, action) if action else Effects(())
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            queue = await self.repo.load(conn, actor.cafe_id)
            _, events, done = rules.resolve(queue, report_id, resolution=resolution,
                                            actor=actor.label, now=now)
            await self.repo.save_resolved(conn, done)
            for report in done:
                await self.audit.audit(conn, audit_entry(
                    actor, AuditAction.REPORT_RESOLVE, f"report:{report.id}",
                    _audit_detail(report), now))
        log.info("report resolved cafe=%s participant=%s report=%s resolution=%s count=%s",
                 actor.cafe_id, actor.participant_id, report_id, resolution, len(done))
        banned = action.participant_id if action and action.resolution is Resolution.BAN \
            else None
        return Resolved(Effects(effects.events + tuple(events), effects.commands), banned)

    async def _carry_out(self, actor: Actor, action: Action) -> Effects:
        """The resolution's action through the existing services; one already done (the
        message hidden, the participant banned meanwhile) is not an error."""
        try:
            if action.resolution is Resolution.HIDE and action.kind is ReportKind.CHAT:
                return Effects.of(await self.moderation.hide_chat(actor, action.target_id))
            if action.resolution is Resolution.HIDE:
                return Effects.of(await self.qa.hide(actor, action.target_id))
            if action.resolution is Resolution.REMOVE:
                return await self.moderation.remove(actor, action.participant_id)
            return await self.moderation.ban(actor, action.participant_id)
        except (InvalidTransition, NotFound):
            return Effects(())

    async def snapshot(self, actor: Actor) -> dict[str, Any] | None:
        """The open reports for those who handle them (join, reconnect); None otherwise."""
        if not actor.can(P.HANDLE_REPORTS):
            return None
        async with self.db.connect() as conn:
            return rules.snapshot_for(await self.repo.load(conn, actor.cafe_id), actor.role)

    async def all(self, cafe_id: int) -> list[Report]:
        """Every report of a café, for the organiser's evidence export (the page checks the
        login)."""
        async with self.db.connect() as conn:
            return await self.repo.all(conn, cafe_id)


def _visible(actor: Actor, reported: rules.Reported, seen: dict[str, Any]) -> bool:
    """A parent reports only what they can see: a public question, a message shown to all
    (not someone else's held or hidden one); staff see everything of their café."""
    if reported.kind is ReportKind.QUESTION and not actor.can(P.SEE_PENDING_QUESTIONS):
        return QuestionStatus(seen["status"]) in PUBLIC_STATUSES
    if reported.kind is ReportKind.CHAT and not actor.can(P.HIDE_CHAT):
        return not seen["hidden"] and not seen["held"]
    return True


def _audit_detail(report: Report) -> dict[str, Any]:
    r = report.reported
    return {"report_id": report.id, "kind": r.kind.value, "target_id": r.target_id,
            "author_id": r.participant_id, "pseudonym": r.pseudonym, "text": r.excerpt,
            "reason": report.reason.value, "note": report.note,
            "resolution": report.resolution.value if report.resolution else None,
            "reporter_id": report.reporter_id}
