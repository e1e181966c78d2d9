"""The question queue of one café, as a pure state machine. No I/O, no awaits, no clock reads.

Every transition takes the current `Queue`, its inputs and `now`, and returns the new queue
and the `Outbound` events to emit (in the style of aiortc's SCTP reassembly: the shell feeds
inputs, the machine answers). The service rebuilds the queue from rows, applies one
transition and persists the difference, all inside one transaction.

Statuses::

    pending ──approve──> approved ──start_answering──> answering ──mark_answered──> answered
       │  └─reject──> rejected      │  ^                   │
       │  └─withdraw─> withdrawn    │  └────requeue────────┘
       └──merge──> merged <─merge───┘  (approved -> answered directly is allowed too)

One question is answered at a time: starting another moves the current one to *answered*
(the expert moved on, so it is done; putting it back at the top of the queue would make the
audience vote on a question already answered). `requeue` is the explicit undo of a
mistaken "answering now".

Who sees what: pending and rejected questions reach moderators (Audience.MODERATORS) and the
author only; an anonymous author's pseudonym reaches moderators only. Moderators are also in
the café room: for a public question they get the public copy, then their moderator copy of
the same id (a superset), so a client keyed by id ends on the richer one.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sessions.cafe import clean_text
from sessions.errors import InvalidInput, InvalidTransition, NotFound
from sessions.events import Audience, Outbound
from sessions.roles import Permission, Role, allows


class QuestionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"
    ANSWERING = "answering"
    ANSWERED = "answered"


S = QuestionStatus
PUBLIC_STATUSES = frozenset({S.APPROVED, S.ANSWERING, S.ANSWERED})
VOTABLE_STATUSES = frozenset({S.APPROVED, S.ANSWERING})
# Gone for everyone: kept as rows (and in the audit log), never shown again.
CLOSED_STATUSES = frozenset({S.WITHDRAWN, S.MERGED})


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    author_id: int
    author_pseudonym: str
    text: str
    original_text: str
    anonymous: bool
    status: QuestionStatus
    created_at: datetime
    updated_at: datetime
    reject_reason: str | None = None
    merged_into: int | None = None
    answering_at: datetime | None = None
    answered_at: datetime | None = None
    voters: frozenset[int] = frozenset()
    # The watched words it matched (`watchwords.Verdict.view()`): moderators see why it waits.
    watch: Mapping[str, Any] | None = None

    @property
    def votes(self) -> int:
        return len(self.voters)


@dataclass(frozen=True, slots=True)
class Queue:
    """All questions of one café, by id. Never mutated: transitions build a new one."""

    cafe_id: int
    questions: Mapping[int, Question] = field(default_factory=dict)

    def get(self, question_id: int) -> Question:
        question = self.questions.get(question_id)
        if question is None or question.status in CLOSED_STATUSES:
            raise NotFound("No such question.")
        return question

    def answering(self) -> Question | None:
        return next((q for q in self.questions.values() if q.status is S.ANSWERING), None)

    def approved(self) -> list[Question]:
        """The approved queue as the expert sees it: most votes first, then oldest first."""
        return sorted((q for q in self.questions.values() if q.status is S.APPROVED),
                      key=_rank)

    def _with(self, *changed: Question) -> Queue:
        questions = dict(self.questions)
        questions.update((q.id, q) for q in changed)
        return Queue(self.cafe_id, questions)


def _rank(q: Question) -> tuple[int, datetime, int]:
    return (-q.votes, q.created_at, q.id)


Step = tuple[Queue, list[Outbound]]

# --- views: the payload each audience may see ------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def public_view(q: Question) -> dict[str, Any]:
    """What the whole café sees: never the pseudonym of an anonymous author."""
    return {
        "id": q.id,
        "text": q.text,
        "status": q.status.value,
        "anonymous": q.anonymous,
        "author": None if q.anonymous else q.author_pseudonym,
        "votes": q.votes,
        "created_at": _iso(q.created_at),
        "answering_at": _iso(q.answering_at),
        "answered_at": _iso(q.answered_at),
    }


def author_view(q: Question) -> dict[str, Any]:
    """What the author sees of their own question, including a rejection's reason and
    whether a moderator edited it (not the text before the edit)."""
    return public_view(q) | {
        "author": q.author_pseudonym,
        "mine": True,
        "edited": q.text != q.original_text,
        "reject_reason": q.reject_reason,
    }


def moderator_view(q: Question) -> dict[str, Any]:
    """Everything: the author behind an anonymous question, the text before an edit."""
    return public_view(q) | {
        "author": q.author_pseudonym,
        "author_id": q.author_id,
        "original_text": q.original_text,
        "edited": q.text != q.original_text,
        "reject_reason": q.reject_reason,
        "merged_into": q.merged_into,
        "watch": dict(q.watch) if q.watch else None,
    }


def _audiences(cafe_id: int, event: str, q: Question, *, visible: Question,
               public: dict[str, Any], moderator: dict[str, Any],
               author: dict[str, Any]) -> list[Outbound]:
    """One event per audience allowed to see `visible` (the question as it was seen)."""
    out: list[Outbound] = []
    if visible.status in PUBLIC_STATUSES:
        out.append(Outbound(event, public, Audience.CAFE, cafe_id, exclude=(q.author_id,)))
    out.append(Outbound(event, moderator, Audience.MODERATORS, cafe_id))
    out.append(Outbound(event, author, Audience.PARTICIPANT, cafe_id, participant_id=q.author_id))
    return out


def _shown(cafe_id: int, q: Question) -> list[Outbound]:
    """`qa.question`: `q` created or changed, to each audience with its own view."""
    return _audiences(cafe_id, "qa.question", q, visible=q, public=public_view(q),
                      moderator=moderator_view(q), author=author_view(q))


def _gone(cafe_id: int, before: Question, after: Question,
          into: Question | None = None) -> list[Outbound]:
    """`qa.removed`: to everyone who could see `before`, now that it left every list.
    `merged_into` names the question it was merged `into` only to those who can see that
    one (the author of a pending duplicate cannot see someone else's pending question)."""
    payload: dict[str, Any] = {"id": after.id, "reason": after.status.value}
    moderator, public, author = payload, payload, payload
    if into is not None:
        moderator = payload | {"merged_into": into.id}
        if into.status in PUBLIC_STATUSES:
            public = moderator
        if viewer_view(into, Role.PARTICIPANT, after.author_id) is not None:
            author = moderator
    return _audiences(cafe_id, "qa.removed", after, visible=before, public=public,
                      moderator=moderator, author=author)


def _votes(cafe_id: int, q: Question, voter_id: int) -> list[Outbound]:
    """`qa.votes`: the new count to the café, and to the voter whether they now vote."""
    count = {"id": q.id, "votes": q.votes}
    return [
        Outbound("qa.votes", count, Audience.CAFE, cafe_id, exclude=(voter_id,)),
        Outbound("qa.votes", count | {"voted": voter_id in q.voters}, Audience.PARTICIPANT,
                 cafe_id, participant_id=voter_id),
    ]


def viewer_view(q: Question, role: Role, participant_id: int) -> dict[str, Any] | None:
    """The view of `q` for one viewer, or None when that viewer may not see it."""
    if q.status in CLOSED_STATUSES:
        return None
    if allows(role, Permission.SEE_PENDING_QUESTIONS):
        view = moderator_view(q)
    elif q.author_id == participant_id:
        view = author_view(q)
    elif q.status in PUBLIC_STATUSES:
        view = public_view(q)
    else:
        return None
    return view | {"voted": participant_id in q.voters}


def snapshot_for(queue: Queue, role: Role, participant_id: int) -> dict[str, Any]:
    """The queue as one viewer may see it, on join or reconnect.

    Order: the question being answered, the approved queue by rank, then pending (oldest
    first), answered (latest first) and rejected questions where the viewer may see them.
    """
    qs = list(queue.questions.values())
    ordered = (
        [q for q in qs if q.status is S.ANSWERING]
        + queue.approved()
        + sorted((q for q in qs if q.status is S.PENDING), key=lambda q: (q.created_at, q.id))
        + sorted((q for q in qs if q.status is S.ANSWERED),
                 key=lambda q: (q.answered_at or q.updated_at, q.id), reverse=True)
        + sorted((q for q in qs if q.status is S.REJECTED), key=lambda q: (q.updated_at, q.id))
    )
    views = (viewer_view(q, role, participant_id) for q in ordered)
    return {"questions": [v for v in views if v is not None]}


# --- input checks ------------------------------------------------------------------------


def clean_question(text: str, max_length: int) -> str:
    return clean_text(text, field="question", max_length=max_length, multiline=True)


def clean_reason(reason: str, max_length: int) -> str:
    return clean_text(reason, field="reason", max_length=max_length, required=False,
                      multiline=True)


def _expect(q: Question, allowed: Iterable[QuestionStatus], action: str) -> None:
    if q.status not in allowed:
        raise InvalidTransition(
            "This question cannot be %(action)s: it is %(status)s.",
            action=action, status=q.status.value,
        )


# --- transitions ------------------------------------------------------------------------


def ask(queue: Queue, *, question_id: int, author_id: int, author_pseudonym: str, text: str,
        anonymous: bool, now: datetime, max_length: int,
        watch: Mapping[str, Any] | None = None) -> Step:
    """A participant asks: the question waits for a moderator. `question_id` is the id the
    shell reserved for it (the row inserted in the same transaction); `watch`, the watched
    words it matched (held or flagged), is shown to moderators only."""
    if question_id in queue.questions:
        raise InvalidTransition("This question already exists.")
    text = clean_question(text, max_length)
    q = Question(question_id, author_id, author_pseudonym, text, text, anonymous, S.PENDING,
                 now, now, watch=watch)
    return queue._with(q), _shown(queue.cafe_id, q)


def withdraw(queue: Queue, question_id: int, *, author_id: int, now: datetime) -> Step:
    """The author takes back a question no moderator has decided on yet."""
    q = queue.get(question_id)
    if q.author_id != author_id:
        raise NotFound("No such question.")  # someone else's question: do not confirm it
    _expect(q, {S.PENDING}, "withdrawn")
    after = dataclasses.replace(q, status=S.WITHDRAWN, updated_at=now)
    return queue._with(after), _gone(queue.cafe_id, q, after)


def approve(queue: Queue, question_id: int, *, now: datetime) -> Step:
    q = queue.get(question_id)
    _expect(q, {S.PENDING}, "approved")
    after = dataclasses.replace(q, status=S.APPROVED, updated_at=now)
    return queue._with(after), _shown(queue.cafe_id, after)


def reject(queue: Queue, question_id: int, *, reason: str, now: datetime,
           max_length: int) -> Step:
    """Refuse a pending question; the author (and moderators) see the reason."""
    q = queue.get(question_id)
    _expect(q, {S.PENDING}, "rejected")
    after = dataclasses.replace(q, status=S.REJECTED, updated_at=now,
                                reject_reason=clean_reason(reason, max_length) or None)
    return queue._with(after), _shown(queue.cafe_id, after)


def hide(queue: Queue, question_id: int, *, reason: str, now: datetime,
         max_length: int) -> Step:
    """A moderator takes a question out, whatever its status (a report against an approved
    question): it becomes rejected; whoever could see it is told it left the lists."""
    q = queue.get(question_id)
    _expect(q, {S.PENDING, S.APPROVED, S.ANSWERING, S.ANSWERED}, "hidden")
    after = dataclasses.replace(q, status=S.REJECTED, updated_at=now,
                                reject_reason=clean_reason(reason, max_length) or None)
    if q.status is S.PENDING:
        return queue._with(after), _shown(queue.cafe_id, after)
    return queue._with(after), _gone(queue.cafe_id, q, after)


def edit(queue: Queue, question_id: int, *, text: str, now: datetime, max_length: int) -> Step:
    """A moderator rewrites a pending question (to take a child's name out, say). The
    original text stays in `original_text` for the audit log and moderators."""
    q = queue.get(question_id)
    _expect(q, {S.PENDING}, "edited")
    text = clean_question(text, max_length)
    if text == q.text:
        raise InvalidInput("The new text is the same as the current one.")
    after = dataclasses.replace(q, text=text, updated_at=now)
    return queue._with(after), _shown(queue.cafe_id, after)


MERGEABLE = frozenset({S.PENDING, S.APPROVED})
MERGE_TARGETS = frozenset({S.PENDING, S.APPROVED, S.ANSWERING})


def merge(queue: Queue, question_id: int, *, into: int, now: datetime) -> Step:
    """Fold a duplicate into another question. Its votes move along; a participant who voted
    for both keeps one vote (voters are a set)."""
    if question_id == into:
        raise InvalidInput("A question cannot be merged into itself.")
    source, target = queue.get(question_id), queue.get(into)
    _expect(source, MERGEABLE, "merged")
    if target.status not in MERGE_TARGETS:
        raise InvalidTransition("A question cannot be merged into a %(status)s question.",
                                status=target.status.value)
    # Whoever saw the duplicate must see where it went (`qa.removed {merged_into}`, their
    # votes moved there): a public question never folds into one still waiting for a
    # moderator. Approve (or edit) that one first, or merge the other way round.
    if source.status in PUBLIC_STATUSES and target.status not in PUBLIC_STATUSES:
        raise InvalidTransition("An approved question can only be merged into a question "
                                "the audience sees: approve the other one first.")
    gone = dataclasses.replace(source, status=S.MERGED, merged_into=target.id, voters=frozenset(),
                               updated_at=now)
    kept = dataclasses.replace(target, voters=target.voters | source.voters, updated_at=now)
    return queue._with(gone, kept), (_gone(queue.cafe_id, source, gone, into=kept)
                                     + _shown(queue.cafe_id, kept))


def start_answering(queue: Queue, question_id: int, *, now: datetime) -> Step:
    """The expert's "answering now". The one being answered, if any, becomes answered."""
    q = queue.get(question_id)
    _expect(q, {S.APPROVED}, "answered now")
    changed: list[Question] = []
    current = queue.answering()
    if current is not None:
        changed.append(dataclasses.replace(current, status=S.ANSWERED, answered_at=now,
                                           updated_at=now))
    changed.append(dataclasses.replace(q, status=S.ANSWERING, answering_at=now, updated_at=now))
    events = [e for c in changed for e in _shown(queue.cafe_id, c)]
    return queue._with(*changed), events


def mark_answered(queue: Queue, question_id: int, *, now: datetime) -> Step:
    q = queue.get(question_id)
    _expect(q, {S.ANSWERING, S.APPROVED}, "marked answered")
    after = dataclasses.replace(q, status=S.ANSWERED, answered_at=now, updated_at=now)
    return queue._with(after), _shown(queue.cafe_id, after)


def requeue(queue: Queue, question_id: int, *, now: datetime) -> Step:
    """Undo a mistaken "answering now": back to the approved queue, votes kept."""
    q = queue.get(question_id)
    _expect(q, {S.ANSWERING}, "put back in the queue")
    after = dataclasses.replace(q, status=S.APPROVED, answering_at=None, updated_at=now)
    return queue._with(after), _shown(queue.cafe_id, after)


def vote(queue: Queue, question_id: int, *, voter_id: int) -> Step:
    """One vote per participant per question; voting again changes nothing (idempotent,
    so a retried event is harmless) and tells the voter the count."""
    q = _votable(queue, question_id)
    after = dataclasses.replace(q, voters=q.voters | {voter_id})
    return queue._with(after), _votes(queue.cafe_id, after, voter_id)


def unvote(queue: Queue, question_id: int, *, voter_id: int) -> Step:
    """Take a vote back; idempotent like `vote`."""
    q = _votable(queue, question_id)
    after = dataclasses.replace(q, voters=q.voters - {voter_id})
    return queue._with(after), _votes(queue.cafe_id, after, voter_id)


def _votable(queue: Queue, question_id: int) -> Question:
    q = queue.questions.get(question_id)
    # Pending and rejected questions are invisible to voters: answer as if they did not exist.
    if q is None or q.status not in PUBLIC_STATUSES:
        raise NotFound("No such question.")
    if q.status not in VOTABLE_STATUSES:
        raise InvalidTransition("This question has been answered: votes are closed.")
    return q
