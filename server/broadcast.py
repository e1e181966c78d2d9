"""Wiring only: a café's programme (`signaling.media.programme`) from its first
publication to its end, encoded once (`signaling.media.encoder`) into its HLS folder, with
the live captions as the WebVTT rendition; other outputs (RTMP destinations) join through
`Broadcasts.listeners`.

Folders: ``data_dir/programme/<café id>/<run>/`` (`signaling.media.hls.HlsLayout`), one
run per start of the programme in a process (a restart mid-café starts a new run: the
segments of the first are kept), and ``runs.json`` beside them: each run's name and the café
second its programme second 0 was (`ProgrammeRuns`). The replay (`server.video_replay`) is
built from them after the café (`transcripts.video_replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from server.keys import CAFES, CLOCK, CONFIG
from sessions.cafe import CafeStatus
from sessions.clock import Clock
from sessions.errors import NotFound
from sessions.service_cafes import CafeService
from signaling.keys import HUB, MEDIA
from signaling.media.encoder import Output, ProgrammeEncoder
from signaling.media.hls import HlsLayout, hls_output
from signaling.media.programme import Programme, TapSource
from signaling.media.subtitles import LiveSubtitles, first_video_pts
from signaling.settings import BroadcastSettings
from transcripts.video_replay import ProgrammeRuns, Run, VideoReplays, programme_folder

log = logging.getLogger("causerie.broadcast")

__all__ = ["BROADCASTS", "Broadcast", "Broadcasts", "broadcast_lifetime"]

SUBTITLE_TICK = 0.25  # seconds between subtitle segment checks


@dataclass(eq=False)
class Broadcast:
    """The programme of one live café in this process."""

    cafe_id: int
    slug: str
    language: str
    run: Run
    layout: HlsLayout
    programme: Programme
    encoder: ProgrammeEncoder
    hls: Output
    subtitles: LiveSubtitles
    task: asyncio.Task[None] | None = None
    extra_outputs: list[Output] = field(default_factory=list)


BroadcastListener = Callable[[Broadcast], None]


class Broadcasts:
    """A `signaling.hub.CafeObserver`: starts a café's programme with its first
    publication, ends it with the café."""

    def __init__(self, media: TapSource | None, cafes: CafeService, clock: Clock,
                 data_dir: Path, settings: BroadcastSettings) -> None:
        self.media = media
        self.cafes = cafes
        self.clock = clock
        self.data_dir = data_dir
        self.settings = settings
        # Called (on the loop) with each programme that starts: add outputs to its encoder.
        self.listeners: list[BroadcastListener] = []
        # Called (on the loop) with each café whose programme ended, its folder complete.
        self.ended: list[Callable[[int], None]] = []
        self._live: dict[int, Broadcast] = {}
        self._slugs: dict[str, int] = {}
        self._starting: set[int] = set()
        self.replays = VideoReplays(data_dir)
        self._replays: set[asyncio.Task[object]] = set()

    # -- lookups ----------------------------------------------------------------------

    def live(self, cafe_id: int) -> Broadcast | None:
        return self._live.get(cafe_id)

    def by_slug(self, slug: str) -> Broadcast | None:
        cafe_id = self._slugs.get(slug)
        return self._live.get(cafe_id) if cafe_id is not None else None

    # -- CafeObserver -----------------------------------------------------------------

    async def cafe_opened(self, cafe_id: int) -> None:
        return None

    async def publishers_changed(self, cafe_id: int, publishers: dict[int, str]) -> None:
        if not publishers or cafe_id in self._live or cafe_id in self._starting:
            return
        if self.media is None or not self.settings.enabled:
            return
        self._starting.add(cafe_id)
        try:
            await self._start(cafe_id)
        finally:
            self._starting.discard(cafe_id)

    async def cafe_closed(self, cafe_id: int) -> None:
        if await self._stop(cafe_id):
            # The video replay, remuxed from the kept segments (nothing is redacted yet: the
            # review comes after the café; a later redaction rebuilds it).
            task = asyncio.create_task(self.replays.build(cafe_id))
            self._replays.add(task)
            task.add_done_callback(self._replays.discard)
            for callback in list(self.ended):
                callback(cafe_id)

    def caption(self, cafe_id: int, text: str, spoken: float) -> None:
        """A final live caption of the café: into the WebVTT rendition, shown from now."""
        broadcast = self._live.get(cafe_id)
        if broadcast is not None:
            at = broadcast.programme.seconds(time.monotonic())
            broadcast.subtitles.add(text, at, spoken)

    # -- start and stop ---------------------------------------------------------------

    async def _start(self, cafe_id: int) -> None:
        assert self.media is not None
        try:
            cafe = await self.cafes.get_by_id(cafe_id)
        except NotFound:
            return
        if cafe.status is not CafeStatus.LIVE:
            return
        now = self.clock.now()
        cafe_seconds = max(0.0, (now - (cafe.opened_at or now)).total_seconds())
        runs = ProgrammeRuns(programme_folder(self.data_dir, cafe_id))
        run = await asyncio.to_thread(runs.add, cafe_seconds)
        layout = HlsLayout(runs.folder / run.name)
        layout.folder.mkdir(parents=True, exist_ok=True)
        settings = self.settings
        encoder = ProgrammeEncoder(settings, f"cafe={cafe_id}")
        hls = encoder.add_output(hls_output(layout, settings, window=settings.window))
        programme = Programme(self.media, cafe_id, settings)
        subtitles = LiveSubtitles(layout.folder, settings.segment_seconds, window=settings.window)
        broadcast = Broadcast(cafe_id, cafe.slug, cafe.language, run, layout, programme,
                              encoder, hls, subtitles)
        encoder.start()
        programme.sinks.append(encoder.offer)
        programme.start()
        broadcast.task = asyncio.create_task(self._subtitles(broadcast))
        self._live[cafe_id] = broadcast
        self._slugs[cafe.slug] = cafe_id
        log.info("broadcast started cafe=%s run=%s at=%.1fs", cafe_id, run.name, cafe_seconds)
        for listener in list(self.listeners):
            try:
                listener(broadcast)
            except Exception:
                log.exception("broadcast listener failed cafe=%s", cafe_id)

    async def _subtitles(self, broadcast: Broadcast) -> None:
        subtitles = broadcast.subtitles
        programme = broadcast.programme
        mapped = False
        while True:
            await asyncio.sleep(SUBTITLE_TICK)
            if not mapped:
                segments = broadcast.layout.segments()
                if not segments:
                    continue
                pts = await asyncio.to_thread(first_video_pts, segments[0])
                subtitles.mpegts_start = pts or 0
                mapped = True
            now = programme.seconds(time.monotonic())
            await asyncio.to_thread(subtitles.advance, now)

    async def _stop(self, cafe_id: int) -> bool:
        broadcast = self._live.pop(cafe_id, None)
        if broadcast is None:
            return False
        self._slugs.pop(broadcast.slug, None)
        if broadcast.task is not None:
            broadcast.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await broadcast.task
        await broadcast.programme.stop()
        await asyncio.to_thread(broadcast.encoder.close)
        await asyncio.to_thread(broadcast.subtitles.end)
        log.info("broadcast ended cafe=%s run=%s ticks=%d pictures_dropped=%d cpu=%.1fs",
                 cafe_id, broadcast.run.name, broadcast.encoder.stats.ticks,
                 broadcast.encoder.stats.pictures_dropped, broadcast.encoder.stats.cpu_seconds)
        return True

    async def aclose(self) -> None:
        for cafe_id in list(self._live):
            await self._stop(cafe_id)
        await asyncio.gather(*self._replays, return_exceptions=True)


BROADCASTS = web.AppKey("broadcasts", Broadcasts)


async def broadcast_lifetime(app: web.Application) -> AsyncIterator[None]:
    """After signaling (the media router and the hub): one `Broadcasts` observing cafés."""
    config = app[CONFIG]
    broadcasts = Broadcasts(app.get(MEDIA), app[CAFES], app[CLOCK], config.data_dir,
                            config.broadcast)
    app[BROADCASTS] = broadcasts
    hub = app[HUB]
    hub.observers.append(broadcasts)
    yield
    hub.observers.remove(broadcasts)
    await broadcasts.aclose()
