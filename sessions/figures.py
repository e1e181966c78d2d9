"""An association's figures (issue 12), computed from what is already stored: per café,
attendance, questions and transcript status; the same summed by theme and by month. Pure:
the rows come in, the figures go out (`sessions.storage.repo_figures` reads the rows).

What is not stored is not shown: the peak of parents present at once is not recorded
anywhere (presence lives in memory or Redis while the café runs), so attendance is the
number of parents who joined.
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


def totals(cafes: Iterable[CafeFigures], key: Callable[[CafeFigures], str]) -> list[Totals]:
    grouped: dict[str, list[CafeFigures]] = {}
    for cafe in cafes:
        grouped.setdefault(key(cafe), []).append(cafe)
    return [Totals(k, len(group), *(sum(getattr(c, name) for c in group)
                                    for name in ("parents", "questions", "approved",
                                                 "answered", "unanswered", "reports")))
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
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
