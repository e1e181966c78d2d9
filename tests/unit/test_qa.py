"""The question queue, transition by transition, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessions import qa
from sessions.errors import InvalidInput, InvalidTransition, NotFound
from sessions.events import Audience, Outbound
from sessions.qa import QuestionStatus as S
from sessions.qa import Queue
from sessions.roles import Role

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
CAFE = 7
ALICE, BOB, CAROL = 11, 12, 13
MAX = 500


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ask(queue: Queue, qid: int, author: int = ALICE, text: str = "Screens at 6?", *,
        anonymous: bool = False, when: int = 0) -> Queue:
    queue, _ = qa.ask(queue, question_id=qid, author_id=author, author_pseudonym=f"p{author}",
                      text=text, anonymous=anonymous, now=at(when), max_length=MAX)
    return queue


def approved(queue: Queue, qid: int, author: int = ALICE, *, anonymous: bool = False,
             when: int = 0) -> Queue:
    queue = ask(queue, qid, author, anonymous=anonymous, when=when)
    queue, _ = qa.approve(queue, qid, now=at(when + 1))
    return queue


def by(events: list[Outbound], audience: Audience) -> list[Outbound]:
    return [e for e in events if e.audience is audience]


def empty() -> Queue:
    return Queue(CAFE)


# asking


def test_ask_creates_a_pending_question_seen_by_moderators_and_the_author_only() -> None:
    queue, events = qa.ask(empty(), question_id=1, author_id=ALICE, author_pseudonym="Alice",
                           text="  Is TikTok\x07 ok at 12?  ", anonymous=True, now=T0,
                           max_length=MAX)
    q = queue.questions[1]
    assert (q.status, q.text, q.original_text, q.anonymous) == (
        S.PENDING, "Is TikTok ok at 12?", "Is TikTok ok at 12?", True)
    assert by(events, Audience.CAFE) == []
    [mod] = by(events, Audience.MODERATORS)
    assert mod.event == "qa.question" and mod.payload["author"] == "Alice"
    [mine] = by(events, Audience.PARTICIPANT)
    assert mine.participant_id == ALICE and mine.payload["mine"] is True
    assert all(e.cafe_id == CAFE for e in events)


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01", "x" * (MAX + 1)])
def test_ask_refuses_empty_or_oversized_text(text: str) -> None:
    with pytest.raises(InvalidInput):
        qa.ask(empty(), question_id=1, author_id=ALICE, author_pseudonym="A", text=text,
               anonymous=False, now=T0, max_length=MAX)


def test_ask_replayed_with_the_same_id_is_refused() -> None:
    queue = ask(empty(), 1)
    with pytest.raises(InvalidTransition):
        ask(queue, 1)


# withdrawing


def test_author_withdraws_a_pending_question() -> None:
    queue = ask(empty(), 1)
    queue2, events = qa.withdraw(queue, 1, author_id=ALICE, now=at(5))
    assert queue2.questions[1].status is S.WITHDRAWN
    assert {e.event for e in events} == {"qa.removed"}
    assert by(events, Audience.CAFE) == []
    assert by(events, Audience.MODERATORS)[0].payload == {"id": 1, "reason": "withdrawn"}
    assert queue.questions[1].status is S.PENDING  # the old state is untouched


def test_only_the_author_withdraws_and_only_while_pending() -> None:
    queue = ask(empty(), 1)
    with pytest.raises(NotFound):
        qa.withdraw(queue, 1, author_id=BOB, now=T0)
    queue, _ = qa.approve(queue, 1, now=T0)
    with pytest.raises(InvalidTransition):
        qa.withdraw(queue, 1, author_id=ALICE, now=T0)


def test_a_withdrawn_question_is_gone() -> None:
    queue, _ = qa.withdraw(ask(empty(), 1), 1, author_id=ALICE, now=T0)
    with pytest.raises(NotFound):
        qa.approve(queue, 1, now=T0)
    assert qa.snapshot_for(queue, Role.MODERATOR, BOB) == {"questions": []}


# approving and rejecting


def test_approve_shows_the_question_to_the_cafe_without_an_anonymous_name() -> None:
    queue = ask(empty(), 1, anonymous=True)
    queue, events = qa.approve(queue, 1, now=at(3))
    assert queue.questions[1].status is S.APPROVED
    [public] = by(events, Audience.CAFE)
    assert public.payload["author"] is None and public.exclude == (ALICE,)
    assert "author_id" not in public.payload and "original_text" not in public.payload
    [mod] = by(events, Audience.MODERATORS)
    assert mod.payload["author"] == f"p{ALICE}" and mod.payload["author_id"] == ALICE
    [mine] = by(events, Audience.PARTICIPANT)
    assert mine.payload["author"] == f"p{ALICE}" and mine.participant_id == ALICE


def test_approve_twice_is_a_clear_invalid_transition() -> None:
    queue, _ = qa.approve(ask(empty(), 1), 1, now=T0)
    with pytest.raises(InvalidTransition, match="it is approved"):
        qa.approve(queue, 1, now=T0)


def test_reject_keeps_the_reason_for_the_author_and_moderators_only() -> None:
    queue, events = qa.reject(ask(empty(), 1), 1, reason=" Off topic\x1b ", now=T0,
                              max_length=300)
    q = queue.questions[1]
    assert q.status is S.REJECTED and q.reject_reason == "Off topic"
    assert by(events, Audience.CAFE) == []
    assert by(events, Audience.PARTICIPANT)[0].payload["reject_reason"] == "Off topic"
    assert qa.snapshot_for(queue, Role.PARTICIPANT, BOB) == {"questions": []}
    assert qa.snapshot_for(queue, Role.EXPERT, BOB) == {"questions": []}
    [own] = qa.snapshot_for(queue, Role.PARTICIPANT, ALICE)["questions"]
    assert own["reject_reason"] == "Off topic"


def test_reject_reason_is_bounded_and_optional() -> None:
    with pytest.raises(InvalidInput):
        qa.reject(ask(empty(), 1), 1, reason="x" * 301, now=T0, max_length=300)
    queue, _ = qa.reject(ask(empty(), 1), 1, reason="", now=T0, max_length=300)
    assert queue.questions[1].reject_reason is None


def test_a_rejected_question_cannot_be_approved() -> None:
    queue, _ = qa.reject(ask(empty(), 1), 1, reason="", now=T0, max_length=300)
    with pytest.raises(InvalidTransition):
        qa.approve(queue, 1, now=T0)


# editing


def test_edit_keeps_the_original_text() -> None:
    queue = ask(empty(), 1, text="My son Kevin is bullied")
    queue, events = qa.edit(queue, 1, text="My son is bullied", now=at(9), max_length=MAX)
    q = queue.questions[1]
    assert (q.text, q.original_text) == ("My son is bullied", "My son Kevin is bullied")
    [mod] = by(events, Audience.MODERATORS)
    assert mod.payload["edited"] is True
    assert mod.payload["original_text"] == "My son Kevin is bullied"
    [mine] = by(events, Audience.PARTICIPANT)
    assert "original_text" not in mine.payload and mine.payload["text"] == "My son is bullied"


def test_edit_only_pending_and_with_valid_new_text() -> None:
    queue = ask(empty(), 1, text="same")
    with pytest.raises(InvalidInput):
        qa.edit(queue, 1, text="same", now=T0, max_length=MAX)
    with pytest.raises(InvalidInput):
        qa.edit(queue, 1, text=" ", now=T0, max_length=MAX)
    queue, _ = qa.approve(queue, 1, now=T0)
    with pytest.raises(InvalidTransition):
        qa.edit(queue, 1, text="other", now=T0, max_length=MAX)


# merging


def test_merge_moves_votes_without_double_votes() -> None:
    queue = approved(approved(empty(), 1), 2, BOB)
    for qid, voter in [(1, CAROL), (1, ALICE), (2, CAROL), (2, 99)]:
        queue, _ = qa.vote(queue, qid, voter_id=voter)
    queue, events = qa.merge(queue, 2, into=1, now=at(30))
    assert queue.questions[1].voters == {CAROL, ALICE, 99}
    gone = queue.questions[2]
    assert (gone.status, gone.merged_into, gone.voters) == (S.MERGED, 1, frozenset())
    removed = [e for e in events if e.event == "qa.removed"]
    assert {e.audience for e in removed} == {Audience.CAFE, Audience.MODERATORS,
                                             Audience.PARTICIPANT}
    assert removed[0].payload == {"id": 2, "reason": "merged", "merged_into": 1}
    shown = [e for e in events if e.event == "qa.question"]
    assert {e.payload["votes"] for e in shown} == {3}


def test_merge_a_pending_duplicate_does_not_reach_the_cafe() -> None:
    queue = ask(approved(empty(), 1), 2, BOB)
    _, events = qa.merge(queue, 2, into=1, now=T0)
    assert [e.event for e in by(events, Audience.CAFE)] == ["qa.question"]


def test_merge_refusals() -> None:
    queue = approved(empty(), 1)
    with pytest.raises(InvalidInput):
        qa.merge(queue, 1, into=1, now=T0)
    with pytest.raises(NotFound):
        qa.merge(queue, 1, into=42, now=T0)
    queue, _ = qa.mark_answered(ask(queue, 2), 1, now=T0)
    with pytest.raises(InvalidTransition):
        qa.merge(queue, 2, into=1, now=T0)  # into an answered question
    queue, _ = qa.merge(ask(queue, 3), 3, into=2, now=T0)
    with pytest.raises(NotFound):
        qa.merge(queue, 3, into=2, now=T0)  # replayed


# answering


def test_one_question_answered_at_a_time_the_previous_becomes_answered() -> None:
    queue = approved(approved(empty(), 1), 2, BOB)
    queue, _ = qa.start_answering(queue, 1, now=at(10))
    assert queue.answering() == queue.questions[1]
    queue, events = qa.start_answering(queue, 2, now=at(20))
    assert queue.questions[1].status is S.ANSWERED
    assert queue.questions[1].answered_at == at(20)
    assert queue.questions[2].status is S.ANSWERING
    assert [s for s in (q.status for q in queue.questions.values())].count(S.ANSWERING) == 1
    cafe = by(events, Audience.CAFE)
    assert [(e.payload["id"], e.payload["status"]) for e in cafe] == [
        (1, "answered"), (2, "answering")]


def test_answering_requires_an_approved_question() -> None:
    queue = ask(empty(), 1)
    with pytest.raises(InvalidTransition):
        qa.start_answering(queue, 1, now=T0)
    with pytest.raises(InvalidTransition):
        qa.mark_answered(queue, 1, now=T0)


def test_mark_answered_and_requeue() -> None:
    queue, _ = qa.start_answering(approved(empty(), 1), 1, now=T0)
    back, _ = qa.requeue(queue, 1, now=at(1))
    assert back.questions[1].status is S.APPROVED and back.questions[1].answering_at is None
    done, _ = qa.mark_answered(queue, 1, now=at(2))
    assert done.questions[1].status is S.ANSWERED
    with pytest.raises(InvalidTransition):
        qa.mark_answered(done, 1, now=at(3))
    with pytest.raises(InvalidTransition):
        qa.requeue(done, 1, now=at(3))


# votes and ordering


def test_vote_once_per_participant_and_undo() -> None:
    queue = approved(empty(), 1)
    queue, events = qa.vote(queue, 1, voter_id=BOB)
    queue, _ = qa.vote(queue, 1, voter_id=BOB)  # a replay changes nothing
    assert queue.questions[1].votes == 1
    [cafe] = by(events, Audience.CAFE)
    assert cafe.payload == {"id": 1, "votes": 1} and cafe.exclude == (BOB,)
    [mine] = by(events, Audience.PARTICIPANT)
    assert mine.payload == {"id": 1, "votes": 1, "voted": True}
    queue, events = qa.unvote(queue, 1, voter_id=BOB)
    assert queue.questions[1].votes == 0
    assert by(events, Audience.PARTICIPANT)[0].payload["voted"] is False


def test_votes_only_on_approved_or_answering() -> None:
    queue = ask(empty(), 1)
    with pytest.raises(NotFound):
        qa.vote(queue, 1, voter_id=BOB)  # pending: invisible to voters
    with pytest.raises(NotFound):
        qa.vote(queue, 99, voter_id=BOB)
    queue, _ = qa.reject(queue, 1, reason="", now=T0, max_length=300)
    with pytest.raises(NotFound):
        qa.vote(queue, 1, voter_id=BOB)
    queue, _ = qa.start_answering(approved(queue, 2), 2, now=T0)
    queue, _ = qa.vote(queue, 2, voter_id=BOB)
    queue, _ = qa.mark_answered(queue, 2, now=T0)
    with pytest.raises(InvalidTransition):
        qa.vote(queue, 2, voter_id=CAROL)


def test_approved_list_by_votes_then_age() -> None:
    queue = empty()
    for qid in (1, 2, 3, 4):
        queue = approved(queue, qid, when=qid * 10)
    for qid, voter in [(3, BOB), (3, CAROL), (4, BOB), (2, CAROL)]:
        queue, _ = qa.vote(queue, qid, voter_id=voter)
    assert [q.id for q in queue.approved()] == [3, 2, 4, 1]


# who sees what


def test_snapshot_for_each_role() -> None:
    queue = approved(empty(), 1, anonymous=True)  # public, anonymous
    queue = ask(queue, 2, BOB)  # pending
    queue, _ = qa.vote(queue, 1, voter_id=CAROL)
    queue, _ = qa.start_answering(approved(queue, 3, CAROL), 3, now=at(50))
    mod = qa.snapshot_for(queue, Role.MODERATOR, 500)["questions"]
    assert [q["id"] for q in mod] == [3, 1, 2]
    assert mod[1]["author"] == f"p{ALICE}"
    parent = qa.snapshot_for(queue, Role.PARTICIPANT, CAROL)["questions"]
    assert [q["id"] for q in parent] == [3, 1]
    assert parent[1]["author"] is None and parent[1]["voted"] is True
    assert parent[0]["mine"] is True
    bob = qa.snapshot_for(queue, Role.PARTICIPANT, BOB)["questions"]
    assert [q["id"] for q in bob] == [3, 1, 2] and bob[2]["status"] == "pending"
    expert = qa.snapshot_for(queue, Role.EXPERT, 600)["questions"]
    assert [q["id"] for q in expert] == [3, 1] and expert[1]["author"] is None
    assert qa.snapshot_for(queue, Role.ORGANISER, 700)["questions"][1]["author"] == f"p{ALICE}"


def test_views_of_an_anonymous_question() -> None:
    q = approved(empty(), 1, anonymous=True).questions[1]
    assert qa.public_view(q)["author"] is None
    assert qa.author_view(q)["author"] == f"p{ALICE}"
    assert qa.moderator_view(q)["author"] == f"p{ALICE}"
    assert qa.public_view(q).keys() < qa.moderator_view(q).keys()
