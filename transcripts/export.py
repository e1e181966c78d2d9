"""A café's published transcript, loaded once and written as WebVTT, SRT, plain text or JSON.

``export_transcript(db, slug, "vtt")`` is what the CLI (``causerie export``) and the download
routes call. A café that does not exist, or whose transcript is not published, is `NotFound`
(the public never learns which of the two).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal, get_args

import sqlalchemy as sa
import srt
import webvtt

from sessions.errors import InvalidInput, NotFound
from sessions.storage.database import Database, as_utc
from sessions.storage.tables import cafes, recordings, redactions, segments
from transcripts.chapters import Chapter, load_chapters, to_chapters_vtt

Format = Literal["vtt", "srt", "txt", "json"]
FORMATS: tuple[str, ...] = get_args(Format)
CONTENT_TYPES: dict[str, str] = {
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
    "txt": "text/plain",
    "json": "application/json",
}
_SPACES = re.compile(r"\s+")


class TranscriptNotFound(NotFound):
    code = "transcript_not_found"
    default_message = "This transcript does not exist or is not published."


@dataclass(frozen=True)
class WordTiming:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class TranscriptSegment:
    id: int
    start: float
    end: float
    speaker: str
    text: str
    words: tuple[WordTiming, ...]


@dataclass(frozen=True)
class Recording:
    id: int
    path: str
    offset: float
    duration: float | None


@dataclass(frozen=True)
class Transcript:
    slug: str
    title: str
    theme: str
    language: str
    starts_at: datetime
    segments: tuple[TranscriptSegment, ...]
    recording: Recording | None
    chapters: tuple[Chapter, ...] = ()
    # A redaction not yet silenced in the replay: no audio is served until it is.
    audio_pending: bool = False
    cafe_id: int = 0
    published: bool = True

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(s.speaker for s in self.segments))


def _words(raw: Any) -> tuple[WordTiming, ...]:
    """Word timings as stored: ``[start, end, word, probability]`` lists (the engine's) or
    objects with those keys; anything else is skipped, never an error."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return ()
    out: list[WordTiming] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            if isinstance(item, dict):
                out.append(WordTiming(float(item["start"]), float(item["end"]),
                                      str(item["word"]), float(item.get("probability", 1.0))))
            else:
                start, end, word, prob = item
                out.append(WordTiming(float(start), float(end), str(word), float(prob)))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(out)




async def load_transcript(db: Database, slug: str, *, published_only: bool = True) -> Transcript:
    """The café's segments in time order, its chapters, with the recording the page plays:
    the café's replay once built, else its longest part (never a part once anything was
    redacted: only the replay is silenced)."""
    async with db.connect() as conn:
        cafe = (await conn.execute(
            sa.select(cafes.c.id, cafes.c.slug, cafes.c.title, cafes.c.theme, cafes.c.language,
                      cafes.c.starts_at, cafes.c.transcript_published, cafes.c.opened_at,
                      cafes.c.ended_at)
            .where(cafes.c.slug == slug[:80])
        )).first()
        if cafe is None or (published_only and not cafe.transcript_published):
            raise TranscriptNotFound()
        rows = (await conn.execute(
            sa.select(segments.c.id, segments.c.start_seconds, segments.c.end_seconds,
                      segments.c.speaker, segments.c.text, segments.c.words)
            .where(segments.c.cafe_id == cafe.id)
            .order_by(segments.c.start_seconds, segments.c.recording_id, segments.c.seq,
                      segments.c.id)
        )).all()
        rec = (await conn.execute(
            sa.select(recordings.c.id, recordings.c.path, recordings.c.offset_seconds,
                      recordings.c.duration_seconds, recordings.c.status)
            .where(recordings.c.cafe_id == cafe.id, recordings.c.status != "recording")
            # The replay (every part on one timeline) when it exists, else the longest part.
            .order_by((recordings.c.status == "replay").desc(),
                      sa.func.coalesce(recordings.c.duration_seconds, 0).desc(),
                      recordings.c.offset_seconds, recordings.c.id)
            .limit(1)
        )).first()
        redacted = (await conn.execute(
            sa.select(sa.func.count(), sa.func.count().filter(redactions.c.applied.is_(False)))
            .where(redactions.c.cafe_id == cafe.id))).one()
        chapters = await load_chapters(conn, cafe.id, cafe.opened_at, cafe.ended_at)
    if redacted[0] and rec is not None and rec.status != "replay":
        rec = None  # a part still holds the redacted speech
    return Transcript(
        slug=cafe.slug, title=cafe.title, theme=cafe.theme, language=cafe.language,
        starts_at=as_utc(cafe.starts_at),
        segments=tuple(
            TranscriptSegment(r.id, float(r.start_seconds), float(r.end_seconds), r.speaker,
                              r.text, _words(r.words))
            for r in rows
        ),
        recording=None if rec is None else Recording(
            rec.id, rec.path, float(rec.offset_seconds),
            None if rec.duration_seconds is None else float(rec.duration_seconds)),
        chapters=tuple(chapters), audio_pending=bool(redacted[1]), cafe_id=cafe.id,
        published=bool(cafe.transcript_published),
    )


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _vtt_escape(text: str) -> str:
    # Cue text is markup: & < > must be character references; "-->" cannot appear.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("-->", "--&gt;")


def _vtt_time(seconds: float) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def clock(seconds: float) -> str:
    """``H:MM:SS`` or ``MM:SS``: how a moment of a café is shown to people."""
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _end(segment: TranscriptSegment) -> float:
    # A cue must end after it starts; a zero-length segment gets a tenth of a second.
    return max(segment.end, segment.start + 0.1)


def to_vtt(transcript: Transcript, _zone: tzinfo) -> str:
    vtt = webvtt.WebVTT()
    for segment in transcript.segments:
        speaker = _vtt_escape(_one_line(segment.speaker))
        text = _vtt_escape(_one_line(segment.text))
        vtt.captions.append(webvtt.Caption(
            _vtt_time(segment.start), _vtt_time(_end(segment)),
            f"<v {speaker}>{text}" if speaker else text,
        ))
    content: str = vtt.content
    return content


def to_srt(transcript: Transcript, _zone: tzinfo) -> str:
    subtitles = [
        srt.Subtitle(
            index=i,
            start=timedelta(seconds=max(0.0, s.start)),
            end=timedelta(seconds=_end(s)),
            content=(f"{_one_line(s.speaker)}: " if s.speaker.strip() else "")
            + _one_line(s.text),
        )
        for i, s in enumerate(transcript.segments, start=1)
    ]
    composed: str = srt.compose(subtitles, reindex=False)
    return composed


def local_start(transcript: Transcript, zone: tzinfo) -> str:
    """When the café started, in the café's zone, with the zone's name and offset so that a
    reader elsewhere knows which hour it was (``2026-12-01 20:00 (Europe/Paris, UTC+01:00)``)."""
    try:
        local = transcript.starts_at.astimezone(zone)
    except (OverflowError, ValueError):
        # A row outside the forms' bounds: the UTC time still says when.
        local = transcript.starts_at
    offset = local.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return f"{local:%Y-%m-%d %H:%M} ({zone}, {offset})"


def to_txt(transcript: Transcript, zone: tzinfo) -> str:
    lines = [transcript.title, local_start(transcript, zone), ""]
    for s in transcript.segments:
        speaker = _one_line(s.speaker)
        lines.append(f"[{clock(s.start)}] {speaker + ': ' if speaker else ''}{_one_line(s.text)}")
    return "\n".join(lines) + "\n"


def to_json(transcript: Transcript, zone: tzinfo) -> str:
    data = {
        "cafe": {
            "slug": transcript.slug,
            "title": transcript.title,
            "theme": transcript.theme,
            "language": transcript.language,
            "starts_at": transcript.starts_at.isoformat(),
            "timezone": str(zone),
        },
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "speaker": s.speaker,
                "text": s.text,
                "words": [
                    {"start": w.start, "end": w.end, "word": w.word,
                     "probability": w.probability}
                    for w in s.words
                ],
            }
            for s in transcript.segments
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def to_chapters(transcript: Transcript) -> str:
    """The chapters track (WebVTT): one cue per question the expert took."""
    return to_chapters_vtt(transcript.chapters)


WRITERS = {"vtt": to_vtt, "srt": to_srt, "txt": to_txt, "json": to_json}


def render(transcript: Transcript, fmt: str, zone: tzinfo) -> str:
    """``transcript`` in format ``fmt``; times of day are written in ``zone`` (the café's,
    from the config), never in UTC without saying so."""
    if fmt not in WRITERS:
        raise InvalidInput("Formats: %(formats)s.", formats=", ".join(FORMATS))
    return WRITERS[fmt](transcript, zone)


async def export_transcript(db: Database, slug: str, fmt: str, zone: tzinfo) -> str:
    """The published transcript of café ``slug`` as ``vtt``, ``srt``, ``txt`` or ``json``."""
    if fmt not in WRITERS:
        raise InvalidInput("Formats: %(formats)s.", formats=", ".join(FORMATS))
    return render(await load_transcript(db, slug), fmt, zone)


def recording_file(recording: Recording, data_dir: Path | None = None) -> Path | None:
    """The recording's file on disk, if it is there (relative paths: from the working
    directory, else from ``data_dir``)."""
    path = Path(recording.path)
    candidates = [path] if path.is_absolute() or data_dir is None else [path, data_dir / path]
    return next((p for p in candidates if p.is_file()), None)
