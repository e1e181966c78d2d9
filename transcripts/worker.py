"""`causerie worker`: arq workers that run transcript jobs from Redis.

The CLI builds the values from its Config and calls `run_worker`; each worker process owns
one database engine and one Whisper worker process (niced), and runs one job at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessions.storage.database import Database
from transcripts.engine import TranscriberPool, WhisperFactory, WhisperSettings
from transcripts.jobs import STALE_AFTER, TranscriptJobs
from transcripts.model import default_cache_dir, resolve_model
from transcripts.repository import TranscriptRepository

log = logging.getLogger("causerie.transcripts")


@dataclass(frozen=True)
class WorkerValues:
    database_url: str
    redis_url: str
    data_dir: Path
    model: str = ""
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 5
    nice: int = 10


def whisper_settings(values: WorkerValues) -> WhisperSettings:
    return WhisperSettings(
        model=resolve_model(values.model, default_cache_dir(values.data_dir)),
        device=values.device, compute_type=values.compute_type,
        cpu_threads=values.cpu_threads, beam_size=values.beam_size)


async def transcribe_recording(ctx: dict[str, Any], recording_id: int) -> int | None:
    jobs: TranscriptJobs = ctx["transcript_jobs"]
    return await jobs.run(recording_id)


def worker_settings(values: WorkerValues) -> dict[str, Any]:
    """arq `Worker` keyword arguments (functions, hooks, Redis, limits)."""
    from arq.connections import RedisSettings
    from arq.worker import func

    async def startup(ctx: dict[str, Any]) -> None:
        db = Database(values.database_url)
        pool = TranscriberPool(WhisperFactory(whisper_settings(values)), nice=values.nice)
        ctx["db"] = db
        ctx["pool"] = pool
        ctx["transcript_jobs"] = TranscriptJobs(TranscriptRepository(db), pool)
        log.info("transcript worker started")

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["pool"].aclose()
        await ctx["db"].close()

    return {
        "functions": [func(transcribe_recording, name="transcribe_recording",
                           max_tries=5, timeout=int(STALE_AFTER.total_seconds() * 6))],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(values.redis_url),
        "max_jobs": 1,
        "keep_result": 3600,
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
