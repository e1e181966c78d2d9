"""Wiring only: the media plane's audio taps into the transcripts runtime's speaker feeds,
and its captions out through the hub's one emit path. Lives in `server` because signaling
and transcripts do not import each other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from server.broadcast import BROADCASTS
from server.keys import CAFES, CLOCK, CONFIG, DATABASE
from sessions.events import Audience, Outbound
from signaling.keys import HUB, MEDIA
from signaling.media import AudioChunk, MediaRouter
from transcripts.caption_lines import CaptionLine, CaptionMessage
from transcripts.feed import CafeTimeline, Speaker, SpeakerFeed
from transcripts.keys import TRANSCRIPTS
from transcripts.runtime import Transcripts, TranscriptsValues

log = logging.getLogger("causerie.recording")


@dataclass(slots=True)
class _Cafe:
    timeline: CafeTimeline
    remove_tap: Callable[[], None] | None = None
    feeds: dict[int, SpeakerFeed] = field(default_factory=dict)


class RecordingBridge:
    """A `signaling.hub.CafeObserver`: a `SpeakerFeed` per speaker from their first frame,
    closed when they stop publishing; the café handed to the final transcript at its end."""

    def __init__(self, app: web.Application, transcripts: Transcripts,
                 media: MediaRouter | None) -> None:
        self.app = app
        self.transcripts = transcripts
        self.media = media
        self._cafes: dict[int, _Cafe] = {}

    async def cafe_opened(self, cafe_id: int) -> None:
        await self.transcripts.cafe_opened(cafe_id)

    async def publishers_changed(self, cafe_id: int, publishers: dict[int, str]) -> None:
        state = self._cafes.get(cafe_id)
        if state is None:
            if not publishers or self.media is None:
                return
            state = await self._start(cafe_id)
        for participant_id in [p for p in state.feeds if p not in publishers]:
            await state.feeds.pop(participant_id).close()
            log.info("speaker stopped cafe=%s participant=%s", cafe_id, participant_id)

    async def cafe_closed(self, cafe_id: int) -> None:
        await self._stop(cafe_id)
        queued = await self.transcripts.cafe_ended(cafe_id)
        log.info("café handed to the final transcript cafe=%s recordings=%d", cafe_id,
                 len(queued))

    async def _start(self, cafe_id: int) -> _Cafe:
        assert self.media is not None
        cafe = await self.app[CAFES].get_by_id(cafe_id)
        # After a restart mid-café the café opened long ago: place audio by the wall clock.
        now = self.app[CLOCK].now()
        offset = max(0.0, (now - (cafe.opened_at or now)).total_seconds())
        await self.transcripts.cafe_opened(cafe_id)
        state = _Cafe(CafeTimeline(reference=time.monotonic(), offset=offset))
        state.remove_tap = self.media.add_audio_tap(cafe_id,
                                                    lambda chunk: self._on_chunk(state, chunk))
        self._cafes[cafe_id] = state
        log.info("recording cafe=%s from=%.1fs", cafe_id, offset)
        return state

    def _on_chunk(self, state: _Cafe, chunk: AudioChunk) -> None:
        feed = state.feeds.get(chunk.participant_id)
        if feed is None:
            speaker = Speaker(chunk.cafe_id, chunk.participant_id,
                              chunk.speaker or f"#{chunk.participant_id}")
            feed = state.feeds[chunk.participant_id] = self.transcripts.open_feed(
                speaker, state.timeline)
            log.info("speaker started cafe=%s participant=%s", chunk.cafe_id,
                     chunk.participant_id)
        feed.push_frame(chunk.frame, chunk.timestamp)

    async def _stop(self, cafe_id: int) -> None:
        state = self._cafes.pop(cafe_id, None)
        if state is None:
            return
        if state.remove_tap is not None:
            state.remove_tap()
        for feed in state.feeds.values():
            await feed.close()

    async def aclose(self) -> None:
        for cafe_id in list(self._cafes):
            await self._stop(cafe_id)


async def transcripts_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Start the transcripts runtime after signaling (it needs the media router and the
    hub), stop it before."""
    config = app[CONFIG]
    hub = app[HUB]

    async def emit_caption(message: CaptionMessage) -> None:
        # The same emit path as every other event (signaling/protocol.md: `captions`).
        await hub.emit([Outbound(message.event, message.payload(), Audience.CAFE,
                                 message.cafe_id)])
        broadcasts = app.get(BROADCASTS)
        if broadcasts is not None and isinstance(message, CaptionLine) and message.final:
            broadcasts.caption(message.cafe_id, message.text, message.end - message.start)

    runtime = await Transcripts.start(
        app[DATABASE],
        TranscriptsValues(data_dir=config.data_dir, redis_url=config.redis_url,
                          whisper=config.whisper),
        emit_caption=emit_caption)
    app[TRANSCRIPTS] = runtime
    bridge = RecordingBridge(app, runtime, app.get(MEDIA))
    hub.observers.append(bridge)
    yield
    hub.observers.remove(bridge)
    await bridge.aclose()
    await runtime.aclose()
