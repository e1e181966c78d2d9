"""Reports on the real app: the safeguarding queue on SQLite and PostgreSQL (resolutions
carried out by the moderation services, audited), and through real sockets (moderators
hear of a report, the audience and the reported person never do; floods rate-limited)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from qa_support import ROOMY, join, make_cafe, qid, services
from signaling_fixtures import Live, invite
from signaling_fixtures import make_cafe as make_live_cafe

from sessions.clock import FixedClock
from sessions.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from sessions.events import Audience
from sessions.moderation import AuditAction
from sessions.ratelimit import RateLimiter
from sessions.roles import Role
from sessions.service_reports import ReportService
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.tables import chat_messages, questions, reports


async def test_file_and_resolve(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    other = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    bob = await join(db, clock, cafe, "Bob")
    troll = await join(db, clock, cafe, "Troll")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    organiser = await join(db, clock, cafe, "Orga", Role.ORGANISER)
    outsider = await join(db, clock, other, "Ailleurs", Role.MODERATOR)
    svc = services(db, clock)
    limiter = RateLimiter()
    reports_svc = ReportService(db, clock, limiter, Limits(reports_per_minute=100), svc.qa,
                                svc.moderation)

    [message] = await svc.moderation.send_chat(troll, "t'es nul")
    message_id = message.payload["id"]
    [event] = await reports_svc.file(alice, "chat", message_id, "harassment", "Il insiste")
    assert (event.event, event.audience) == ("report.new", Audience.MODERATORS)
    assert event.payload["report"]["excerpt"] == "t'es nul" and event.payload["open"] == 1
    await reports_svc.file(bob, "chat", message_id, "spam")
    with pytest.raises(InvalidTransition):
        await reports_svc.file(alice, "chat", message_id, "spam")
    with pytest.raises(InvalidInput):
        await reports_svc.file(alice, "chat", message_id, "bullying")
    with pytest.raises(InvalidInput):
        await reports_svc.file(troll, "participant", troll.participant_id, "other")
    with pytest.raises(NotFound):
        await reports_svc.file(outsider, "chat", message_id, "spam")  # another café's
    # a pending question is not something a parent can see, so not something to report
    pending = qid(await svc.qa.ask(troll, "Une question ?"))
    with pytest.raises(NotFound):
        await reports_svc.file(bob, "question", pending, "spam")
    with pytest.raises(PermissionDenied):
        await reports_svc.resolve(alice, 1, "none")

    snapshot = await reports_svc.snapshot(mod)
    assert snapshot is not None and snapshot["open"] == 2
    assert await reports_svc.snapshot(alice) is None
    first = snapshot["reports"][0]["id"]
    resolved = await reports_svc.resolve(mod, first, "hide")
    names = [e.event for e in resolved.effects]
    assert names == ["chat.hidden", "report.resolved"]
    assert resolved.effects.events[-1].payload["open"] == 0  # both reports of the message
    with pytest.raises(InvalidTransition):
        await reports_svc.resolve(mod, first, "none")
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(chat_messages.c.hidden)
                                 .where(chat_messages.c.id == message_id)) is True
        assert await conn.scalar(sa.select(sa.func.count()).select_from(reports)
                                 .where(reports.c.status == "resolved")) == 2

    # an approved question, hidden on a report: it leaves the audience's lists
    await svc.qa.approve(mod, pending)
    await reports_svc.file(alice, "question", pending, "inappropriate")
    report_id = (await reports_svc.snapshot(mod) or {})["reports"][0]["id"]
    resolved = await reports_svc.resolve(mod, report_id, "hide")
    assert "qa.removed" in [e.event for e in resolved.effects]
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(questions.c.status)
                                 .where(questions.c.id == pending)) == "rejected"

    # a participant, banned on a report
    await reports_svc.file(alice, "participant", troll.participant_id, "hate")
    report_id = (await reports_svc.snapshot(mod) or {})["reports"][0]["id"]
    with pytest.raises(InvalidInput):
        await reports_svc.resolve(mod, report_id, "hide")
    resolved = await reports_svc.resolve(mod, report_id, "ban")
    assert resolved.banned == troll.participant_id
    assert {"moderation.removed", "report.resolved"} <= {e.event for e in resolved.effects}
    assert await svc.moderation.is_banned(cafe, "key-troll-0123456789", None)

    log = await svc.moderation.audit_log(organiser, cafe)
    actions = [e.action for e in log]
    assert actions.count(AuditAction.REPORT_RESOLVE) == 4
    assert {AuditAction.CHAT_HIDE, AuditAction.QUESTION_HIDE,
            AuditAction.PARTICIPANT_BAN} <= set(actions)
    hide = next(e for e in log if e.action is AuditAction.REPORT_RESOLVE
                and e.detail["kind"] == "chat")
    assert hide.detail["resolution"] == "hide" and hide.detail["text"] == "t'es nul"
    assert hide.detail["pseudonym"] == "Troll"
    assert len(await reports_svc.all(cafe)) == 4


async def test_report_flood_is_rate_limited(db: Database, clock: FixedClock) -> None:
    from sessions.errors import RateLimited

    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    svc = services(db, clock, ROOMY)
    reports_svc = ReportService(db, clock, RateLimiter(), Limits(reports_per_minute=2),
                                svc.qa, svc.moderation)
    targets = [await join(db, clock, cafe, f"P{n}") for n in range(3)]
    for target in targets[:2]:
        await reports_svc.file(alice, "participant", target.participant_id, "spam")
    with pytest.raises(RateLimited):
        await reports_svc.file(alice, "participant", targets[2].participant_id, "spam")


async def test_sockets_private_to_moderators(live: Live) -> None:
    cafe = await make_live_cafe(live.cafes, live=True)
    moderator = await live.peer()
    await moderator.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    marie, troll, paul = await live.peer(), await live.peer(), await live.peer()
    await marie.join(cafe, "Marie")
    await troll.join(cafe, "Troll")
    await paul.join(cafe, "Paul")
    assert (await troll.call("chat.send", {"text": "t'es nulle"}))["ok"]
    message = await marie.next("chat.message")

    ack = await marie.call("report.create", {"kind": "chat", "target_id": message["id"],
                                             "reason": "harassment", "note": "encore"})
    assert ack == {"ok": True}
    new = await moderator.next("report.new")
    assert new["open"] == 1 and new["report"]["pseudonym"] == "Troll"
    bad = await marie.call("report.create", {"kind": "chat", "target_id": message["id"],
                                             "reason": "méchant"})
    assert bad["error"]["code"] == "invalid_input"
    assert bad["error"]["message"] == "Choisissez un motif dans la liste."
    too_long = await paul.call("report.create", {"kind": "chat", "target_id": message["id"],
                                                 "reason": "spam", "note": "x" * 501})
    assert too_long["error"]["code"] == "invalid_input"
    denied = await paul.call("report.resolve", {"report_id": new["report"]["id"],
                                                "resolution": "none"})
    assert denied["error"]["code"] == "forbidden"

    rejoined = await (await live.peer()).join(cafe, "Modo",
                                              invite=await invite(live.cafes, cafe,
                                                                  Role.MODERATOR))
    assert rejoined["reports"]["open"] == 1
    assert "reports" not in await (await live.peer()).join(cafe, "Léa")

    done = await moderator.call("report.resolve", {"report_id": new["report"]["id"],
                                                   "resolution": "hide"})
    assert done == {"ok": True}
    assert (await moderator.next("report.resolved"))["open"] == 0
    assert (await paul.next("chat.hidden"))["id"] == message["id"]
    await asyncio.sleep(0.2)
    for peer in (marie, troll, paul):
        assert "report.new" not in peer.events and "report.resolved" not in peer.events
