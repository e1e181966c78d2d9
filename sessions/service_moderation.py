"""The moderation service: text chat, removing and banning participants, the audit log.

Every moderation action writes one audit row in the same transaction as its effect, so the
log can never miss an action that happened nor show one that was rolled back.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Literal

from sessions import moderation as rules
from sessions import stage as stage_rules
from sessions.actors import Actor
from sessions.clock import Clock
from sessions.commands import BanAddress, DisconnectParticipant, MediaCommand, MediaReason
from sessions.errors import Banned, InvalidTransition, NotFound
from sessions.events import Effects, Outbound
from sessions.moderation import AuditAction, AuditEntry, ChatMessage
from sessions.ratelimit import RateLimiter
from sessions.roles import Permission, Role, allows
from sessions.service_guards import audit_entry, guard
from sessions.service_watch import WatchService, refused_message
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.repo_cafes import CafeRepository
from sessions.storage.repo_moderation import ModerationRepository, StageRepository
from sessions.watchwords import WatchAction

log = logging.getLogger("causerie.moderation")

P = Permission
AUDIT_PAGE_MAX = 500


class ModerationService:
    def __init__(self, db: Database, clock: Clock, limiter: RateLimiter,
                 limits: Limits, watch: WatchService | None = None) -> None:
        self.db = db
        self.clock = clock
        self.limiter = limiter
        self.limits = limits
        self.watch = watch or WatchService(db, clock)
        self.repo = ModerationRepository()
        self.stage = StageRepository()
        self.invitations = CafeRepository()

    # chat

    async def send_chat(self, actor: Actor, text: str) -> list[Outbound]:
        """Post a message; a watched word may block it, hold it for a moderator or flag it
        (`sessions.watchwords`)."""
        actor.require(P.CHAT)
        text = rules.clean_chat(text, self.limits.chat_max_length)
        await self.limiter.hit(f"chat:{actor.cafe_id}:{actor.participant_id}",
                               self.limits.chat_per_minute, per="minute",
                               message="You are sending messages too fast, please wait a minute.")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            verdict = (await self.watch.matcher_in(conn, actor.cafe_id)).verdict(text)
            if verdict.action is WatchAction.BLOCK:
                raise refused_message(verdict)
            held = verdict.action is WatchAction.HOLD
            message_id = await self.repo.insert_message(
                conn, cafe_id=actor.cafe_id, author_id=actor.participant_id, text=text, now=now,
                held=held, watch=verdict.view())
        if verdict.action is not None:
            log.info("chat message watched cafe=%s participant=%s message=%s action=%s",
                     actor.cafe_id, actor.participant_id, message_id, verdict.action)
        message = ChatMessage(message_id, actor.participant_id, actor.pseudonym, text, now,
                              held=held, watch=verdict.view())
        return rules.post(actor.cafe_id, message)

    async def release_chat(self, actor: Actor, message_id: int) -> list[Outbound]:
        """Let a message a watched word held reach the café."""
        return await self._moderate_message(actor, message_id, "released")

    async def hide_chat(self, actor: Actor, message_id: int) -> list[Outbound]:
        return await self._moderate_message(actor, message_id, "hidden")

    async def _moderate_message(self, actor: Actor, message_id: int,
                                outcome: Literal["released", "hidden"]) -> list[Outbound]:
        """Release or hide one chat message: the pure rule, the stored flag and the audit
        row (with the message, so the log can be reviewed later), in one transaction."""
        actor.require(P.HIDE_CHAT)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            message = await self.repo.message(conn, actor.cafe_id, message_id)
            if message is None:
                raise NotFound("No such message.")
            detail: dict[str, Any] = {"author_id": message.author_id,
                                      "author": message.author_pseudonym, "text": message.text}
            if outcome == "released":
                _, events = rules.release(actor.cafe_id, message)
                await self.repo.set_released(conn, message_id)
                action = AuditAction.CHAT_RELEASE
                detail["watch"] = dict(message.watch or {})
            else:
                _, events = rules.hide(actor.cafe_id, message)
                await self.repo.set_hidden(conn, message_id)
                action = AuditAction.CHAT_HIDE
            await self.repo.audit(conn, audit_entry(actor, action, f"chat:{message_id}",
                                                    detail, now))
        log.info("chat message %s cafe=%s participant=%s message=%s", outcome,
                 actor.cafe_id, actor.participant_id, message_id)
        return events

    async def chat_snapshot(self, actor: Actor) -> dict[str, Any]:
        async with self.db.connect() as conn:
            messages = await self.repo.recent_messages(
                conn, actor.cafe_id, limit=rules.CHAT_SNAPSHOT_SIZE,
                include_hidden=allows(actor.role, P.HIDE_CHAT), viewer_id=actor.participant_id)
        return rules.chat_snapshot_for(messages, actor.role, actor.participant_id)

    # removing and banning

    async def remove(self, actor: Actor, participant_id: int) -> Effects:
        """Remove (kick) a participant: off the stage, told why, their sockets (and media)
        disconnected. They may join again; `ban` prevents that."""
        actor.require(P.REMOVE)
        return await self._remove(actor, participant_id, banned=False)

    async def ban(self, actor: Actor, participant_id: int, *,
                  by_address: bool = False) -> Effects:
        """Remove a participant and bar this browser from this café; a participant who came
        in with an invitation (staff, banned by an organiser) also loses it: it is revoked
        and barred, whichever browser uses it. `by_address` also bars, for
        `ADDRESS_BAN_MINUTES`, the Internet address their sockets come from (a whole home,
        school or mobile network may share it: that is why it is short)."""
        actor.require(P.BAN)
        return await self._remove(actor, participant_id, banned=True, by_address=by_address)

    async def ban_address(self, cafe_id: int, participant_id: int, address: str,
                          minutes: int) -> None:
        """Carry out `BanAddress` where the participant's sockets are (the address is not
        logged)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await self.repo.insert_address_ban(
                conn, cafe_id=cafe_id, address=address, participant_id=participant_id,
                expires_at=now + timedelta(minutes=minutes), now=now)
        log.info("address banned cafe=%s participant=%s minutes=%s", cafe_id, participant_id,
                 minutes)

    async def _remove(self, actor: Actor, participant_id: int, *,
                      banned: bool, by_address: bool = False) -> Effects:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await guard(conn, actor)
            target = await self.repo.target(conn, actor.cafe_id, participant_id)
            if target is None:
                raise NotFound("No such participant.")
            rules.check_target(actor.role, actor.participant_id, target)
            if banned:
                if await self.repo.participant_banned(conn, actor.cafe_id, participant_id):
                    raise InvalidTransition("This participant is already banned.")
                await self.repo.insert_ban(conn, rules.ban(target, now))
                if target.invitation_id is not None:  # the link is no longer a way in
                    await self.invitations.revoke_invitation(conn, target.invitation_id, now)
                    await self.invitations.demote_participants(conn, target.invitation_id,
                                                               Role.PARTICIPANT.value)
            before = await self.stage.load(conn, actor.cafe_id)
            after, stage_events = stage_rules.leave(before, participant_id)
            await self.stage.save(conn, before, after)
            action = AuditAction.PARTICIPANT_BAN if banned else AuditAction.PARTICIPANT_REMOVE
            detail: dict[str, Any] = {"pseudonym": target.pseudonym, "role": target.role.value}
            if banned:
                detail |= {"invitation_revoked": target.invitation_id is not None,
                           "address_minutes": rules.ADDRESS_BAN_MINUTES if by_address else 0}
            await self.repo.audit(conn, audit_entry(
                actor, action, f"participant:{participant_id}", detail, now))
        log.info("participant %s cafe=%s participant=%s target=%s",
                 "banned" if banned else "removed", actor.cafe_id, actor.participant_id,
                 participant_id)
        commands: list[MediaCommand] = []
        if by_address:  # before the disconnection: the sockets tell their address
            commands.append(BanAddress(actor.cafe_id, participant_id,
                                       rules.ADDRESS_BAN_MINUTES))
        commands.append(DisconnectParticipant(actor.cafe_id, participant_id,
                                              MediaReason.REMOVED))
        return Effects(tuple(rules.removal(target, banned=banned) + stage_events),
                       tuple(commands))

    async def revoked_invitation_of(self, cafe_id: int, participant_id: int) -> int | None:
        """The invitation a banned participant came in with, now revoked (None: a parent)."""
        async with self.db.connect() as conn:
            target = await self.repo.target(conn, cafe_id, participant_id)
        return None if target is None else target.invitation_id

    async def require_not_banned(self, actor: Actor) -> None:
        """Refuse a banned participant whose socket is still open (the media plane asks
        before publishing or subscribing; the other actions check it in their own
        transaction)."""
        async with self.db.connect() as conn:
            if await self.repo.participant_banned(conn, actor.cafe_id, actor.participant_id):
                raise Banned()

    async def is_banned(self, cafe_id: int, browser_key: str | None,
                        invitation_id: int | None) -> bool:
        """May this browser (or invitation) not join this café?"""
        async with self.db.connect() as conn:
            return await self.repo.is_banned(conn, cafe_id, browser_key, invitation_id)

    # the organiser's view

    async def audit_log(self, actor: Actor, cafe_id: int, *, limit: int = 100,
                        offset: int = 0) -> list[AuditEntry]:
        """Moderation actions of a café, newest first (organisers only)."""
        actor.require(P.VIEW_AUDIT_LOG)
        limit = max(1, min(limit, AUDIT_PAGE_MAX))
        async with self.db.connect() as conn:
            return await self.repo.audit_entries(conn, cafe_id, limit=limit,
                                                 offset=max(0, offset))
