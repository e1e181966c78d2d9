"""The final transcript: one job per closed recording, in-process or on arq/Redis.

`TranscriptJobs.run(recording_id)` is the job (shared by both queues): claim it in
`transcript_jobs`, check the audio, transcribe it off the loop, place the segments in café
time and replace the recording's segments in one transaction. A worker killed mid-job leaves
the job `running`: it is claimed again once stale (or at start-up of the in-process queue),
and since segments are only written by that final transaction nothing is duplicated.

Parts are closed every couple of minutes while the café goes on (see recorder), so most of
the work is done when the café ends; `enqueue_cafe` then queues what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from transcripts.engine import (
    Segment,
    TranscribeOptions,
    TranscriberPool,
    cafe_vocabulary,
    decode_audio,
    placed_all,
    probe_audio,
    speech_ratio,
)
from transcripts.errors import InvalidAudio, RecordingNotFound
from transcripts.parts import PartReport, PartResult
from transcripts.replay import REPLAY_STATUS, build_replay
from transcripts.repository import RecordingRow, TranscriptRepository

log = logging.getLogger("causerie.transcripts")

MAX_ATTEMPTS = 3
STALE_AFTER = dt.timedelta(minutes=10)
# How the café's words reach the decoder, by language: "none", "prompt" or "hotwords" (see
# options_for; measured in docs/transcription.md).
WORDS_AS: dict[str, str] = {"fr": "none", "en": "hotwords"}
# The Redis queue of transcript jobs (its own name: the Redis may be shared).
QUEUE_NAME = "causerie:transcripts"


class JobQueue(Protocol):
    async def enqueue(self, cafe_id: int, recording_id: int) -> None: ...


class TranscriptJobs:
    """Runs one recording's job; safe to run twice, concurrently or after a crash."""

    def __init__(self, repo: TranscriptRepository, pool: TranscriberPool, *,
                 stale_after: dt.timedelta = STALE_AFTER,
                 on_done: Callable[[int, int], Awaitable[None]] | None = None,
                 replay_dir: Path | None = None) -> None:
        self.repo = repo
        self.pool = pool
        self.stale_after = stale_after
        # Where the café's replay file goes once its transcript is complete (None: no replay).
        self.replay_dir = replay_dir
        self.on_done = on_done  # (cafe_id, recording_id): e.g. refresh the search index

    async def options_for(self, cafe_id: int, language: str | None = None) -> TranscribeOptions:
        """The café's language; its words (title, description, word list) as `WORDS_AS` says
        for that language.

        Measured on the speech set and on sentences that say the café's terms
        (bench/transcription.py --words none,prompt,hotwords; docs/transcription.md): in
        French, as a prompt the words lost speech (89-91 % covered) and spelled fewer terms,
        as hotwords they looped (0 terms right) at up to 0.98 x real time; without them
        French spelled the most terms. In English, hotwords spelled as many terms or more
        (0.88 / 0.75 / 0.50 against 0.50 / 0.75 / 0.38) and lost no speech (99 % or more).
        A chunk that falls short or echoes the words is done again without them either
        way."""
        cafe = await self.repo.cafe(cafe_id)
        lang = language or (cafe.language if cafe else "fr")
        words = cafe_vocabulary(cafe.title, cafe.description, cafe.glossary,
                                language=lang) if cafe else ""
        way = WORDS_AS.get(lang, "none")
        return TranscribeOptions(
            language=lang,
            prompt=(words or None) if way == "prompt" else None,
            hotwords=(words or None) if way == "hotwords" else None,
            long_form=True, word_timestamps=True)

    async def run(self, recording_id: int, *, language: str | None = None,
                  force: bool = False) -> int | None:
        """Transcribe one recording; the number of segments, or None if not ours to run.

        ``language`` overrides the café's (`causerie transcribe --language`). A recording
        transcribed before whose café transcript has since been reviewed keeps its
        segments: the job is marked done without transcribing (and the transaction that
        would write new segments checks again). `force` transcribes it again and replaces
        them, the café's redactions applied to the new text."""
        recording = await self.repo.recording(recording_id)
        await self.repo.ensure_job(recording.cafe_id, recording_id)
        job = await self.repo.start_job(recording_id, self.stale_after)
        if job is None:
            return None
        cafe = recording.cafe_id
        log.info("transcript job started cafe=%s recording=%s attempt=%d", cafe, recording_id,
                 job.attempts)
        try:
            if not force and await self.repo.keeps_review(recording):
                count = await self.repo.keep_reviewed(recording)
                log.warning("transcript job kept the reviewed segments cafe=%s recording=%s "
                            "segments=%d", cafe, recording_id, count)
                return count
            found = await self.transcribe_checked(
                recording, await self.options_for(cafe, language))
        except asyncio.CancelledError:  # the worker is stopping: another one takes it now
            await asyncio.shield(self.repo.release_job(recording_id))
            log.info("transcript job released cafe=%s recording=%s", cafe, recording_id)
            raise
        except InvalidAudio as exc:  # permanent: no retry
            await self.repo.fail_job(recording_id, str(exc))
            log.warning("transcript job refused cafe=%s recording=%s: %s", cafe,
                        recording_id, exc)
            return 0
        except Exception as exc:
            await self.repo.fail_job(recording_id, f"{type(exc).__name__}: {exc}")
            log.exception("transcript job failed cafe=%s recording=%s", cafe, recording_id)
            raise
        count = await self.repo.complete_job(recording, found.segments, found.report,
                                             force=force)
        log.info("transcript job done cafe=%s recording=%s segments=%d", cafe, recording_id,
                 count)
        await self.refresh_replay(cafe)
        if self.on_done is not None:
            await self.on_done(cafe, recording_id)
        return count

    async def refresh_replay(self, cafe_id: int) -> None:
        """Once every recording of a café that is no longer live is transcribed, mix them into
        the replay the transcript page plays."""
        if (self.replay_dir is None or await self.repo.cafe_is_live(cafe_id)
                or await self.repo.cafe_progress(cafe_id) < 1.0):
            return
        parts = [(Path(r.path), r.offset_seconds) for r in await self.repo.recordings(cafe_id)
                 if r.status not in ("recording", REPLAY_STATUS)]
        if not parts:
            return
        out = self.replay_dir / str(cafe_id) / "replay.ogg"
        out.parent.mkdir(parents=True, exist_ok=True)
        silence = await self.repo.redaction_spans(cafe_id)  # the review page's redactions
        duration = await asyncio.to_thread(build_replay, parts, out, silence)
        await self.repo.save_replay(cafe_id, str(out), duration)
        log.info("replay ready cafe=%s parts=%d seconds=%.1f", cafe_id, len(parts), duration)

    async def transcribe_checked(self, recording: RecordingRow,
                                 options: TranscribeOptions) -> PartResult:
        """Transcribe one part and check it against its own audio (transcripts.parts): a
        chunk with speech and too little text, or echoing the café's words, is done again
        with safe settings; what still falls short is in the report, stored with the job."""
        path = Path(recording.path)
        duration = await asyncio.to_thread(probe_audio, path)
        if duration <= 0.05:
            return PartResult([], PartReport(round(duration, 3), 0.0, 0.0))
        last = [0.0]
        writes: set[asyncio.Task[None]] = set()

        def progress(value: float) -> None:
            if value - last[0] >= 0.05:
                last[0] = value
                task = asyncio.get_running_loop().create_task(
                    self.repo.set_progress(recording.id, value * 0.99))
                writes.add(task)
                task.add_done_callback(writes.discard)

        result = await self.pool.transcribe_part(str(path), options, progress)
        for task in list(writes):
            with contextlib.suppress(Exception):
                await task
        r = result.report
        log.log(logging.WARNING if r.short else logging.INFO,
                "part checked cafe=%s recording=%s speech=%.1fs covered=%.1fs short=%s "
                "chunks=%d retried=%d fallbacks=%d repeats_cut=%d degraded=%d rtf=%.2f",
                recording.cafe_id, recording.id, r.speech_seconds, r.covered_seconds, r.short,
                r.chunks, r.retried, r.fallbacks, r.repetitions_cut, r.degraded, r.rtf)
        return PartResult(placed_all(result.segments, recording.offset_seconds,
                                     recording.speaker), r)


async def enqueue_cafe(repo: TranscriptRepository, queue: JobQueue, cafe_id: int) -> list[int]:
    """When a café ends (after its taps are closed): queue every recording not transcribed.

    Idempotent. Recordings still `recording` (a crash cut them) are closed first."""
    queued: list[int] = []
    for rec in await repo.recordings(cafe_id, status=("recording", "closed")):
        if rec.status == "recording":
            try:
                duration = await asyncio.to_thread(probe_audio, Path(rec.path))
            except InvalidAudio:
                duration = 0.0
            await repo.close_recording(rec.id, duration)
        job = await repo.ensure_job(cafe_id, rec.id)
        if job.status != "done":
            await queue.enqueue(cafe_id, rec.id)
            queued.append(rec.id)
    log.info("cafe transcripts queued cafe=%s recordings=%d", cafe_id, len(queued))
    return queued


class LocalJobQueue:
    """The embedded default: an asyncio queue, one job at a time, retries with back-off."""

    def __init__(self, jobs: TranscriptJobs, *, max_attempts: int = MAX_ATTEMPTS,
                 retry_delay: float = 5.0) -> None:
        self.jobs = jobs
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self._pending: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Requeue what a previous process left running or queued."""
        await self.jobs.repo.requeue_running()
        for rec in await self.jobs.repo.recordings(status=("closed",)):
            job = await self.jobs.repo.job(rec.id)
            if job is None or job.status in ("queued", "running") or (
                    job.status == "failed" and job.attempts < self.max_attempts):
                await self.enqueue(rec.cafe_id, rec.id)

    async def enqueue(self, cafe_id: int, recording_id: int) -> None:
        await self.jobs.repo.ensure_job(cafe_id, recording_id)
        if recording_id in self._pending:
            return
        self._pending.add(recording_id)
        self._queue.put_nowait((cafe_id, recording_id))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def join(self) -> None:
        """Wait until the queue is empty (tests, the CLI, benchmarks)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            cafe_id, recording_id = await self._queue.get()
            try:
                await self.jobs.run(recording_id)
            except RecordingNotFound:
                pass
            except Exception:
                job = await self.jobs.repo.job(recording_id)
                if job is not None and job.attempts < self.max_attempts:
                    await asyncio.sleep(self.retry_delay * job.attempts)
                    self._pending.discard(recording_id)
                    await self.enqueue(cafe_id, recording_id)
                    self._queue.task_done()
                    continue
            self._pending.discard(recording_id)
            self._queue.task_done()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class ArqJobQueue:
    """Jobs through Redis for `causerie worker` processes (arq); same job function."""

    def __init__(self, redis: Any, queue_name: str = QUEUE_NAME, redis_url: str = "") -> None:
        self.redis = redis  # an arq.connections.ArqRedis
        self.queue_name = queue_name
        self.redis_url = redis_url

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str = QUEUE_NAME) -> ArqJobQueue:
        from arq import create_pool
        from arq.connections import RedisSettings

        return cls(await create_pool(RedisSettings.from_dsn(redis_url),
                                     default_queue_name=queue_name), queue_name, redis_url)

    def job_id(self, recording_id: int) -> str:
        return f"{self.queue_name}:recording:{recording_id}"

    async def enqueue(self, cafe_id: int, recording_id: int) -> None:
        # One arq job id per recording: enqueuing twice while it is queued or running is a
        # no-op (arq keeps no result: once done, the database says so and a re-run is a no-op).
        await self.redis.enqueue_job("transcribe_recording", recording_id,
                                     _job_id=self.job_id(recording_id),
                                     _queue_name=self.queue_name)

    async def aclose(self) -> None:
        await self.redis.aclose()


async def transcribe_file(repo: TranscriptRepository, jobs: TranscriptJobs, path: Path,
                          cafe_id: int, speaker: str, language: str | None = None,
                          offset_seconds: float = 0.0) -> list[Segment]:
    """`causerie transcribe AUDIO --cafe SLUG`: import a file as a recording and transcribe it
    through the job path (`TranscriptJobs.run`: the checked part, the replay, ``on_done``).

    Raises `InvalidAudio` (missing, empty, not audio, too large or too long) before anything
    is stored; a file of only silence gives an empty transcript without loading Whisper."""
    path = await asyncio.to_thread(path.resolve)
    duration = await asyncio.to_thread(probe_audio, path)
    audio = await asyncio.to_thread(decode_audio, path)
    recording_id = await repo.create_recording(cafe_id, None, speaker, str(path),
                                               offset_seconds)
    await repo.close_recording(recording_id, duration)
    recording = await repo.recording(recording_id)
    if len(audio) == 0 or speech_ratio(audio) == 0.0:
        await repo.ensure_job(cafe_id, recording_id)
        await repo.complete_job(recording, [])
        return []
    del audio
    if await jobs.run(recording_id, language=language) is None:  # pragma: no cover
        raise RuntimeError(f"recording {recording_id} was claimed by another run")
    return await repo.segments(cafe_id, recording_id=recording_id)


