"""Chat, removal and ban rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sessions import moderation
from sessions.errors import InvalidInput, InvalidTransition, PermissionDenied
from sessions.events import Audience
from sessions.moderation import ChatMessage, Target
from sessions.roles import Role

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
CAFE = 5


def message(mid: int, *, hidden: bool = False) -> ChatMessage:
    return ChatMessage(mid, 40 + mid, f"p{mid}", f"hello {mid}", T0, hidden)


def target(role: Role = Role.PARTICIPANT, pid: int = 9,
           invitation_id: int | None = None) -> Target:
    return Target(pid, CAFE, role, "Troll", "browser-key-0123456789", invitation_id)


def test_clean_chat_bounds_and_strips() -> None:
    assert moderation.clean_chat(" hi\x1b[31m ", 10) == "hi[31m"
    with pytest.raises(InvalidInput):
        moderation.clean_chat(" \x00 ", 10)
    with pytest.raises(InvalidInput):
        moderation.clean_chat("x" * 11, 10)


def test_post_reaches_the_cafe() -> None:
    [event] = moderation.post(CAFE, message(1))
    assert (event.event, event.audience, event.cafe_id) == ("chat.message", Audience.CAFE, CAFE)
    assert event.payload["text"] == "hello 1" and event.payload["author"] == "p1"


def test_hide_once() -> None:
    hidden, [event] = moderation.hide(CAFE, message(1))
    assert hidden.hidden and event.event == "chat.hidden" and event.payload == {"id": 1}
    with pytest.raises(InvalidTransition):
        moderation.hide(CAFE, hidden)


def test_chat_snapshot_hides_hidden_messages_from_the_audience() -> None:
    msgs = [message(1), message(2, hidden=True), message(3)]
    parent = moderation.chat_snapshot_for(msgs, Role.PARTICIPANT)["messages"]
    assert [m["id"] for m in parent] == [1, 3]
    mod = moderation.chat_snapshot_for(msgs, Role.MODERATOR)["messages"]
    assert [(m["id"], m.get("hidden", False)) for m in mod] == [(1, False), (2, True),
                                                                (3, False)]


def test_moderators_act_on_parents_only() -> None:
    moderation.check_target(Role.MODERATOR, 1, target())
    for role in (Role.EXPERT, Role.MODERATOR, Role.ORGANISER):
        with pytest.raises(PermissionDenied):
            moderation.check_target(Role.MODERATOR, 1, target(role))
    with pytest.raises(PermissionDenied):
        moderation.check_target(Role.MODERATOR, 9, target())  # oneself


def test_organisers_act_on_staff_but_not_on_organisers() -> None:
    moderation.check_target(Role.ORGANISER, 1, target(Role.MODERATOR))
    moderation.check_target(Role.ORGANISER, 1, target(Role.EXPERT))
    with pytest.raises(PermissionDenied):
        moderation.check_target(Role.ORGANISER, 1, target(Role.ORGANISER))


def test_removal_tells_the_participant_and_the_staff() -> None:
    events = moderation.removal(target(), banned=True)
    [to_them] = [e for e in events if e.audience is Audience.PARTICIPANT]
    assert (to_them.event, to_them.participant_id, to_them.payload) == (
        "moderation.removed", 9, {"banned": True})
    [staff] = [e for e in events if e.audience is Audience.STAFF]
    assert staff.payload == {"participant_id": 9, "banned": True}


def test_ban_records_browser_key_and_invitation() -> None:
    record = moderation.ban(target(Role.MODERATOR, invitation_id=77), T0)
    assert (record.browser_key, record.invitation_id, record.participant_id) == (
        "browser-key-0123456789", 77, 9)
