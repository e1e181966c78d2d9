"""Raised hands and the stage, transition by transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessions import stage
from sessions.errors import InvalidInput, InvalidTransition
from sessions.events import Audience, Outbound
from sessions.roles import Role
from sessions.stage import EntryState, Stage

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
CAFE = 3
ALICE, BOB, CAROL = 21, 22, 23


def raised(s: Stage, *pids: int) -> Stage:
    for i, pid in enumerate(pids):
        s, _ = stage.raise_hand(s, pid, pseudonym=f"p{pid}", now=T0 + timedelta(seconds=i))
    return s


def named(events: list[Outbound], name: str) -> list[Outbound]:
    return [e for e in events if e.event == name]


def seated(s: Stage, pid: int, *, stage_max: int = 2, now: datetime = T0) -> Stage:
    """Invited, then accepted: on stage."""
    s, _ = stage.bring_on_stage(s, pid, now=now, stage_max=stage_max)
    s, _ = stage.accept(s, pid, now=now, stage_max=stage_max)
    return s


def test_raise_hand_goes_to_the_staff_and_the_participant() -> None:
    s, events = stage.raise_hand(Stage(CAFE), ALICE, pseudonym="Alice", now=T0)
    assert s.entries[ALICE].state is EntryState.RAISED
    [hands] = named(events, "stage.hands")
    assert hands.audience is Audience.STAFF
    assert hands.payload["hands"][0]["pseudonym"] == "Alice"
    [mine] = named(events, "stage.hand")
    assert (mine.audience, mine.participant_id, mine.payload) == (
        Audience.PARTICIPANT, ALICE, {"raised": True})


def test_raise_hand_twice_keeps_the_place_in_line() -> None:
    s = raised(Stage(CAFE), ALICE, BOB)
    again, _ = stage.raise_hand(s, ALICE, pseudonym="p21", now=T0 + timedelta(minutes=5))
    assert [e.participant_id for e in again.hands()] == [ALICE, BOB]
    assert again == s


def test_lower_hand_is_idempotent() -> None:
    s, _ = stage.lower_hand(raised(Stage(CAFE), ALICE), ALICE)
    assert s.entries == {}
    s2, events = stage.lower_hand(s, ALICE)
    assert s2 == s and named(events, "stage.hand")[0].payload == {"raised": False}


def test_invite_asks_the_parent_and_publishes_nothing_yet() -> None:
    s, events = stage.bring_on_stage(raised(Stage(CAFE), ALICE), ALICE,
                                     now=T0 + timedelta(seconds=9), stage_max=2)
    assert s.entries[ALICE].state is EntryState.INVITED
    assert not s.is_on_stage(ALICE) and s.speakers() == []
    assert [e.event for e in events] == ["stage.invitation", "stage.hands"]
    [asked] = named(events, "stage.invitation")
    assert (asked.audience, asked.participant_id) == (Audience.PARTICIPANT, ALICE)
    assert asked.payload == {"heard_by": "everyone", "recorded": True}
    [hands] = named(events, "stage.hands")
    assert hands.payload["hands"][0]["invited"] is True
    snap = stage.snapshot_for(s, Role.PARTICIPANT, ALICE)
    assert snap["invited"] and snap["hand_raised"] and not snap["on_stage"]


def test_accept_puts_on_stage_and_the_browser_publishes() -> None:
    s, _ = stage.bring_on_stage(raised(Stage(CAFE), ALICE), ALICE, now=T0, stage_max=2)
    s, events = stage.accept(s, ALICE, now=T0 + timedelta(seconds=9), stage_max=2)
    assert s.is_on_stage(ALICE) and s.hands() == []
    assert s.entries[ALICE].since == T0 + timedelta(seconds=9)
    [invited] = named(events, "stage.invited")
    assert (invited.audience, invited.participant_id) == (Audience.PARTICIPANT, ALICE)
    assert invited.payload == {"publish": ["microphone"]}
    [changed] = named(events, "stage.changed")
    assert changed.audience is Audience.CAFE
    assert [sp["participant_id"] for sp in changed.payload["speakers"]] == [ALICE]
    assert named(events, "stage.hands")[0].payload == {"hands": []}
    with pytest.raises(InvalidTransition):
        stage.accept(s, ALICE, now=T0, stage_max=2)  # replayed
    with pytest.raises(InvalidTransition):
        stage.decline(s, ALICE)


def test_decline_lowers_the_hand_and_tells_the_staff() -> None:
    s, _ = stage.bring_on_stage(raised(Stage(CAFE), ALICE, BOB), ALICE, now=T0, stage_max=2)
    s, events = stage.decline(s, ALICE)
    assert ALICE not in s.entries and [e.participant_id for e in s.hands()] == [BOB]
    assert [e.event for e in events] == ["stage.hand", "stage.hands", "stage.declined"]
    [mine] = named(events, "stage.hand")
    assert (mine.participant_id, mine.payload) == (ALICE, {"raised": False})
    [declined] = named(events, "stage.declined")
    assert declined.audience is Audience.STAFF
    assert declined.payload == {"participant_id": ALICE, "pseudonym": "p21"}
    with pytest.raises(InvalidTransition):
        stage.decline(s, ALICE)
    # Declining is not the end: the parent may raise a hand again, and accept this time.
    s = raised(s, ALICE)
    s = seated(s, ALICE)
    assert s.is_on_stage(ALICE)


def test_accept_or_decline_needs_an_invitation() -> None:
    for s in (raised(Stage(CAFE), ALICE), Stage(CAFE), seated(raised(Stage(CAFE), ALICE), ALICE)):
        with pytest.raises(InvalidTransition):
            stage.accept(s, ALICE, now=T0, stage_max=2)
        with pytest.raises(InvalidTransition):
            stage.decline(s, ALICE)


def test_an_invitation_holds_a_place_and_can_be_withdrawn() -> None:
    s = raised(Stage(CAFE), ALICE, BOB, CAROL)
    s, _ = stage.bring_on_stage(s, ALICE, now=T0, stage_max=2)
    with pytest.raises(InvalidTransition):
        stage.bring_on_stage(s, ALICE, now=T0, stage_max=2)  # replayed
    s, _ = stage.bring_on_stage(s, BOB, now=T0, stage_max=2)
    with pytest.raises(InvalidInput, match="full"):
        stage.bring_on_stage(s, CAROL, now=T0, stage_max=2)
    # Raising again keeps the invitation; the staff withdraw it by dismissing the hand.
    again, _ = stage.raise_hand(s, ALICE, pseudonym="p21", now=T0)
    assert again == s
    s, events = stage.lower_hand(s, BOB)
    assert named(events, "stage.hand")[0].payload == {"raised": False}
    s, _ = stage.bring_on_stage(s, CAROL, now=T0, stage_max=2)
    with pytest.raises(InvalidTransition):
        stage.decline(s, BOB)


def test_accept_checks_the_room_again() -> None:
    s = raised(Stage(CAFE), ALICE, BOB)
    s, _ = stage.bring_on_stage(s, ALICE, now=T0, stage_max=2)
    s, _ = stage.bring_on_stage(s, BOB, now=T0, stage_max=2)
    s, _ = stage.accept(s, ALICE, now=T0, stage_max=2)
    with pytest.raises(InvalidInput, match="full"):
        stage.accept(s, BOB, now=T0, stage_max=1)  # the stage shrank meanwhile


def test_bring_on_stage_needs_a_raised_hand_and_room() -> None:
    s = raised(Stage(CAFE), ALICE, BOB, CAROL)
    with pytest.raises(InvalidTransition):
        stage.bring_on_stage(s, 99, now=T0, stage_max=2)
    s = seated(s, ALICE)
    with pytest.raises(InvalidTransition):
        stage.bring_on_stage(s, ALICE, now=T0, stage_max=2)  # already on stage
    s = seated(s, BOB)
    with pytest.raises(InvalidInput, match="full"):
        stage.bring_on_stage(s, CAROL, now=T0, stage_max=2)
    with pytest.raises(InvalidTransition):
        stage.raise_hand(s, ALICE, pseudonym="x", now=T0)
    with pytest.raises(InvalidTransition):
        stage.lower_hand(s, ALICE)


def test_send_back_stops_publishing() -> None:
    s = seated(raised(Stage(CAFE), ALICE), ALICE, stage_max=1)
    s, events = stage.send_back(s, ALICE)
    assert s.entries == {}
    assert [e.event for e in events] == ["stage.dismissed", "stage.changed"]
    assert events[0].participant_id == ALICE
    with pytest.raises(InvalidTransition):
        stage.send_back(s, ALICE)


def test_mute_a_speaker() -> None:
    s = seated(raised(Stage(CAFE), ALICE), ALICE, stage_max=1)
    s, events = stage.set_muted(s, ALICE, muted=True)
    assert s.entries[ALICE].muted
    [muted] = named(events, "stage.muted")
    assert (muted.participant_id, muted.payload) == (ALICE, {"muted": True})
    assert named(events, "stage.changed")[0].payload["speakers"][0]["muted"] is True
    with pytest.raises(InvalidTransition):
        stage.set_muted(s, ALICE, muted=True)
    s, _ = stage.set_muted(s, ALICE, muted=False)
    assert not s.entries[ALICE].muted
    with pytest.raises(InvalidTransition):
        stage.set_muted(raised(Stage(CAFE), BOB), BOB, muted=True)


def test_leave_clears_hand_or_stage() -> None:
    s = seated(raised(Stage(CAFE), ALICE, BOB), ALICE)
    s, events = stage.leave(s, ALICE)
    assert [e.event for e in events] == ["stage.changed"]
    s, events = stage.leave(s, BOB)
    assert [e.event for e in events] == ["stage.hands"] and s.entries == {}
    assert stage.leave(s, BOB) == (s, [])


def test_snapshot_shows_hands_to_the_staff_only() -> None:
    s = seated(raised(Stage(CAFE), ALICE, BOB), ALICE)
    parent = stage.snapshot_for(s, Role.PARTICIPANT, BOB)
    assert "hands" not in parent and parent["hand_raised"] and not parent["on_stage"]
    assert [sp["participant_id"] for sp in parent["speakers"]] == [ALICE]
    assert stage.snapshot_for(s, Role.PARTICIPANT, ALICE)["on_stage"]
    for role in (Role.EXPERT, Role.MODERATOR, Role.ORGANISER):
        snap = stage.snapshot_for(s, role, 1)
        assert [h["participant_id"] for h in snap["hands"]] == [BOB]


def test_leave_while_invited_frees_the_place() -> None:
    s, _ = stage.bring_on_stage(raised(Stage(CAFE), ALICE), ALICE, now=T0, stage_max=1)
    s, events = stage.leave(s, ALICE)
    assert s.entries == {} and [e.event for e in events] == ["stage.hands"]
