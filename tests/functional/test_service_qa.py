"""The Q&A service against real SQLite and PostgreSQL (the `db` fixture runs both)."""

from __future__ import annotations

import asyncio

import pytest
from qa_support import count, join, make_cafe, qid, services

from sessions.clock import FixedClock
from sessions.errors import (
    Banned,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from sessions.events import Audience
from sessions.moderation import AuditAction
from sessions.qa import QuestionStatus as S
from sessions.roles import Role
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.tables import audit_log, questions, votes

pytestmark = pytest.mark.usefixtures("db")


async def test_full_flow_persists_and_survives_a_restart(db: Database,
                                                         clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    bob = await join(db, clock, cafe, "Bob")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    expert = await join(db, clock, cafe, "Dr Martin", Role.EXPERT)
    svc = services(db, clock)

    events = await svc.qa.ask(alice, "Mon fils Kevin passe 6 h sur TikTok", anonymous=True)
    q1 = qid(events)
    assert {e.audience for e in events} == {Audience.MODERATORS, Audience.PARTICIPANT}
    clock.advance(5)
    q2 = qid(await svc.qa.ask(bob, "Quel âge pour un téléphone ?"))
    await svc.qa.edit(mod, q1, "Mon fils passe 6 h sur TikTok")
    await svc.qa.approve(mod, q1)
    await svc.qa.approve(mod, q2)
    await svc.qa.vote(bob, q1)
    await svc.qa.vote(alice, q2)
    await svc.qa.vote(bob, q2)
    await svc.qa.start_answering(expert, q2)

    # A restart: new services on a new engine see the same queue.
    await db.close()
    again = Database(db.url)
    try:
        queue = await services(again, clock).qa.queue(cafe)
        assert queue.questions[q1].text == "Mon fils passe 6 h sur TikTok"
        assert queue.questions[q1].original_text == "Mon fils Kevin passe 6 h sur TikTok"
        assert queue.questions[q1].voters == {bob.participant_id}
        assert queue.questions[q2].status is S.ANSWERING
        snap = await services(again, clock).qa.snapshot(bob)
        assert [(q["id"], q["author"]) for q in snap["questions"]] == [
            (q2, "Bob"), (q1, None)]
        assert snap["questions"][1]["voted"] is True
        mod_snap = await services(again, clock).qa.snapshot(mod)
        assert mod_snap["questions"][1]["author"] == "Alice"
    finally:
        await again.close()


async def test_moderation_actions_are_audited(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    organiser = await join(db, clock, cafe, "Orga", Role.ORGANISER)
    svc = services(db, clock)
    q1 = qid(await svc.qa.ask(alice, "Kevin, 12 ans, harcelé"))
    q2 = qid(await svc.qa.ask(alice, "Doublon"))
    q3 = qid(await svc.qa.ask(alice, "Hors sujet"))
    await svc.qa.edit(mod, q1, "Mon fils, 12 ans, harcelé")
    await svc.qa.approve(mod, q1)
    await svc.qa.merge(mod, q2, into=q1)
    await svc.qa.reject(mod, q3, "Hors sujet, désolé")
    entries = await svc.moderation.audit_log(organiser, cafe)
    assert [e.action for e in entries] == [
        AuditAction.QUESTION_REJECT, AuditAction.QUESTION_MERGE, AuditAction.QUESTION_APPROVE,
        AuditAction.QUESTION_EDIT]
    edit = entries[-1]
    assert edit.detail["before"] == "Kevin, 12 ans, harcelé"
    assert edit.detail["after"] == "Mon fils, 12 ans, harcelé"
    assert edit.actor == mod.label and edit.target == f"question:{q1}"
    assert entries[0].detail["reason"] == "Hors sujet, désolé"
    with pytest.raises(PermissionDenied):
        await svc.moderation.audit_log(mod, cafe)


async def test_merge_moves_votes_in_the_database(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice, bob, carol = [await join(db, clock, cafe, n) for n in ("Alice", "Bob", "Carol")]
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    svc = services(db, clock)
    q1 = qid(await svc.qa.ask(alice, "Écrans le soir ?"))
    q2 = qid(await svc.qa.ask(bob, "Écrans avant de dormir ?"))
    for q in (q1, q2):
        await svc.qa.approve(mod, q)
    await svc.qa.vote(carol, q1)
    await svc.qa.vote(carol, q2)
    await svc.qa.vote(alice, q2)
    await svc.qa.merge(mod, q2, into=q1)
    queue = await svc.qa.queue(cafe)
    assert queue.questions[q1].voters == {carol.participant_id, alice.participant_id}
    assert queue.questions[q2].status is S.MERGED and queue.questions[q2].merged_into == q1
    assert await count(db, votes) == 2


async def test_bad_inputs_change_nothing(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    bob = await join(db, clock, cafe, "Bob")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    expert = await join(db, clock, cafe, "Expert", Role.EXPERT)
    svc = services(db, clock, Limits(question_max_length=50, questions_per_minute=100,
                                     votes_per_second=100))
    for text in ("", " \x00\x1b ", "x" * 51):
        with pytest.raises(InvalidInput):
            await svc.qa.ask(alice, text)
    q1 = qid(await svc.qa.ask(alice, "Une vraie question"))
    with pytest.raises(NotFound):
        await svc.qa.vote(bob, q1)  # pending
    with pytest.raises(NotFound):
        await svc.qa.vote(bob, 9999)
    with pytest.raises(PermissionDenied):
        await svc.qa.approve(alice, q1)
    with pytest.raises(PermissionDenied):
        await svc.qa.approve(expert, q1)  # the expert sees approved questions only
    with pytest.raises(PermissionDenied):
        await svc.qa.start_answering(mod, q1)
    with pytest.raises(NotFound):
        await svc.qa.withdraw(bob, q1)
    with pytest.raises(InvalidInput):
        await svc.qa.edit(mod, q1, "y" * 51)
    await svc.qa.reject(mod, q1, "Non")
    with pytest.raises(InvalidTransition):
        await svc.qa.reject(mod, q1, "Non")  # replayed
    with pytest.raises(NotFound):
        await svc.qa.vote(bob, q1)  # rejected
    assert await count(db, questions) == 1
    assert await count(db, votes) == 0
    assert await count(db, audit_log) == 1


async def test_rate_limits(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    svc = services(db, clock, Limits(questions_per_minute=2, votes_per_second=2))
    q1 = qid(await svc.qa.ask(alice, "Une"))
    await svc.qa.ask(alice, "Deux")
    with pytest.raises(RateLimited, match="too fast"):
        await svc.qa.ask(alice, "Trois")
    assert await count(db, questions) == 2
    await svc.qa.approve(mod, q1)
    await svc.qa.vote(alice, q1)
    await svc.qa.unvote(alice, q1)
    with pytest.raises(RateLimited):
        await svc.qa.vote(alice, q1)


async def test_ended_cafe_and_banned_actor_are_refused(db: Database, clock: FixedClock) -> None:
    ended = await make_cafe(db, clock, status="ended")
    alice = await join(db, clock, ended, "Alice")
    svc = services(db, clock)
    with pytest.raises(InvalidTransition, match="ended"):
        await svc.qa.ask(alice, "Trop tard")
    cafe = await make_cafe(db, clock)
    bob = await join(db, clock, cafe, "Bob")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    await svc.moderation.ban(mod, bob.participant_id)
    with pytest.raises(Banned):
        await svc.qa.ask(bob, "Encore moi")
    assert await count(db, questions) == 0


async def test_two_moderators_at_once(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    mods = [await join(db, clock, cafe, f"Modo{i}", Role.MODERATOR) for i in range(2)]
    svc = services(db, clock)
    ids = [qid(await svc.qa.ask(alice, f"Question {i}")) for i in range(6)]

    # The same question approved by both: exactly one wins, the other is told why.
    results = await asyncio.gather(*(svc.qa.approve(m, ids[0]) for m in mods),
                                   return_exceptions=True)
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, InvalidTransition) for r in results) == 1

    # Different questions at once, merges and approvals interleaved: all land.
    await asyncio.gather(
        svc.qa.approve(mods[0], ids[1]), svc.qa.approve(mods[1], ids[2]),
        svc.qa.reject(mods[0], ids[3], "non"), svc.qa.merge(mods[1], ids[4], into=ids[0]),
    )
    queue = await svc.qa.queue(cafe)
    assert [queue.questions[i].status for i in ids] == [
        S.APPROVED, S.APPROVED, S.APPROVED, S.REJECTED, S.MERGED, S.PENDING]
    assert await count(db, audit_log) == 5


async def test_many_votes_at_once_are_all_counted(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    voters = [await join(db, clock, cafe, f"P{i}") for i in range(12)]
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    svc = services(db, clock)
    q1 = qid(await svc.qa.ask(voters[0], "Populaire"))
    await svc.qa.approve(mod, q1)
    await asyncio.gather(*(svc.qa.vote(v, q1) for v in voters))
    await asyncio.gather(*(svc.qa.vote(v, q1) for v in voters[:4]))  # replays
    assert (await svc.qa.queue(cafe)).questions[q1].votes == 12
    assert await count(db, votes) == 12
