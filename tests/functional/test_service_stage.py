"""The stage service against real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from qa_support import count, join, make_cafe, services

from sessions.clock import FixedClock
from sessions.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from sessions.events import Audience
from sessions.moderation import AuditAction
from sessions.roles import Role
from sessions.settings import Limits
from sessions.storage.database import Database
from sessions.storage.repo_help import LeaveOutRepository
from sessions.storage.tables import stage_state


async def test_hand_to_stage_and_back_survives_a_restart(db: Database,
                                                         clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    expert = await join(db, clock, cafe, "Expert", Role.EXPERT)
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    organiser = await join(db, clock, cafe, "Orga", Role.ORGANISER)
    svc = services(db, clock)

    events = await svc.stage.raise_hand(alice)
    assert {e.event for e in events} == {"stage.hands", "stage.hand"}
    events = await svc.stage.bring_on_stage(expert, alice.participant_id)
    assert [e.event for e in events] == ["stage.invitation", "stage.hands"]
    assert not await svc.stage.is_on_stage(cafe, alice.participant_id)
    events = await svc.stage.accept(alice)
    [invited] = [e for e in events if e.event == "stage.invited"]
    assert invited.audience is Audience.PARTICIPANT
    assert invited.participant_id == alice.participant_id
    await svc.stage.mute(mod, alice.participant_id)

    await db.close()
    again = Database(db.url)
    try:
        svc2 = services(again, clock)
        assert await svc2.stage.is_on_stage(cafe, alice.participant_id)
        snap = await svc2.stage.snapshot(alice)
        assert snap["on_stage"] and snap["muted"]
        assert [s["pseudonym"] for s in snap["speakers"]] == ["Alice"]
        events = list(await svc2.stage.send_back(mod, alice.participant_id))
        assert [e.event for e in events] == ["stage.dismissed", "stage.changed"]
        assert not await svc2.stage.is_on_stage(cafe, alice.participant_id)
        entries = await svc2.moderation.audit_log(organiser, cafe)
        assert [e.action for e in entries] == [
            AuditAction.STAGE_SEND_BACK, AuditAction.STAGE_MUTE, AuditAction.STAGE_INVITE]
    finally:
        await again.close()


async def test_stage_limits_and_permissions(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    parents = [await join(db, clock, cafe, f"P{i}") for i in range(3)]
    expert = await join(db, clock, cafe, "Expert", Role.EXPERT)
    svc = services(db, clock, Limits(stage_max=1))
    for p in parents:
        await svc.stage.raise_hand(p)
    with pytest.raises(PermissionDenied):
        await svc.stage.bring_on_stage(parents[0], parents[1].participant_id)
    with pytest.raises(PermissionDenied):
        await svc.stage.raise_hand(expert)  # the expert is on stage by design
    with pytest.raises(PermissionDenied):
        await svc.stage.lower_hand(parents[0], parents[1].participant_id)
    await svc.stage.bring_on_stage(expert, parents[0].participant_id)
    with pytest.raises(InvalidInput, match="full"):  # the invitation holds the seat
        await svc.stage.bring_on_stage(expert, parents[1].participant_id)
    with pytest.raises(PermissionDenied):
        await svc.stage.accept(expert)
    await svc.stage.accept(parents[0])
    with pytest.raises(PermissionDenied):
        await svc.stage.mute(expert, parents[0].participant_id)  # muting is a moderator's
    with pytest.raises(NotFound):  # no such participant in this café (issue 8, finding 7)
        await svc.stage.bring_on_stage(expert, 424242)
    await svc.stage.lower_hand(expert, parents[2].participant_id)  # dismissed by the staff
    await svc.stage.send_back(parents[0])  # leaving by oneself
    assert await count(db, stage_state) == 1
    snap = await svc.stage.snapshot(expert)
    assert [h["pseudonym"] for h in snap["hands"]] == ["P1"]


async def test_two_staff_filling_the_last_seat_at_once(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    parents = [await join(db, clock, cafe, f"P{i}") for i in range(2)]
    expert = await join(db, clock, cafe, "Expert", Role.EXPERT)
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    svc = services(db, clock, Limits(stage_max=1))
    for p in parents:
        await svc.stage.raise_hand(p)
    results = await asyncio.gather(
        svc.stage.bring_on_stage(expert, parents[0].participant_id),
        svc.stage.bring_on_stage(mod, parents[1].participant_id),
        return_exceptions=True)
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, InvalidInput) for r in results) == 1
    snap = await svc.stage.snapshot(expert)
    assert snap["speakers"] == [] and sorted(h["invited"] for h in snap["hands"]) == [
        False, True]


async def test_decline_then_accept_with_a_leave_out_request(db: Database,
                                                            clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice, bob = await join(db, clock, cafe, "Alice"), await join(db, clock, cafe, "Bob")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    svc = services(db, clock)
    await svc.stage.raise_hand(alice)
    await svc.stage.bring_on_stage(mod, alice.participant_id)
    assert (await svc.stage.snapshot(alice))["invited"]
    assert not (await svc.stage.speaker_state(cafe, alice.participant_id)).on_stage
    events = await svc.stage.decline(alice)
    [declined] = [e for e in events if e.event == "stage.declined"]
    assert declined.audience is Audience.STAFF
    assert declined.payload == {"participant_id": alice.participant_id, "pseudonym": "Alice"}
    assert await count(db, stage_state) == 0
    with pytest.raises(InvalidTransition):
        await svc.stage.accept(alice)  # nothing to accept any more

    await svc.stage.raise_hand(alice)
    await svc.stage.bring_on_stage(mod, alice.participant_id)
    await svc.stage.accept(alice, leave_out=True)
    assert await svc.stage.is_on_stage(cafe, alice.participant_id)
    await svc.stage.raise_hand(bob)
    with pytest.raises(InvalidTransition):  # only a speaker on stage asks from the stage
        await svc.stage.leave_out(bob)
    await svc.stage.bring_on_stage(mod, bob.participant_id)
    await svc.stage.accept(bob)
    [told] = await svc.stage.leave_out(alice)  # again: idempotent
    assert (told.event, told.participant_id) == ("stage.left_out", alice.participant_id)
    async with db.connect() as conn:
        requests = await LeaveOutRepository().for_cafe(conn, cafe)
    assert [(pid, name, redacted) for pid, name, _at, redacted in requests] == [
        (alice.participant_id, "Alice", None)]
