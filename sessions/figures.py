"""An association's figures (issue 12), computed from what is already stored: per café,
attendance, questions and transcript status; the same by theme and by month. Pure: the rows
come in, the figures go out (`sessions.storage.repo_figures` reads the rows).

Attendance is two numbers: the parents who joined (each browser once) and the peak of
parents present at once, recorded while the café is live (`sessions.attendance`: one number
per café, nothing per person). A café that was live before the peak was recorded (or that
had no parent yet and has not ended) has none: `None`, shown as a dash. Across cafés the
counts are summed and the peak is the highest of the cafés' peaks (parents of two cafés are
not present at once in one room), or None when no café of the group has one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CafeFigures:
    slug: str
    title: str
    theme: str
    starts_at: datetime
    status: str
    peak_parents: int | None  # the most parents present at once (None: not recorded)
    parents: int  # parents who joined (each browser once)
    questions: int  # asked
    approved: int  # approved at some point (approved, being answered, answered)
    answered: int
    unanswered: int  # approved, never answered
    reports: int
    transcript: str  # none | transcribing | ready | published

    @property
    def month(self) -> str:
        return f"{self.starts_at:%Y-%m}"


@dataclass(frozen=True, slots=True)
class Totals:
    key: str  # a theme, or a month YYYY-MM
    cafes: int
    peak_parents: int | None  # the highest of the cafés' peaks (not a sum)
    parents: int
    questions: int
    approved: int
    answered: int
    unanswered: int
    reports: int


def transcript_status(*, published: bool, segments: int, jobs_open: int) -> str:
    if published:
        return "published"
    if jobs_open:
        return "transcribing"
    return "ready" if segments else "none"


SUMMED = ("parents", "questions", "approved", "answered", "unanswered", "reports")


def highest_peak(cafes: Iterable[CafeFigures]) -> int | None:
    """The aggregate peak: the highest recorded one (a max, never a sum), None if none is."""
    return max((c.peak_parents for c in cafes if c.peak_parents is not None), default=None)


def totals(cafes: Iterable[CafeFigures], key: Callable[[CafeFigures], str]) -> list[Totals]:
    grouped: dict[str, list[CafeFigures]] = {}
    for cafe in cafes:
        grouped.setdefault(key(cafe), []).append(cafe)
    return [Totals(k, len(group), highest_peak(group),
                   *(sum(getattr(c, name) for c in group) for name in SUMMED))
            for k, group in sorted(grouped.items())]


CSV_COLUMNS = tuple(f.name for f in fields(CafeFigures))


def to_csv(cafes: Iterable[CafeFigures]) -> str:
    """One line per café; a cell never starts with a formula sign (spreadsheets run them)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for cafe in cafes:
        writer.writerow([_cell(getattr(cafe, name)) for name in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> str:
    """A value as its CSV cell (None, a figure not recorded: an empty cell)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
