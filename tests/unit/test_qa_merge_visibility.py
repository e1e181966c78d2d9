"""Merging, for every pair of statuses (finding 11 of issue 8): whoever is told a question
was merged (`qa.removed {merged_into}`) can see the question it went into, and nothing is
refused that the rules allow. Generated over the statuses, not hand-picked."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from sessions import qa
from sessions.errors import InvalidTransition
from sessions.events import Audience, Outbound
from sessions.qa import PUBLIC_STATUSES, Queue
from sessions.qa import QuestionStatus as S
from sessions.roles import Role

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
CAFE, ALICE, BOB, CAROL = 7, 11, 12, 13
SOURCE, TARGET = 1, 2


def in_status(queue: Queue, qid: int, author: int, status: S) -> Queue:
    """A question brought to `status` by the transitions a café goes through."""
    queue, _ = qa.ask(queue, question_id=qid, author_id=author, author_pseudonym=f"p{author}",
                      text=f"Question {qid}", anonymous=False, now=T0, max_length=500)
    if status is S.REJECTED:
        queue, _ = qa.reject(queue, qid, reason="", now=T0, max_length=300)
    if status in {S.APPROVED, S.ANSWERING, S.ANSWERED}:
        queue, _ = qa.approve(queue, qid, now=T0)
    if status is S.ANSWERING:
        queue, _ = qa.start_answering(queue, qid, now=T0)
    if status is S.ANSWERED:
        queue, _ = qa.mark_answered(queue, qid, now=T0)
    return queue


def viewer_of(event: Outbound) -> tuple[Role, int]:
    match event.audience:
        case Audience.CAFE:
            return Role.PARTICIPANT, CAROL  # someone of the audience
        case Audience.MODERATORS | Audience.STAFF:
            return Role.MODERATOR, 99
        case Audience.PARTICIPANT:
            assert event.participant_id is not None
            return Role.PARTICIPANT, event.participant_id


STATUSES = [S.PENDING, S.APPROVED, S.REJECTED, S.ANSWERING, S.ANSWERED]


# (two questions cannot be answered now at once: starting one ends the other)
PAIRS = [p for p in itertools.product(STATUSES, STATUSES) if p != (S.ANSWERING, S.ANSWERING)]


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_every_merge_tells_each_audience_only_of_what_it_can_see(source: S, target: S) -> None:
    queue = in_status(in_status(Queue(CAFE), SOURCE, ALICE, source), TARGET, BOB, target)
    queue, _ = qa.vote(queue, SOURCE, voter_id=CAROL) if source in {S.APPROVED, S.ANSWERING} \
        else (queue, [])
    allowed = (source in qa.MERGEABLE and target in qa.MERGE_TARGETS
               and (source not in PUBLIC_STATUSES or target in PUBLIC_STATUSES))
    if not allowed:
        with pytest.raises(InvalidTransition):
            qa.merge(queue, SOURCE, into=TARGET, now=T0)
        return
    after, events = qa.merge(queue, SOURCE, into=TARGET, now=T0)
    assert after.questions[TARGET].voters >= queue.questions[SOURCE].voters
    removed = [e for e in events if e.event == "qa.removed"]
    assert removed, "those who saw the duplicate are told it left"
    for event in removed:
        role, viewer = viewer_of(event)
        assert event.payload["id"] == SOURCE and event.payload["reason"] == "merged"
        visible = qa.viewer_view(after.questions[TARGET], role, viewer) is not None
        # `merged_into` exactly when that audience can see where it went
        assert ("merged_into" in event.payload) == visible, (source, target, event.audience)
        if visible:
            assert event.payload["merged_into"] == TARGET
    moderators = [e for e in removed if e.audience is Audience.MODERATORS]
    assert moderators[0].payload["merged_into"] == TARGET
    if source in PUBLIC_STATUSES:
        assert Audience.CAFE in {e.audience for e in removed}


def test_the_author_of_a_pending_duplicate_is_not_pointed_at_a_hidden_question() -> None:
    queue = in_status(in_status(Queue(CAFE), SOURCE, ALICE, S.PENDING), TARGET, BOB, S.PENDING)
    _, events = qa.merge(queue, SOURCE, into=TARGET, now=T0)
    [mine] = [e for e in events if e.event == "qa.removed" and e.participant_id == ALICE]
    assert mine.payload == {"id": SOURCE, "reason": "merged"}
    # their own question as the target: they see it, so they are told
    queue = in_status(in_status(Queue(CAFE), SOURCE, ALICE, S.PENDING), TARGET, ALICE,
                      S.PENDING)
    _, events = qa.merge(queue, SOURCE, into=TARGET, now=T0)
    [mine] = [e for e in events if e.event == "qa.removed" and e.participant_id == ALICE]
    assert mine.payload["merged_into"] == TARGET


def test_an_approved_question_into_a_pending_one_is_refused_with_a_way_out() -> None:
    queue = in_status(in_status(Queue(CAFE), SOURCE, ALICE, S.APPROVED), TARGET, BOB, S.PENDING)
    with pytest.raises(InvalidTransition, match="approve the other one first"):
        qa.merge(queue, SOURCE, into=TARGET, now=T0)
    # the other way round, or after approving the target, it merges
    qa.merge(queue, TARGET, into=SOURCE, now=T0)
    approved, _ = qa.approve(queue, TARGET, now=T0)
    _, events = qa.merge(approved, SOURCE, into=TARGET, now=T0)
    cafe = [e for e in events if e.audience is Audience.CAFE and e.event == "qa.removed"]
    assert cafe[0].payload == {"id": SOURCE, "reason": "merged", "merged_into": TARGET}
