"""How long a café's recordings are kept: the pure rules, no I/O.

A café's raw recordings (each speaker's parts, `recordings` rows that are not the replay) are
deleted `recording_retention_days` after the café ended. The published transcript and its
replay (the mixed, redacted audio the transcript page plays) stay while the transcript is
published; a replay whose transcript is not published (never published, or withdrawn) is
deleted once the period is over too, since it is made of the same voices.

`RetentionService` (transcripts.retention_service) carries the rules out: from a scheduled
task in the server, from the café's admin page and from `causerie retention run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from sessions.errors import InvalidInput

MIN_DAYS = 1
MAX_DAYS = 3650
DAYS_FIELD_MAX = 10  # characters of the form's field
DEFAULT_DAYS = 30
ERASED = "[effacé]"  # what replaces an erased participant's name and texts


class RetentionSettings(BaseModel):
    """The server's part of it (`[retention]` in the config, `CAUSERIE_RETENTION__*`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The scheduled task: on in every `causerie serve` (each run is idempotent, so several
    # processes may run it), every `interval_minutes`.
    enabled: bool = True
    interval_minutes: int = Field(60, ge=1, le=24 * 60)


@dataclass(frozen=True, slots=True)
class CafeKeeping:
    """What the rules need to know of one café."""

    cafe_id: int
    ended_at: datetime | None
    retention_days: int
    transcript_published: bool
    has_parts: bool
    has_replay: bool


@dataclass(frozen=True, slots=True)
class Due:
    cafe_id: int
    parts: bool  # delete the raw recordings
    replay: bool  # delete the replay (its transcript is not published)


def validate_days(raw: str) -> int:
    """The organiser's retention period, in whole days within the bounds: ASCII digits only
    (`int()` would also read "3_0" and Arabic-Indic digits), spaces around them allowed,
    and the whole value read (`DAYS_FIELD_MAX` characters at most), never a prefix."""
    text = raw.strip()
    if len(raw) > DAYS_FIELD_MAX or not (text.isascii() and text.isdigit()):
        raise InvalidInput("The retention period must be a whole number of days.")
    days = int(text)
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput("The retention period must be between %(min)s and %(max)s days.",
                           min=MIN_DAYS, max=MAX_DAYS)
    return days


def delete_after(cafe: CafeKeeping) -> datetime | None:
    """When the café's recordings are due for deletion (None: the café has not ended)."""
    if cafe.ended_at is None:
        return None
    return cafe.ended_at + timedelta(days=cafe.retention_days)


def due(cafe: CafeKeeping, now: datetime) -> Due | None:
    """What must be deleted now for this café, if anything."""
    deadline = delete_after(cafe)
    if deadline is None or now < deadline:
        return None
    replay = cafe.has_replay and not cafe.transcript_published
    if not (cafe.has_parts or replay):
        return None
    return Due(cafe.cafe_id, parts=cafe.has_parts, replay=replay)


def same_pseudonym(a: str, b: str) -> bool:
    """Pseudonyms are compared as a person would type them again: case and surrounding
    spaces do not count."""
    return a.strip().casefold() == b.strip().casefold()


__all__ = ["DAYS_FIELD_MAX", "DEFAULT_DAYS", "ERASED", "MAX_DAYS", "MIN_DAYS", "CafeKeeping", "Due",
           "RetentionSettings", "delete_after", "due", "same_pseudonym", "validate_days"]
