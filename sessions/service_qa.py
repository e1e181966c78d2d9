"""The Q&A service: checks the permission table and the limits, applies the pure queue of
`sessions.qa` to the state rebuilt from rows, persists the difference and returns the events.

Every action is one transaction that first locks the café (`lock_cafe`), so two moderators
approving, merging or editing at once are serialised and a restart loses nothing: there is
no state outside the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sessions import qa
from sessions.actors import Actor
from sessions.clock import Clock
from sessions.events import Outbound
from sessions.moderation import AuditAction
from sessions.qa import Queue
from sessions.ratelimit import RateLimiter
from sessions.roles import Permission
from sessions.service_guards import audit_entry, guard
from sessions.service_watch import WatchService, refused_message
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.repo_moderation import ModerationRepository
from sessions.storage.repo_qa import QuestionRepository
from sessions.watchwords import WatchAction

log = logging.getLogger("causerie.qa")

P = Permission
Transition = Callable[[Queue, datetime], qa.Step]
Auditor = Callable[[Queue, Queue], tuple[AuditAction, dict[str, Any]]]


class QaService:
    def __init__(self, db: Database, clock: Clock, limiter: RateLimiter,
                 limits: Limits, watch: WatchService | None = None) -> None:
        self.db = db
        self.clock = clock
        self.limiter = limiter
        self.limits = limits
        self.watch = watch or WatchService(db, clock)
        self.repo = QuestionRepository()
        self.moderation = ModerationRepository()

    # participants

    async def ask(self, actor: Actor, text: str, anonymous: bool = False) -> list[Outbound]:
        """Ask a question; it waits for a moderator. `anonymous` hides the author's pseudonym
        from the audience (never from moderators). A watched word that blocks refuses it;
        one that holds or flags marks it for moderators (with the words it matched)."""
        actor.require(P.ASK_QUESTION)
        text = qa.clean_question(text, self.limits.question_max_length)
        await self.limiter.hit(f"qa.ask:{actor.cafe_id}:{actor.participant_id}",
                               self.limits.questions_per_minute, per="minute",
                               message="You are asking questions too fast, please wait a minute.")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            verdict = (await self.watch.matcher_in(conn, actor.cafe_id)).verdict(text)
            if verdict.action is WatchAction.BLOCK:
                raise refused_message(verdict)
            queue = await self.repo.load(conn, actor.cafe_id)
            question_id = await self.repo.insert(conn, cafe_id=actor.cafe_id,
                                                 author_id=actor.participant_id, text=text,
                                                 anonymous=anonymous, now=now,
                                                 watch=verdict.view())
            _, events = qa.ask(queue, question_id=question_id, author_id=actor.participant_id,
                               author_pseudonym=actor.pseudonym, text=text, anonymous=anonymous,
                               now=now, max_length=self.limits.question_max_length,
                               watch=verdict.view())
        log.info("question asked cafe=%s participant=%s question=%s watch=%s",
                 actor.cafe_id, actor.participant_id, question_id, verdict.action)
        return events

    async def withdraw(self, actor: Actor, question_id: int) -> list[Outbound]:
        actor.require(P.ASK_QUESTION)
        return await self._apply(actor, "withdraw", question_id, lambda q, now: qa.withdraw(
            q, question_id, author_id=actor.participant_id, now=now))

    async def vote(self, actor: Actor, question_id: int) -> list[Outbound]:
        return await self._vote(actor, question_id, qa.vote)

    async def unvote(self, actor: Actor, question_id: int) -> list[Outbound]:
        return await self._vote(actor, question_id, qa.unvote)

    async def _vote(self, actor: Actor, question_id: int,
                    step: Callable[..., qa.Step]) -> list[Outbound]:
        actor.require(P.VOTE)
        await self.limiter.hit(f"qa.vote:{actor.cafe_id}:{actor.participant_id}",
                               self.limits.votes_per_second, per="second",
                               message="You are voting too fast, please wait a moment.")
        return await self._apply(actor, step.__name__, question_id, lambda q, _now: step(
            q, question_id, voter_id=actor.participant_id))

    # moderators

    async def approve(self, actor: Actor, question_id: int) -> list[Outbound]:
        actor.require(P.MODERATE_QUESTIONS)
        return await self._apply(
            actor, "approve", question_id,
            lambda q, now: qa.approve(q, question_id, now=now),
            lambda _b, a: (AuditAction.QUESTION_APPROVE, {"text": a.questions[question_id].text}))

    async def reject(self, actor: Actor, question_id: int, reason: str = "") -> list[Outbound]:
        actor.require(P.MODERATE_QUESTIONS)
        limit = self.limits.reject_reason_max_length
        reason = qa.clean_reason(reason, limit)
        return await self._apply(
            actor, "reject", question_id,
            lambda q, now: qa.reject(q, question_id, reason=reason, now=now, max_length=limit),
            lambda _b, a: (AuditAction.QUESTION_REJECT,
                           {"text": a.questions[question_id].text, "reason": reason}))

    async def hide(self, actor: Actor, question_id: int, reason: str = "") -> list[Outbound]:
        """Take a question out whatever its status (a report's resolution)."""
        actor.require(P.MODERATE_QUESTIONS)
        limit = self.limits.reject_reason_max_length
        reason = qa.clean_reason(reason, limit)
        return await self._apply(
            actor, "hide", question_id,
            lambda q, now: qa.hide(q, question_id, reason=reason, now=now, max_length=limit),
            lambda b, _a: (AuditAction.QUESTION_HIDE,
                           {"text": b.questions[question_id].text, "reason": reason,
                            "status_before": b.questions[question_id].status.value}))

    async def edit(self, actor: Actor, question_id: int, text: str) -> list[Outbound]:
        """Rewrite a pending question; the text before the edit goes to the audit log."""
        actor.require(P.MODERATE_QUESTIONS)
        limit = self.limits.question_max_length
        text = qa.clean_question(text, limit)
        return await self._apply(
            actor, "edit", question_id,
            lambda q, now: qa.edit(q, question_id, text=text, now=now, max_length=limit),
            lambda b, a: (AuditAction.QUESTION_EDIT, {
                "before": b.questions[question_id].text,
                "after": a.questions[question_id].text,
                "original_text": a.questions[question_id].original_text,
            }))

    async def merge(self, actor: Actor, question_id: int, into: int) -> list[Outbound]:
        """Fold a duplicate into `into`; its votes move along."""
        actor.require(P.MODERATE_QUESTIONS)
        return await self._apply(
            actor, "merge", question_id,
            lambda q, now: qa.merge(q, question_id, into=into, now=now),
            lambda b, a: (AuditAction.QUESTION_MERGE, {
                "into": into, "text": b.questions[question_id].text,
                "votes_before": b.questions[into].votes, "votes_after": a.questions[into].votes,
            }))

    # the expert

    async def start_answering(self, actor: Actor, question_id: int) -> list[Outbound]:
        """ "Answering now"; the question being answered, if any, becomes answered."""
        actor.require(P.ANSWER_QUESTIONS)
        return await self._apply(actor, "start_answering", question_id,
                                 lambda q, now: qa.start_answering(q, question_id, now=now))

    async def mark_answered(self, actor: Actor, question_id: int) -> list[Outbound]:
        actor.require(P.ANSWER_QUESTIONS)
        return await self._apply(actor, "mark_answered", question_id,
                                 lambda q, now: qa.mark_answered(q, question_id, now=now))

    async def requeue(self, actor: Actor, question_id: int) -> list[Outbound]:
        """Undo a mistaken "answering now"."""
        actor.require(P.ANSWER_QUESTIONS)
        return await self._apply(actor, "requeue", question_id,
                                 lambda q, now: qa.requeue(q, question_id, now=now))

    # reading

    async def snapshot(self, actor: Actor) -> dict[str, Any]:
        """The queue as this actor may see it (join, reconnect)."""
        async with self.db.connect() as conn:
            queue = await self.repo.load(conn, actor.cafe_id)
        return qa.snapshot_for(queue, actor.role, actor.participant_id)

    async def queue(self, cafe_id: int) -> Queue:
        """The whole queue, unfiltered: for the server's own use (exports, tests)."""
        async with self.db.connect() as conn:
            return await self.repo.load(conn, cafe_id)

    async def _apply(self, actor: Actor, name: str, question_id: int, transition: Transition,
                     auditor: Auditor | None = None) -> list[Outbound]:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            before = await self.repo.load(conn, actor.cafe_id)
            after, events = transition(before, now)
            await self.repo.save(conn, before, after, now)
            if auditor is not None:
                action, detail = auditor(before, after)
                # The author's name, for the log's sentence ("... approved Marie's question").
                detail = {"author": before.questions[question_id].author_pseudonym} | detail
                await self.moderation.audit(conn, audit_entry(
                    actor, action, f"question:{question_id}", detail, now))
        log.info("question %s cafe=%s participant=%s question=%s",
                 name, actor.cafe_id, actor.participant_id, question_id)
        return events
