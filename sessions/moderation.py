"""Moderation rules, pure: text chat, who may act on whom, removals and bans, audit entries.

No I/O, no clock reads. The service persists what these functions decide: chat rows, ban
rows (browser key and invitation of the banned participant, so neither can rejoin the
café), and one audit entry per moderation action.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessions.cafe import clean_text
from sessions.errors import InvalidTransition, PermissionDenied
from sessions.events import Audience, Outbound
from sessions.roles import Permission, Role, allows

CHAT_SNAPSHOT_SIZE = 100


class AuditAction(enum.StrEnum):
    QUESTION_APPROVE = "question.approve"
    QUESTION_REJECT = "question.reject"
    QUESTION_EDIT = "question.edit"
    QUESTION_MERGE = "question.merge"
    QUESTION_HIDE = "question.hide"
    STAGE_INVITE = "stage.invite"
    STAGE_SEND_BACK = "stage.send_back"
    STAGE_DISMISS_HAND = "stage.dismiss_hand"
    STAGE_MUTE = "stage.mute"
    STAGE_UNMUTE = "stage.unmute"
    CHAT_HIDE = "chat.hide"
    CHAT_RELEASE = "chat.release"
    REPORT_RESOLVE = "report.resolve"
    PARTICIPANT_REMOVE = "participant.remove"
    PARTICIPANT_BAN = "participant.ban"
    # the transcript's review (transcripts.review_service): before and after in the detail
    TRANSCRIPT_EDIT = "transcript.edit"
    TRANSCRIPT_SPLIT = "transcript.split"
    TRANSCRIPT_JOIN = "transcript.join"
    TRANSCRIPT_REDACT = "transcript.redact"
    TRANSCRIPT_PUBLISH = "transcript.publish"
    TRANSCRIPT_WITHDRAW = "transcript.withdraw"
    # retention and erasure (transcripts.retention_service): counts and ids, never texts
    RECORDINGS_DELETE = "recordings.delete"
    REPLAY_DELETE = "replay.delete"
    PARTICIPANT_ERASE = "participant.erase"
    RETENTION_SET = "retention.set"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to what, when; `detail` keeps what is needed to review it later (the
    original text of an edited question, a rejection's reason, a hidden message's text)."""

    cafe_id: int
    actor: str
    action: AuditAction
    target: str
    detail: dict[str, Any]
    created_at: datetime
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    author_id: int
    author_pseudonym: str
    text: str
    created_at: datetime
    hidden: bool = False
    # Held by a watched word: moderators and its author see it until a moderator releases
    # it. `watch`: the watched words it matched (held or flagged), for moderators.
    held: bool = False
    watch: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """The participant a moderation action aims at, as the service loaded them."""

    participant_id: int
    cafe_id: int
    role: Role
    pseudonym: str
    browser_key: str
    invitation_id: int | None = None


# How long a ban by Internet address lasts (and its address is kept): short, because a
# whole home, school or mobile network may share one address.
ADDRESS_BAN_MINUTES = 30


@dataclass(frozen=True, slots=True)
class BanRecord:
    cafe_id: int
    participant_id: int
    browser_key: str
    invitation_id: int | None
    created_at: datetime


# --- chat --------------------------------------------------------------------------------


def chat_view(m: ChatMessage) -> dict[str, Any]:
    view = {"id": m.id, "author": m.author_pseudonym, "author_id": m.author_id,
            "text": m.text, "created_at": m.created_at.isoformat()}
    return view | ({"held": True} if m.held else {})


def moderator_chat_view(m: ChatMessage) -> dict[str, Any]:
    """Moderators also see why a message waits or is marked."""
    return chat_view(m) | ({"watch": dict(m.watch)} if m.watch else {})


def clean_chat(text: str, max_length: int) -> str:
    return clean_text(text, field="message", max_length=max_length)


def post(cafe_id: int, message: ChatMessage) -> list[Outbound]:
    """A chat message reaches the whole café at once (chat is not pre-moderated; moderators
    hide afterwards), unless a watched word holds it: then only moderators and its author
    see it, until a moderator releases it. A flagged message reaches everyone, and
    moderators get their copy with the words it matched."""
    staff = Outbound("chat.message", moderator_chat_view(message), Audience.MODERATORS,
                     cafe_id)
    if message.held:
        return [staff, Outbound("chat.message", chat_view(message), Audience.PARTICIPANT,
                                cafe_id, participant_id=message.author_id)]
    public = Outbound("chat.message", chat_view(message), Audience.CAFE, cafe_id)
    return [public, staff] if message.watch else [public]


def release(cafe_id: int, message: ChatMessage) -> tuple[ChatMessage, list[Outbound]]:
    """A moderator lets a held message through: it reaches the whole café now."""
    if message.hidden:
        raise InvalidTransition("This message is hidden.")
    if not message.held:
        raise InvalidTransition("This message is not waiting for a moderator.")
    released = dataclasses.replace(message, held=False)
    return released, post(cafe_id, released)


def hide(cafe_id: int, message: ChatMessage) -> tuple[ChatMessage, list[Outbound]]:
    if message.hidden:
        raise InvalidTransition("This message is already hidden.")
    return dataclasses.replace(message, hidden=True), [
        Outbound("chat.hidden", {"id": message.id}, Audience.CAFE, cafe_id)
    ]


def chat_snapshot_for(messages: Iterable[ChatMessage], role: Role,
                      participant_id: int | None = None) -> dict[str, Any]:
    """The latest messages, oldest first; hidden and held ones only for those who hide
    them (marked), and a held message for its author too."""
    see_hidden = allows(role, Permission.HIDE_CHAT)
    shown = [
        (moderator_chat_view(m) if see_hidden else chat_view(m))
        | ({"hidden": True} if m.hidden else {})
        for m in sorted(messages, key=lambda m: (m.created_at, m.id))
        if see_hidden or not (m.hidden or (m.held and m.author_id != participant_id))
    ]
    return {"messages": shown[-CHAT_SNAPSHOT_SIZE:]}


# --- acting on participants ------------------------------------------------------------------


def check_target(actor_role: Role, actor_id: int, target: Target) -> None:
    """Moderators act on parents only; organisers on anyone but organisers; nobody on
    themselves. A staff member is dealt with by revoking their invitation instead."""
    if target.participant_id == actor_id:
        raise PermissionDenied("You cannot do this to yourself.")
    if actor_role is Role.ORGANISER:
        if target.role is Role.ORGANISER:
            raise PermissionDenied("An organiser cannot be removed from a café.")
        return
    if target.role is not Role.PARTICIPANT:
        raise PermissionDenied("Only an organiser can remove a member of the staff.")


def removal(target: Target, *, banned: bool) -> list[Outbound]:
    """Tell the removed participant why, before the edge disconnects them."""
    return [
        Outbound("moderation.removed", {"banned": banned}, Audience.PARTICIPANT, target.cafe_id,
                 participant_id=target.participant_id),
        Outbound("moderation.participant_removed",
                 {"participant_id": target.participant_id, "banned": banned},
                 Audience.STAFF, target.cafe_id),
    ]


def ban(target: Target, now: datetime) -> BanRecord:
    """What a ban stores: the browser key, and the invitation when the participant came in
    through one (an invited expert or moderator banned by an organiser)."""
    return BanRecord(target.cafe_id, target.participant_id, target.browser_key,
                     target.invitation_id, now)
