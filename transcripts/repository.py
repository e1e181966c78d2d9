"""Persistence of recordings, transcript jobs and segments (SQLAlchemy Core, async).

Runs on SQLite and PostgreSQL through `sessions.storage.database.Database`. A recording's
segments are replaced as a whole in one transaction together with its job's completion,
so a retried or duplicated job never leaves duplicate or partial segments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sessions.storage.database import Database
from sessions.storage.tables import cafes, recordings, redactions, segments, transcript_jobs
from transcripts.engine import Segment
from transcripts.errors import RecordingNotFound
from transcripts.parts import PartReport
from transcripts.review import REDACTED


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RecordingRow:
    id: int
    cafe_id: int
    participant_id: int | None
    speaker: str
    path: str
    offset_seconds: float
    duration_seconds: float | None
    status: str


@dataclass(frozen=True)
class JobRow:
    id: int
    cafe_id: int
    recording_id: int
    status: str
    attempts: int
    progress: float
    error: str | None
    updated_at: dt.datetime
    speech_seconds: float | None = None
    covered_seconds: float | None = None
    short: bool = False


@dataclass(frozen=True)
class PartCheck:
    """One part of a speaker's recording as the organiser sees it: seconds of speech and
    seconds transcribed (None until its job is done), and whether it fell short."""

    recording_id: int
    speaker: str
    offset_seconds: float
    duration_seconds: float | None
    status: str  # the job's: queued | running | done | failed
    speech_seconds: float | None
    covered_seconds: float | None
    short: bool


@dataclass(frozen=True)
class CafeInfo:
    id: int
    slug: str
    title: str
    description: str
    glossary: str
    language: str


def _recording(row: Any) -> RecordingRow:
    return RecordingRow(row.id, row.cafe_id, row.participant_id, row.speaker, row.path,
                        row.offset_seconds, row.duration_seconds, row.status)


def _job(row: Any) -> JobRow:
    return JobRow(row.id, row.cafe_id, row.recording_id, row.status, row.attempts,
                  row.progress, row.error, row.updated_at, row.speech_seconds,
                  row.covered_seconds, bool(row.short))


async def _keeps_review(conn: Any, recording: RecordingRow) -> bool:
    status = await conn.scalar(sa.select(recordings.c.status).where(
        recordings.c.id == recording.id))
    if status != "transcribed":
        return False
    edited = await conn.scalar(sa.select(sa.func.count()).where(
        segments.c.cafe_id == recording.cafe_id, segments.c.version > 1))
    redacted = await conn.scalar(sa.select(sa.func.count()).where(
        redactions.c.cafe_id == recording.cafe_id))
    return bool(edited or redacted)


def redact_spans(segment: Segment, spans: Sequence[tuple[float, float]]) -> Segment:
    """`segment` with every word spoken inside a redacted stretch of café time replaced by
    the marker (consecutive ones by one); a segment without word timings that meets a
    stretch is redacted as a whole."""
    hit = [(a, b) for a, b in spans if a < segment.end and b > segment.start]
    if not hit:
        return segment
    if not segment.words:
        return dataclasses.replace(segment, text=REDACTED)
    words: list[tuple[float, float, str, float]] = []
    for start, end, word, probability in segment.words:
        middle = (start + end) / 2
        if not any(a <= middle <= b for a, b in hit):
            words.append((start, end, word, probability))
        elif words and words[-1][2].strip() == REDACTED:
            words[-1] = (words[-1][0], end, words[-1][2], 1.0)
        else:
            words.append((start, end, " " + REDACTED, 1.0))
    text = " ".join("".join(w[2] for w in words).split())
    return dataclasses.replace(segment, text=text, words=tuple(words))


class TranscriptRepository:
    def __init__(self, db: Database, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.now = clock

    # -- cafés (read only) ------------------------------------------------------------------
    async def cafe(self, cafe_id: int) -> CafeInfo | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(
                cafes.c.id, cafes.c.slug, cafes.c.title, cafes.c.description,
                cafes.c.glossary, cafes.c.language).where(cafes.c.id == cafe_id))).first()
        return CafeInfo(*row) if row else None

    async def cafe_by_slug(self, slug: str) -> CafeInfo | None:
        async with self.db.connect() as conn:
            cafe_id = (await conn.execute(
                sa.select(cafes.c.id).where(cafes.c.slug == slug))).scalar()
        return await self.cafe(int(cafe_id)) if cafe_id is not None else None

    # -- recordings --------------------------------------------------------------------------
    async def create_recording(self, cafe_id: int, participant_id: int | None, speaker: str,
                               path: str, offset_seconds: float) -> int:
        async with self.db.transaction() as conn:
            result = await conn.execute(recordings.insert().values(
                cafe_id=cafe_id, participant_id=participant_id, speaker=speaker[:80],
                path=path, offset_seconds=offset_seconds, status="recording",
                created_at=self.now()).returning(recordings.c.id))
            return int(result.scalar_one())

    async def close_recording(self, recording_id: int, duration_seconds: float) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(recordings.update().where(
                recordings.c.id == recording_id, recordings.c.status == "recording",
            ).values(status="closed", duration_seconds=duration_seconds))

    async def recording(self, recording_id: int) -> RecordingRow:
        async with self.db.connect() as conn:
            row = (await conn.execute(
                sa.select(recordings).where(recordings.c.id == recording_id))).first()
        if row is None:
            raise RecordingNotFound("No such recording: %(id)s.", id=recording_id)
        return _recording(row)

    async def recordings(self, cafe_id: int | None = None,
                         status: Sequence[str] | None = None) -> list[RecordingRow]:
        query = sa.select(recordings).order_by(recordings.c.offset_seconds, recordings.c.id)
        if cafe_id is not None:
            query = query.where(recordings.c.cafe_id == cafe_id)
        if status is not None:
            query = query.where(recordings.c.status.in_(list(status)))
        async with self.db.connect() as conn:
            return [_recording(r) for r in (await conn.execute(query)).all()]

    # -- jobs --------------------------------------------------------------------------------
    async def ensure_job(self, cafe_id: int, recording_id: int) -> JobRow:
        """The recording's job, created `queued` if absent (idempotent; unique per recording)."""
        job = await self.job(recording_id)
        if job is not None:
            return job
        try:
            async with self.db.transaction() as conn:
                await conn.execute(transcript_jobs.insert().values(
                    cafe_id=cafe_id, recording_id=recording_id, status="queued", attempts=0,
                    progress=0.0, updated_at=self.now()))
        except sa.exc.IntegrityError:  # created concurrently
            pass
        job = await self.job(recording_id)
        assert job is not None
        return job

    async def job(self, recording_id: int) -> JobRow | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(sa.select(transcript_jobs).where(
                transcript_jobs.c.recording_id == recording_id))).first()
        return _job(row) if row else None

    async def jobs(self, cafe_id: int) -> list[JobRow]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(sa.select(transcript_jobs).where(
                transcript_jobs.c.cafe_id == cafe_id).order_by(transcript_jobs.c.id))).all()
        return [_job(r) for r in rows]

    async def start_job(self, recording_id: int, stale_after: dt.timedelta) -> JobRow | None:
        """Claim the job: queued, failed, or running but silent for `stale_after` (its worker
        died). Returns None when it is done or another live worker holds it."""
        now = self.now()
        async with self.db.transaction() as conn:
            result = await conn.execute(transcript_jobs.update().where(
                transcript_jobs.c.recording_id == recording_id,
                sa.or_(
                    transcript_jobs.c.status.in_(["queued", "failed"]),
                    sa.and_(transcript_jobs.c.status == "running",
                            transcript_jobs.c.updated_at < now - stale_after),
                ),
            ).values(status="running", attempts=transcript_jobs.c.attempts + 1, progress=0.0,
                     error=None, updated_at=now))
            if result.rowcount != 1:
                return None
        return await self.job(recording_id)

    async def set_progress(self, recording_id: int, progress: float) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(transcript_jobs.update().where(
                transcript_jobs.c.recording_id == recording_id,
                transcript_jobs.c.status == "running",
            ).values(progress=max(0.0, min(1.0, progress)), updated_at=self.now()))

    async def fail_job(self, recording_id: int, error: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(transcript_jobs.update().where(
                transcript_jobs.c.recording_id == recording_id,
            ).values(status="failed", error=error[:2000], updated_at=self.now()))

    async def release_job(self, recording_id: int) -> None:
        """Give a claimed job back (its run was cancelled: a worker stopping): `queued` again,
        so the next worker claims it at once instead of waiting for it to go stale."""
        async with self.db.transaction() as conn:
            await conn.execute(transcript_jobs.update().where(
                transcript_jobs.c.recording_id == recording_id,
                transcript_jobs.c.status == "running",
            ).values(status="queued", updated_at=self.now()))

    async def requeue_running(self) -> int:
        """At start-up of an in-process queue: jobs left `running` by a dead process."""
        async with self.db.transaction() as conn:
            result = await conn.execute(transcript_jobs.update().where(
                transcript_jobs.c.status == "running").values(
                status="queued", updated_at=self.now()))
            return int(result.rowcount)

    async def cafe_is_live(self, cafe_id: int) -> bool:
        async with self.db.connect() as conn:
            status = await conn.scalar(sa.select(cafes.c.status).where(cafes.c.id == cafe_id))
        return status == "live"

    async def save_replay(self, cafe_id: int, path: str, duration: float) -> None:
        """The café's one replay file (replaces the previous one's row)."""
        async with self.db.transaction() as conn:
            await conn.execute(recordings.delete().where(
                recordings.c.cafe_id == cafe_id, recordings.c.status == "replay"))
            await conn.execute(recordings.insert().values(
                cafe_id=cafe_id, participant_id=None, speaker="", path=path,
                offset_seconds=0.0, duration_seconds=duration, status="replay",
                created_at=self.now()))

    async def redaction_spans(self, cafe_id: int) -> list[tuple[float, float]]:
        """The stretches of café time redacted on the review page: every replay built for
        the café silences them."""
        async with self.db.connect() as conn:
            rows = await conn.execute(sa.select(
                redactions.c.start_seconds, redactions.c.end_seconds).where(
                redactions.c.cafe_id == cafe_id).order_by(redactions.c.start_seconds))
            return [(float(a), float(b)) for a, b in rows]

    async def keeps_review(self, recording: RecordingRow) -> bool:
        """True when a new transcription of `recording` must not replace its segments: it
        was transcribed before and its café's transcript has been reviewed since (a segment
        edited, split or joined, or a span redacted)."""
        async with self.db.connect() as conn:
            return await _keeps_review(conn, recording)

    async def keep_reviewed(self, recording: RecordingRow) -> int:
        """Mark the job of a reviewed recording done without touching its segments (their
        check stays the one of the transcription that was reviewed); their number."""
        async with self.db.transaction() as conn:
            return await self._keep(conn, recording)

    async def _keep(self, conn: Any, recording: RecordingRow) -> int:
        await conn.execute(transcript_jobs.update().where(
            transcript_jobs.c.recording_id == recording.id).values(
            status="done", progress=1.0, error=None, updated_at=self.now()))
        return int(await conn.scalar(sa.select(sa.func.count()).where(
            segments.c.recording_id == recording.id)) or 0)

    async def complete_job(self, recording: RecordingRow, found: Sequence[Segment],
                           report: PartReport | None = None, *, force: bool = False) -> int:
        """Replace the recording's segments and mark its job done with its check (`report`),
        in one transaction.

        A recording whose café transcript was reviewed since it was last transcribed keeps
        its segments (the organiser's corrections and redactions are never overwritten by
        a job run again); `force` replaces them, and the café's redactions are applied to
        the new text, so a redacted name never comes back."""
        checked: dict[str, Any] = {} if report is None else {
            "speech_seconds": report.speech_seconds, "covered_seconds": report.covered_seconds,
            "short": report.short, "retried": report.retried, "fallbacks": report.fallbacks,
            "repetitions_cut": report.repetitions_cut, "degraded": report.degraded,
            "work_seconds": report.seconds}
        async with self.db.transaction() as conn:
            if not force and await _keeps_review(conn, recording):
                return await self._keep(conn, recording)
            spans = [(float(a), float(b)) for a, b in await conn.execute(sa.select(
                redactions.c.start_seconds, redactions.c.end_seconds).where(
                redactions.c.cafe_id == recording.cafe_id))]
            found = [redact_spans(s, spans) for s in found] if spans else list(found)
            await conn.execute(segments.delete().where(segments.c.recording_id == recording.id))
            if found:
                await conn.execute(segments.insert(), [
                    {"cafe_id": recording.cafe_id, "recording_id": recording.id,
                     "start_seconds": s.start, "end_seconds": s.end, "speaker": s.speaker,
                     "text": s.text, "words": [list(w) for w in s.words], "seq": seq}
                    for seq, s in enumerate(found)])
            await conn.execute(recordings.update().where(
                recordings.c.id == recording.id).values(status="transcribed"))
            await conn.execute(transcript_jobs.update().where(
                transcript_jobs.c.recording_id == recording.id).values(
                status="done", progress=1.0, error=None, updated_at=self.now(), **checked))
        return len(found)

    async def part_checks(self, cafe_id: int) -> list[PartCheck]:
        """Every part of the café with its job's check, by speaker then café time."""
        query = sa.select(
            recordings.c.id, recordings.c.speaker, recordings.c.offset_seconds,
            recordings.c.duration_seconds, transcript_jobs.c.status,
            transcript_jobs.c.speech_seconds, transcript_jobs.c.covered_seconds,
            transcript_jobs.c.short,
        ).join(transcript_jobs, transcript_jobs.c.recording_id == recordings.c.id).where(
            recordings.c.cafe_id == cafe_id).order_by(
            recordings.c.speaker, recordings.c.offset_seconds, recordings.c.id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [PartCheck(r.id, r.speaker, r.offset_seconds, r.duration_seconds, r.status,
                          r.speech_seconds, r.covered_seconds, bool(r.short)) for r in rows]

    async def coverage_warnings(self, cafe_id: int) -> list[PartCheck]:
        """The parts an organiser must confirm before publishing: speech with too little
        text, or a part not transcribed (failed, or still to do)."""
        return [p for p in await self.part_checks(cafe_id)
                if p.short or p.status != "done"]

    async def segments(self, cafe_id: int, *, recording_id: int | None = None
                       ) -> list[Segment]:
        """The café's segments in time order (of one recording's only, if given)."""
        query = sa.select(segments).where(segments.c.cafe_id == cafe_id)
        if recording_id is not None:
            query = query.where(segments.c.recording_id == recording_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query.order_by(
                segments.c.start_seconds, segments.c.id))).all()
        return [Segment(r.start_seconds, r.end_seconds, r.speaker, r.text,
                        tuple((float(a), float(b), str(w), float(p)) for a, b, w, p in r.words))
                for r in rows]

    async def cafe_progress(self, cafe_id: int) -> float:
        """Transcription progress of a café for the organiser, 0..1 (1 when no job)."""
        jobs = await self.jobs(cafe_id)
        if not jobs:
            return 1.0
        return sum(1.0 if j.status == "done" else j.progress for j in jobs) / len(jobs)
