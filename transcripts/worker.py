"""`causerie worker`: arq workers that run transcript jobs from Redis.

The CLI builds the values from its Config and calls `run_worker`; each worker process owns
one database engine and one Whisper worker process (niced), and runs one job at a time.

Retries: a job that raises is retried by arq (`Retry`, with back-off) up to `MAX_TRIES`; a
job cancelled by a stopping worker gives its claim back and arq runs it again at once; a
worker killed outright leaves arq's in-progress key, which expires `job_timeout` + 10 s
later, when the database claim is stale too (`job_timeout` >= `stale_after`), so the next
worker runs it. Segments are written once, in the job's last transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transcripts.engine import TranscriberPool, WhisperFactory
from transcripts.errors import RecordingNotFound
from transcripts.jobs import QUEUE_NAME, STALE_AFTER, TranscriptJobs
from transcripts.repository import TranscriptRepository
from transcripts.search import open_database
from transcripts.settings import WhisperSettings

log = logging.getLogger("causerie.transcripts")


@dataclass(frozen=True)
class WorkerValues:
    database_url: str
    redis_url: str
    data_dir: Path
    whisper: WhisperSettings = field(default_factory=WhisperSettings)  # the config section
    nice: int = 15
    queue_name: str = QUEUE_NAME
    # A part is at most a few minutes of audio (recorder.part_max_seconds): 15 min is ample
    # even on a loaded machine, and it is how long a killed worker's job waits for a retry.
    job_timeout: float = 15 * 60
    stale_after: float = STALE_AFTER.total_seconds()


MAX_TRIES = 5
RETRY_DELAY = 10.0  # seconds, times the try number


async def transcribe_recording(ctx: dict[str, Any], recording_id: int) -> int | None:
    from arq.worker import Retry

    jobs: TranscriptJobs = ctx["transcript_jobs"]
    tries = int(ctx.get("job_try", 1))
    try:
        count = await jobs.run(recording_id)
    except RecordingNotFound:  # deleted since: nothing to do
        return None
    except Exception as exc:  # failed (and marked so): again later, up to MAX_TRIES
        if tries < MAX_TRIES:
            raise Retry(defer=RETRY_DELAY * tries) from exc
        raise
    if count is None:
        job = await jobs.repo.job(recording_id)
        if job is not None and job.status == "running" and tries < MAX_TRIES:
            # Claimed by a run that is neither done nor stale yet (a worker killed a moment
            # ago, its arq lock expired early): try again once the claim is stale.
            raise Retry(defer=jobs.stale_after.total_seconds() + 1)
    return count


def worker_settings(values: WorkerValues,
                    pool_factory: Callable[[], TranscriberPool] | None = None
                    ) -> dict[str, Any]:
    """arq `Worker` keyword arguments (functions, hooks, Redis, queue, limits).

    `pool_factory` replaces the Whisper worker process (tests pass a fake transcriber)."""
    from arq.connections import RedisSettings
    from arq.worker import func

    async def startup(ctx: dict[str, Any]) -> None:
        db = open_database(values.database_url)
        pool = pool_factory() if pool_factory is not None else TranscriberPool(
            WhisperFactory(values.whisper.resolved(values.data_dir)), nice=values.nice)
        ctx["db"] = db
        ctx["pool"] = pool
        ctx["transcript_jobs"] = TranscriptJobs(
            TranscriptRepository(db), pool,
            stale_after=dt.timedelta(seconds=values.stale_after),
            replay_dir=values.data_dir / "recordings")
        log.info("transcript worker started queue=%s", values.queue_name)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["pool"].aclose()
        await ctx["db"].close()

    return {
        "functions": [func(transcribe_recording, name="transcribe_recording",
                           max_tries=MAX_TRIES, timeout=values.job_timeout)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(values.redis_url),
        "queue_name": values.queue_name,
        "max_jobs": 1,
        # No result kept: the database holds the outcome, and a kept result would make arq
        # ignore a later enqueue of the same recording (e.g. after a failure).
        "keep_result": 0,
        "retry_jobs": True,
        "handle_signals": True,
    }


async def run_worker(values: WorkerValues) -> None:
    """Run one arq worker until cancelled or signalled (SIGINT/SIGTERM)."""
    from arq.worker import Worker

    worker = Worker(**worker_settings(values))
    try:
        await worker.async_run()
    finally:
        await worker.close()
