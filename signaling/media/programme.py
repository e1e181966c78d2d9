"""A café's programme: the camera's pictures and every stage speaker's audio mixed, on one
clock, ready for one encode (`signaling.media.encoder`) shared by HLS and RTMP.

`Programme` listens to the media router's taps (the same decoded frames the VP8 and Opus
re-encoders get; no second decode): the video tap keeps the latest picture of whoever
publishes the café's camera, the audio taps feed an `AudioMixer` (48 kHz mono). A ticker on
the event loop produces one `ProgrammeTick` per frame period (constant frame rate: the
latest picture again while the camera sends nothing new, black once it has been silent for
``stale_after``), with the audio mixed ``audio_delay`` behind (so frames that arrive a little
late are still mixed). Ticks go to sinks, plain callbacks that must not block (the encoder
queues them for its thread).

Times: tick ``index`` is in frame periods since ``started_at`` (a `time.monotonic()`
instant); ``audio_start`` in samples since the same instant. The wiring turns
``started_at`` into café seconds (`server.broadcast`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import av
import numpy as np

from signaling.settings import AUDIO_RATE, BroadcastSettings

from .mixer import PCM, AudioMixer
from .taps import AudioChunk, AudioTapCallback, VideoChunk, VideoTapCallback

logger = logging.getLogger("causerie.media")

__all__ = [
    "AUDIO_RATE",
    "Programme",
    "ProgrammeSink",
    "ProgrammeStats",
    "ProgrammeTick",
    "TapSource",
]

@dataclass(frozen=True, slots=True)
class ProgrammeTick:
    """One frame period of the programme.

    ``video``: the picture to show (the camera's size; None: black). ``audio``: the mix of
    ``samples_per_tick`` samples starting at sample ``audio_start`` (None for the first
    ``audio_delay``). ``produced_at``: `time.monotonic()` when the tick was made, and
    ``picture_at`` when its picture left the decoder (None: black), for latency figures.
    """

    index: int
    video: av.VideoFrame | None
    audio: PCM | None
    audio_start: int
    produced_at: float
    picture_at: float | None = None


ProgrammeSink = Callable[[ProgrammeTick], None]


class TapSource(Protocol):
    """What the programme needs of the media router (`MediaRouter` is one)."""

    def add_audio_tap(self, cafe_id: int, callback: AudioTapCallback) -> Callable[[], None]:
        ...

    def add_video_tap(self, cafe_id: int, callback: VideoTapCallback) -> Callable[[], None]:
        ...


@dataclass(slots=True)
class ProgrammeStats:
    """Counters of one café's programme (all only grow)."""

    ticks: int = 0
    ticks_skipped: int = 0  # the event loop was too late: ticks never made
    pictures: int = 0  # pictures received from the camera tap
    audio_chunks: int = 0
    sink_errors: int = 0


@dataclass(eq=False)
class _State:
    picture: av.VideoFrame | None = None
    picture_at: float = 0.0
    resamplers: dict[int, av.AudioResampler] = field(default_factory=dict)


class Programme:
    """The programme of one café; `start` it, add sinks, `stop` it at the end.

    ``settings``: the operator's (size, rate; `server.config.Config.broadcast` as it is).
    ``audio_delay``: the mix is taken this far behind the pictures' clock; ``stale_after``:
    no new picture for this long, black."""

    def __init__(self, media: TapSource, cafe_id: int, settings: BroadcastSettings, *,
                 clock: Callable[[], float] = time.monotonic, audio_delay: float = 0.3,
                 stale_after: float = 1.0) -> None:
        self.media = media
        self.cafe_id = cafe_id
        self.settings = settings
        self.clock = clock
        self.audio_delay = audio_delay
        self.stale_after = stale_after
        self.sinks: list[ProgrammeSink] = []
        self.stats = ProgrammeStats()
        self.started_at = 0.0
        self.mixer = AudioMixer(AUDIO_RATE)
        self._state = _State()
        self._removers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Listen to the café's taps and start ticking (on the running loop)."""
        if self._task is not None:
            return
        self.started_at = self.clock()
        self._removers = [
            self.media.add_audio_tap(self.cafe_id, self._on_audio),
            self.media.add_video_tap(self.cafe_id, self._on_video),
        ]
        self._task = asyncio.create_task(self._run())
        logger.info("programme started cafe=%s size=%dx%d fps=%d", self.cafe_id,
                    self.settings.width, self.settings.height, self.settings.fps)

    async def stop(self) -> None:
        """Stop listening and ticking (the sinks are the caller's to close)."""
        for remove in self._removers:
            remove()
        self._removers = []
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        logger.info("programme stopped cafe=%s ticks=%d skipped=%d", self.cafe_id,
                    self.stats.ticks, self.stats.ticks_skipped)

    def seconds(self, monotonic: float) -> float:
        """Programme seconds of a monotonic instant."""
        return monotonic - self.started_at

    # -- taps (event loop, must be quick) ---------------------------------------------

    def _on_video(self, chunk: VideoChunk) -> None:
        self._state.picture = chunk.frame
        self._state.picture_at = chunk.timestamp
        self.stats.pictures += 1

    def _on_audio(self, chunk: AudioChunk) -> None:
        state = self._state
        resampler = state.resamplers.get(chunk.participant_id)
        if resampler is None:
            resampler = state.resamplers[chunk.participant_id] = av.AudioResampler(
                format="s16", layout="mono", rate=AUDIO_RATE)
        parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(chunk.frame)]
        if not parts:
            return
        samples = np.concatenate(parts).astype(np.int16, copy=False)
        duration = len(samples) / AUDIO_RATE
        # The instant is when the frame left the decoder: its first sample is a frame earlier.
        position = round((chunk.timestamp - duration - self.started_at) * AUDIO_RATE)
        self.mixer.push(chunk.participant_id, samples, position)
        self.stats.audio_chunks += 1

    # -- the ticker -------------------------------------------------------------------

    def make_tick(self, index: int, now: float) -> ProgrammeTick:
        """Tick ``index``: the latest picture (or black) and the mix ``audio_delay``
        behind. Ticks must be made in order (the mixer's cursor moves on)."""
        settings = self.settings
        state = self._state
        fresh = state.picture is not None and now - state.picture_at <= self.stale_after
        delay_ticks = math.ceil(self.audio_delay * settings.fps)
        audio: PCM | None = None
        audio_start = (index - delay_ticks) * settings.samples_per_tick
        if audio_start >= 0:
            self.mixer.cursor = max(self.mixer.cursor, audio_start)
            audio_start = self.mixer.cursor
            audio = self.mixer.pull(settings.samples_per_tick)
        self.stats.ticks += 1
        return ProgrammeTick(index, state.picture if fresh else None, audio, audio_start,
                             now, state.picture_at if fresh else None)

    async def _run(self) -> None:
        fps = self.settings.fps
        index = 0
        while True:
            now = self.clock()
            due = int((now - self.started_at) * fps) + 1
            if due - index > 2 * fps:  # the loop stalled for seconds: do not catch up
                self.stats.ticks_skipped += due - 1 - index
                index = due - 1
            while index < due:
                tick = self.make_tick(index, now)
                index += 1
                for sink in list(self.sinks):
                    try:
                        sink(tick)
                    except Exception:
                        self.stats.sink_errors += 1
                        logger.exception("programme sink failed cafe=%s", self.cafe_id)
            await asyncio.sleep(max(0.0, self.started_at + index / fps - self.clock()))
