"""The replay's chapters: each question the expert took, from "answering now" to "answered",
titled with its approved text (the moderators' edit, never the original wording).

`chapters_of` is pure (question times in, café seconds out); `load_chapters` reads the
questions; `to_chapters_vtt` writes the WebVTT chapters track the transcript page links
(``/cafes/<slug>/chapters.vtt``) and its player loads as ``<track kind="chapters">``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import webvtt
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.storage.database import as_utc
from sessions.storage.tables import questions

TITLE_MAX = 200
MIN_SECONDS = 1.0  # a chapter shorter than this is still shown this long (a valid cue)


@dataclass(frozen=True, slots=True)
class Chapter:
    question_id: int
    start: float  # café seconds
    end: float
    title: str


@dataclass(frozen=True, slots=True)
class TakenQuestion:
    id: int
    text: str
    answering_at: datetime
    answered_at: datetime | None




def _title(text: str) -> str:
    title = " ".join(text.split())
    return title if len(title) <= TITLE_MAX else title[:TITLE_MAX - 1].rstrip() + "…"


def chapters_of(taken: Iterable[TakenQuestion], opened_at: datetime | None,
                ended_at: datetime | None) -> list[Chapter]:
    """Chapters in time order. A question still "answering" when the café ended runs to the
    end (or to the next question taken); times before the opening start at 0."""
    if opened_at is None:
        return []
    opened = as_utc(opened_at)
    ordered = sorted(taken, key=lambda q: (as_utc(q.answering_at), q.id))
    out: list[Chapter] = []
    for index, question in enumerate(ordered):
        start = max(0.0, (as_utc(question.answering_at) - opened).total_seconds())
        stop_at = question.answered_at or (
            ordered[index + 1].answering_at if index + 1 < len(ordered) else ended_at)
        end = start if stop_at is None else (as_utc(stop_at) - opened).total_seconds()
        out.append(Chapter(question.id, round(start, 3),
                           round(max(end, start + MIN_SECONDS), 3), _title(question.text)))
    return out


async def load_chapters(conn: AsyncConnection, cafe_id: int, opened_at: datetime | None,
                        ended_at: datetime | None) -> list[Chapter]:
    rows = await conn.execute(sa.select(
        questions.c.id, questions.c.text, questions.c.answering_at, questions.c.answered_at,
    ).where(questions.c.cafe_id == cafe_id, questions.c.answering_at.is_not(None),
            questions.c.status.in_(("answering", "answered"))))
    taken = [TakenQuestion(r.id, r.text, r.answering_at, r.answered_at) for r in rows]
    return chapters_of(taken, opened_at, ended_at)


def _time(seconds: float) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _cue_text(text: str) -> str:
    # Cue text is markup: & < > are character references; "-->" cannot appear.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("-->", "--&gt;")


def to_chapters_vtt(chapters: Iterable[Chapter]) -> str:
    vtt = webvtt.WebVTT()
    for chapter in chapters:
        caption = webvtt.Caption(_time(chapter.start), _time(chapter.end),
                                 _cue_text(chapter.title))
        caption.identifier = f"q{chapter.question_id}"
        vtt.captions.append(caption)
    content: str = vtt.content
    return content
