"""The safeguarding queue of one café, pure: parents' private reports of a question, a chat
message or a participant, and their resolution by a moderator. No I/O, no clock reads.

    open ──resolve(none | hide | remove | ban)──> resolved

Only moderators and organisers (`Permission.HANDLE_REPORTS`, the moderators' room) ever see
a report: not the audience, not the reported person; the reporter gets the ack only. A
report keeps a copy of the reported text and pseudonym as they were (evidence, even once the
message is hidden or the question edited). Resolving one report resolves every open report
of the same target with it (one decision, one action). `resolve` returns the action the
service must carry out through the moderation services (hide the message or question,
remove or ban its author), which write their own audit rows.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sessions.cafe import clean_text
from sessions.errors import InvalidInput, InvalidTransition, NotFound
from sessions.events import Audience, Outbound
from sessions.roles import Permission, Role, allows

NOTE_MAX_LENGTH = 500
# Open reports one participant may have in one café at once (the rate limit bounds the pace).
OPEN_PER_REPORTER_MAX = 30


class ReportKind(enum.StrEnum):
    QUESTION = "question"
    CHAT = "chat"
    PARTICIPANT = "participant"


class ReportReason(enum.StrEnum):
    HARASSMENT = "harassment"
    HATE = "hate"
    PERSONAL_DATA = "personal_data"
    INAPPROPRIATE = "inappropriate"
    SPAM = "spam"
    OTHER = "other"


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Resolution(enum.StrEnum):
    NONE = "none"  # no action
    HIDE = "hide"  # hide the message, take the question out
    REMOVE = "remove"  # remove its author from the café
    BAN = "ban"  # ban its author


@dataclass(frozen=True, slots=True)
class Reported:
    """What is reported, as the service loaded it from the café's rows."""

    kind: ReportKind
    target_id: int
    participant_id: int  # the reported person (a message's or question's author)
    pseudonym: str
    excerpt: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    cafe_id: int
    reporter_id: int | None
    reported: Reported
    reason: ReportReason
    note: str
    status: ReportStatus
    created_at: datetime
    resolution: Resolution | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReportQueue:
    cafe_id: int
    reports: Mapping[int, Report] = field(default_factory=dict)

    def open(self) -> list[Report]:
        return sorted((r for r in self.reports.values() if r.status is ReportStatus.OPEN),
                      key=lambda r: (r.created_at, r.id))

    def _with(self, *changed: Report) -> ReportQueue:
        reports = dict(self.reports)
        reports.update((r.id, r) for r in changed)
        return ReportQueue(self.cafe_id, reports)


@dataclass(frozen=True, slots=True)
class Action:
    """What the service carries out for a resolution (None for `none`)."""

    resolution: Resolution
    kind: ReportKind
    target_id: int
    participant_id: int


Step = tuple[ReportQueue, list[Outbound]]


# --- inputs ----------------------------------------------------------------------------------


def parse_reason(value: str) -> ReportReason:
    try:
        return ReportReason(value)
    except ValueError:
        raise InvalidInput("Choose a reason from the list.") from None


def parse_resolution(value: str) -> Resolution:
    try:
        return Resolution(value)
    except ValueError:
        raise InvalidInput("Unknown resolution.") from None


def clean_note(note: str) -> str:
    return clean_text(note, field="note", max_length=NOTE_MAX_LENGTH, required=False,
                      multiline=True)


# --- views -----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def report_view(r: Report) -> dict[str, Any]:
    return {
        "id": r.id, "kind": r.reported.kind.value, "target_id": r.reported.target_id,
        "participant_id": r.reported.participant_id, "pseudonym": r.reported.pseudonym,
        "excerpt": r.reported.excerpt, "reason": r.reason.value, "note": r.note,
        "reporter_id": r.reporter_id, "status": r.status.value,
        "created_at": _iso(r.created_at), "resolution": r.resolution.value if r.resolution
        else None, "resolved_by": r.resolved_by, "resolved_at": _iso(r.resolved_at),
    }


def snapshot_for(queue: ReportQueue, role: Role) -> dict[str, Any] | None:
    """The open reports, oldest first, for those who handle them (None for everyone else)."""
    if not allows(role, Permission.HANDLE_REPORTS):
        return None
    reports = [report_view(r) for r in queue.open()]
    return {"reports": reports, "open": len(reports)}


# --- transitions -----------------------------------------------------------------------------


def file(queue: ReportQueue, *, report_id: int, reporter_id: int, reported: Reported,
         reason: str, note: str, now: datetime) -> Step:
    """A participant reports something of the café; the moderators get it with the count."""
    if report_id in queue.reports:
        raise InvalidTransition("This report already exists.")
    if reported.participant_id == reporter_id:
        raise InvalidInput("You cannot report yourself.")
    parsed = parse_reason(reason)
    note = clean_note(note)
    mine = [r for r in queue.open() if r.reporter_id == reporter_id]
    if any(r.reported.kind is reported.kind and r.reported.target_id == reported.target_id
           for r in mine):
        raise InvalidTransition("You have already reported this; a moderator will look at it.")
    if len(mine) >= OPEN_PER_REPORTER_MAX:
        raise InvalidTransition("You have many reports waiting; a moderator will look at "
                                "them.")
    report = Report(report_id, queue.cafe_id, reporter_id, reported, parsed, note,
                    ReportStatus.OPEN, now)
    after = queue._with(report)
    return after, [Outbound("report.new", {"report": report_view(report),
                                           "open": len(after.open())},
                            Audience.MODERATORS, queue.cafe_id)]


def check_resolution(queue: ReportQueue, report_id: int, resolution: str) -> Action | None:
    """Whether `report_id` may be resolved so, and the action it asks for (before the
    service carries it out)."""
    report = queue.reports.get(report_id)
    if report is None:
        raise NotFound("No such report.")
    if report.status is not ReportStatus.OPEN:
        raise InvalidTransition("This report is already resolved.")
    parsed = parse_resolution(resolution)
    reported = report.reported
    if parsed is Resolution.HIDE and reported.kind is ReportKind.PARTICIPANT:
        raise InvalidInput("A participant cannot be hidden: remove or ban them.")
    if parsed is Resolution.NONE:
        return None
    return Action(parsed, reported.kind, reported.target_id, reported.participant_id)


def resolve(queue: ReportQueue, report_id: int, *, resolution: str, actor: str,
            now: datetime) -> tuple[ReportQueue, list[Outbound], list[Report]]:
    """Resolve the report, and every open report of the same target with it; the moderators
    are told which, and the new count. Returns the resolved reports too (for the audit)."""
    check_resolution(queue, report_id, resolution)
    parsed = Resolution(resolution)
    target = queue.reports[report_id].reported
    same = [r for r in queue.open() if r.reported.kind is target.kind
            and r.reported.target_id == target.target_id]
    done = [dataclasses.replace(r, status=ReportStatus.RESOLVED, resolution=parsed,
                                resolved_by=actor, resolved_at=now) for r in same]
    after = queue._with(*done)
    event = Outbound("report.resolved", {
        "ids": [r.id for r in done], "resolution": parsed.value, "resolved_by": actor,
        "open": len(after.open())}, Audience.MODERATORS, queue.cafe_id)
    return after, [event], done
