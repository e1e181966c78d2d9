"""The transcripts runtime a server process holds: recorder, captions, job queue, pools.

Built once at start-up (`Transcripts.start`), stored under `transcripts.keys.TRANSCRIPTS`,
closed at clean-up (`aclose`). Each publisher's audio comes in through one `SpeakerFeed`
(`open_feed`, closed when publishing stops), which fans out to the recording and the live
captions; captions go out as typed messages to `emit_caption`. The server calls
`cafe_opened` and `cafe_ended`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sessions.storage.database import Database
from transcripts.caption_lines import CaptionMessage
from transcripts.captions import (
    CaptionService,
    CaptionSettings,
    CaptionWhisperFactory,
    caption_prompt,
)
from transcripts.engine import TranscriberPool, WhisperFactory
from transcripts.feed import CafeTimeline, Speaker, SpeakerFeed
from transcripts.jobs import (
    ArqJobQueue,
    JobQueue,
    LocalJobQueue,
    TranscriptJobs,
    enqueue_cafe,
)
from transcripts.recorder import RecorderPolicy, RecorderService
from transcripts.repository import TranscriptRepository
from transcripts.settings import WhisperSettings

log = logging.getLogger("causerie.transcripts")

EmitCaption = Callable[[CaptionMessage], Awaitable[None]]

# The final transcript's worker process runs well below the live media and the captions
# (`CaptionSettings.nice`): it has the whole café to catch up (see DESIGN pitfalls).
JOBS_NICE = 15


async def caption_service(settings: WhisperSettings, emit: EmitCaption,
                          captions: CaptionSettings | None = None,
                          ) -> tuple[CaptionService, TranscriberPool]:
    """The live caption service on its own warmed-up worker process."""
    captions = captions or CaptionSettings()
    model = settings.model_copy(update={"cpu_threads": captions.cpu_threads})
    pool = TranscriberPool(CaptionWhisperFactory(model, captions.encoder_pad),
                           nice=captions.nice)
    await pool.warm_up()
    return CaptionService(pool, emit, settings=captions), pool


@dataclass(frozen=True)
class TranscriptsValues:
    """What the runtime needs of the server's config: its ``whisper`` section as it is,
    where the data lives, the job queue's Redis; ``captions`` tunes the caption worker
    (default: `CaptionSettings` with the section's ``caption_max_wait``)."""

    data_dir: Path
    redis_url: str = ""
    whisper: WhisperSettings = field(default_factory=WhisperSettings)
    captions: CaptionSettings | None = None

    def caption_settings(self) -> CaptionSettings:
        if self.captions is not None:
            return self.captions
        return CaptionSettings(max_wait=self.whisper.caption_max_wait)


class Transcripts:
    def __init__(self, repo: TranscriptRepository, recorder: RecorderService,
                 queue: JobQueue, jobs: TranscriptJobs | None,
                 captions: CaptionService | None, pools: list[TranscriberPool]) -> None:
        self.repo = repo
        self.recorder = recorder
        self.queue = queue
        self.jobs = jobs
        self.captions = captions
        self._pools = pools

    @classmethod
    async def start(cls, db: Database, values: TranscriptsValues,
                    emit_caption: EmitCaption | None = None,
                    recorder_policy: RecorderPolicy | None = None) -> Transcripts:
        repo = TranscriptRepository(db)
        settings = values.whisper.resolved(values.data_dir)
        pools: list[TranscriberPool] = []
        queue: JobQueue
        jobs: TranscriptJobs | None = None
        if values.redis_url:
            queue = await ArqJobQueue.connect(values.redis_url)
        else:
            jobs_pool = TranscriberPool(WhisperFactory(settings), nice=JOBS_NICE)
            pools.append(jobs_pool)
            jobs = TranscriptJobs(repo, jobs_pool, replay_dir=values.data_dir / "recordings")
            local = LocalJobQueue(jobs)
            await local.start()
            queue = local
        captions = None
        if values.whisper.live_captions and emit_caption is not None:
            captions, caption_pool = await caption_service(settings, emit_caption,
                                                           values.caption_settings())
            pools.append(caption_pool)
        recorder = RecorderService(repo, values.data_dir / "recordings",
                                   on_closed=queue.enqueue, policy=recorder_policy)
        return cls(repo, recorder, queue, jobs, captions, pools)

    async def cafe_opened(self, cafe_id: int) -> None:
        cafe = await self.repo.cafe(cafe_id)
        if cafe is not None and self.captions is not None:
            self.captions.configure_cafe(cafe_id, cafe.language,
                                         caption_prompt(cafe.title, cafe.glossary))

    def open_feed(self, speaker: Speaker, timeline: CafeTimeline) -> SpeakerFeed:
        """A publisher's audio: `feed.push_frame(frame, monotonic)` per decoded frame,
        `await feed.close()` when publishing stops."""
        captions = (self.captions.open(speaker.cafe_id, speaker.name)
                    if self.captions is not None else None)
        recording = self.recorder.open(speaker.cafe_id, speaker.participant_id, speaker.name)
        return SpeakerFeed(speaker, timeline, recording=recording, captions=captions)

    async def cafe_ended(self, cafe_id: int) -> list[int]:
        """Close the café's taps and queue what is left to transcribe (idempotent)."""
        await self.recorder.close_cafe(cafe_id)
        return await enqueue_cafe(self.repo, self.queue, cafe_id)

    async def aclose(self) -> None:
        await self.recorder.aclose()
        if self.captions is not None:
            await self.captions.aclose()
        if isinstance(self.queue, LocalJobQueue | ArqJobQueue):
            await self.queue.aclose()
        for pool in self._pools:
            await pool.aclose()
