"""The moderation service against real SQLite and PostgreSQL: chat, removal, bans, audit."""

from __future__ import annotations

import pytest
from qa_support import browser_key, count, join, make_cafe, services

from sessions.clock import FixedClock
from sessions.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from sessions.events import Audience
from sessions.moderation import AuditAction
from sessions.roles import Role
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.tables import bans, chat_messages


async def test_chat_send_hide_and_snapshot(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    organiser = await join(db, clock, cafe, "Orga", Role.ORGANISER)
    svc = services(db, clock, Limits(chat_max_length=40, chat_per_minute=3))
    [event] = await svc.moderation.send_chat(alice, " Bonjour à tous\x07 ")
    assert (event.event, event.audience) == ("chat.message", Audience.CAFE)
    assert event.payload["text"] == "Bonjour à tous" and event.payload["author"] == "Alice"
    [spam] = await svc.moderation.send_chat(alice, "achetez mes pilules")
    for bad in ("", "x" * 41):
        with pytest.raises(InvalidInput):
            await svc.moderation.send_chat(alice, bad)
    await svc.moderation.send_chat(alice, "troisième")
    with pytest.raises(RateLimited):
        await svc.moderation.send_chat(alice, "quatrième")
    assert await count(db, chat_messages) == 3

    with pytest.raises(PermissionDenied):
        await svc.moderation.hide_chat(alice, spam.payload["id"])
    [hidden] = await svc.moderation.hide_chat(mod, spam.payload["id"])
    assert hidden.event == "chat.hidden" and hidden.payload == {"id": spam.payload["id"]}
    with pytest.raises(InvalidTransition):
        await svc.moderation.hide_chat(mod, spam.payload["id"])
    with pytest.raises(NotFound):
        await svc.moderation.hide_chat(mod, 999_999)

    parent = (await svc.moderation.chat_snapshot(alice))["messages"]
    assert [m["text"] for m in parent] == ["Bonjour à tous", "troisième"]
    moderator = (await svc.moderation.chat_snapshot(mod))["messages"]
    assert [m.get("hidden", False) for m in moderator] == [False, True, False]
    [entry] = await svc.moderation.audit_log(organiser, cafe)
    assert entry.action is AuditAction.CHAT_HIDE
    assert entry.detail["text"] == "achetez mes pilules"


async def test_remove_and_ban(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    other_cafe = await make_cafe(db, clock)
    troll = await join(db, clock, cafe, "Troll")
    kid = await join(db, clock, cafe, "Kid")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR, invited=True)
    expert = await join(db, clock, cafe, "Expert", Role.EXPERT, invited=True)
    organiser = await join(db, clock, cafe, "Orga", Role.ORGANISER)
    svc = services(db, clock)
    await svc.stage.raise_hand(troll)
    await svc.stage.bring_on_stage(mod, troll.participant_id)
    await svc.stage.accept(troll)

    events = await svc.moderation.remove(mod, kid.participant_id)
    [told] = [e for e in events if e.audience is Audience.PARTICIPANT]
    assert (told.event, told.participant_id, told.payload) == (
        "moderation.removed", kid.participant_id, {"banned": False})
    assert not await svc.moderation.is_banned(cafe, browser_key("Kid"), None)

    events = await svc.moderation.ban(mod, troll.participant_id)
    assert {e.event for e in events} >= {"moderation.removed", "stage.changed"}
    assert not await svc.stage.is_on_stage(cafe, troll.participant_id)
    assert await svc.moderation.is_banned(cafe, browser_key("Troll"), None)
    assert not await svc.moderation.is_banned(other_cafe, browser_key("Troll"), None)
    with pytest.raises(InvalidTransition):
        await svc.moderation.ban(mod, troll.participant_id)

    # Staff: moderators cannot, organisers can, and then the invitation is barred too.
    with pytest.raises(PermissionDenied):
        await svc.moderation.ban(mod, expert.participant_id)
    with pytest.raises(PermissionDenied):
        await svc.moderation.remove(expert, kid.participant_id)  # the expert has no REMOVE
    with pytest.raises(NotFound):
        await svc.moderation.remove(mod, 999_999)
    await svc.moderation.ban(organiser, mod.participant_id)
    async with db.connect() as conn:
        from sqlalchemy import select

        invitation_id = await conn.scalar(select(bans.c.invitation_id).where(
            bans.c.participant_id == mod.participant_id))
    assert invitation_id is not None
    assert await svc.moderation.is_banned(cafe, "some-other-browser-key", invitation_id)
    assert await count(db, bans) == 2

    entries = await svc.moderation.audit_log(organiser, cafe)
    assert [e.action for e in entries[:3]] == [
        AuditAction.PARTICIPANT_BAN, AuditAction.PARTICIPANT_BAN,
        AuditAction.PARTICIPANT_REMOVE]
    assert entries[1].detail["pseudonym"] == "Troll"
    page = await svc.moderation.audit_log(organiser, cafe, limit=1, offset=1)
    assert page == [entries[1]]
