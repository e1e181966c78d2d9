"""The safeguarding queue (sessions.reports), pure: each transition on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessions import reports as r
from sessions.errors import InvalidInput, InvalidTransition, NotFound
from sessions.events import Audience
from sessions.reports import (
    NOTE_MAX_LENGTH,
    OPEN_PER_REPORTER_MAX,
    Action,
    Reported,
    ReportKind,
    ReportQueue,
    ReportStatus,
    Resolution,
)
from sessions.roles import Role

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
MESSAGE = Reported(ReportKind.CHAT, 11, 5, "Troll", "t'es nul")
QUESTION = Reported(ReportKind.QUESTION, 21, 5, "Troll", "Une question ?")
PERSON = Reported(ReportKind.PARTICIPANT, 5, 5, "Troll")


def filed(queue: ReportQueue, report_id: int, reported: Reported = MESSAGE,
          reporter: int = 1, reason: str = "harassment", note: str = "",
          minutes: int = 0) -> ReportQueue:
    after, _ = r.file(queue, report_id=report_id, reporter_id=reporter, reported=reported,
                      reason=reason, note=note, now=T0 + timedelta(minutes=minutes))
    return after


def test_file_reaches_moderators_only_with_the_count() -> None:
    queue, events = r.file(ReportQueue(3), report_id=1, reporter_id=1, reported=MESSAGE,
                           reason="harassment", note="  Il insiste\x07  ", now=T0)
    [event] = events
    assert (event.event, event.audience, event.cafe_id) == ("report.new", Audience.MODERATORS, 3)
    assert event.payload["open"] == 1
    view = event.payload["report"]
    assert view | {"created_at": None} == {
        "id": 1, "kind": "chat", "target_id": 11, "participant_id": 5, "pseudonym": "Troll",
        "excerpt": "t'es nul", "reason": "harassment", "note": "Il insiste",
        "reporter_id": 1, "status": "open", "created_at": None, "resolution": None,
        "resolved_by": None, "resolved_at": None}
    assert [x.id for x in queue.open()] == [1]


@pytest.mark.parametrize("reason", ["", "Harassment", "bullying", "harassment "])
def test_reasons_from_the_list_only(reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        filed(ReportQueue(3), 1, reason=reason)
    assert caught.value.message == "Choose a reason from the list."


def test_note_bounded_and_self_report_refused() -> None:
    filed(ReportQueue(3), 1, note="x" * NOTE_MAX_LENGTH)
    with pytest.raises(InvalidInput):
        filed(ReportQueue(3), 1, note="x" * (NOTE_MAX_LENGTH + 1))
    with pytest.raises(InvalidInput):
        filed(ReportQueue(3), 1, reporter=5)  # the author reporting their own message


def test_same_target_twice_while_open() -> None:
    queue = filed(ReportQueue(3), 1)
    with pytest.raises(InvalidTransition):
        filed(queue, 2)
    queue = filed(queue, 2, reporter=2)  # another parent may
    queue = filed(queue, 3, QUESTION)  # another target too
    assert [x.id for x in queue.open()] == [1, 2, 3]
    with pytest.raises(InvalidTransition):
        filed(queue, 3, PERSON)  # an id already used


def test_open_reports_per_reporter_bounded() -> None:
    queue = ReportQueue(3)
    for n in range(OPEN_PER_REPORTER_MAX):
        queue = filed(queue, n + 1, Reported(ReportKind.CHAT, 100 + n, 5, "Troll", "x"))
    with pytest.raises(InvalidTransition):
        filed(queue, 999, Reported(ReportKind.CHAT, 999, 5, "Troll", "x"))


def test_check_resolution() -> None:
    queue = filed(filed(filed(ReportQueue(3), 1), 2, QUESTION), 3, PERSON)
    assert r.check_resolution(queue, 1, "none") is None
    assert r.check_resolution(queue, 1, "hide") == Action(Resolution.HIDE, ReportKind.CHAT,
                                                          11, 5)
    assert r.check_resolution(queue, 2, "hide") == Action(Resolution.HIDE,
                                                          ReportKind.QUESTION, 21, 5)
    assert r.check_resolution(queue, 3, "ban") == Action(Resolution.BAN,
                                                         ReportKind.PARTICIPANT, 5, 5)
    with pytest.raises(InvalidInput):
        r.check_resolution(queue, 3, "hide")  # a participant is removed or banned
    with pytest.raises(InvalidInput):
        r.check_resolution(queue, 1, "delete")
    with pytest.raises(NotFound):
        r.check_resolution(queue, 99, "none")


def test_resolve_resolves_the_same_target_and_says_the_count() -> None:
    queue = filed(filed(filed(ReportQueue(3), 1), 2, reporter=2), 3, QUESTION, minutes=1)
    after, [event], done = r.resolve(queue, 2, resolution="hide",
                                     actor="moderator:Julie#4", now=T0 + timedelta(minutes=5))
    assert [x.id for x in done] == [1, 2]
    assert all(x.status is ReportStatus.RESOLVED and x.resolution is Resolution.HIDE
               and x.resolved_by == "moderator:Julie#4" for x in done)
    assert (event.event, event.audience) == ("report.resolved", Audience.MODERATORS)
    assert event.payload == {"ids": [1, 2], "resolution": "hide",
                             "resolved_by": "moderator:Julie#4", "open": 1}
    assert [x.id for x in after.open()] == [3]
    with pytest.raises(InvalidTransition):
        r.resolve(after, 1, resolution="none", actor="x", now=T0)
    # a new report of the same message once the first ones are resolved is a new case
    assert [x.id for x in filed(after, 4, minutes=6).open()] == [3, 4]


def test_snapshot_for_staff_only() -> None:
    queue = filed(filed(ReportQueue(3), 2, QUESTION, minutes=1), 1)
    assert r.snapshot_for(queue, Role.PARTICIPANT) is None
    assert r.snapshot_for(queue, Role.EXPERT) is None
    for role in (Role.MODERATOR, Role.ORGANISER):
        snapshot = r.snapshot_for(queue, role)
        assert snapshot is not None
        assert [x["id"] for x in snapshot["reports"]] == [1, 2] and snapshot["open"] == 2
