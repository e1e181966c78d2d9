"""Connects the live media to the transcripts runtime: every speaker's decoded audio goes,
resampled to 16 kHz mono, to the recorder and the live captions; captions go back to the
café's room. Lives in `server` because signaling and transcripts do not import each other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.keys import CAFES, CLOCK, CONFIG, DATABASE
from signaling import rooms
from signaling.keys import HUB, MEDIA, SOCKETIO
from signaling.media import AudioChunk, MediaRouter, Pcm16kResampler
from transcripts.caption_lines import CaptionMessage
from transcripts.keys import TRANSCRIPTS
from transcripts.recorder import SpeakerTap
from transcripts.runtime import Transcripts, TranscriptsValues

log = logging.getLogger("causerie.recording")


@dataclass(slots=True)
class _Speaker:
    tap: SpeakerTap
    resampler: Pcm16kResampler = field(default_factory=Pcm16kResampler)


@dataclass(slots=True)
class _CafeTaps:
    # Café time of a monotonic instant: café seconds = offset + (monotonic - reference).
    reference: float
    offset: float
    remove: Any
    names: dict[int, str] = field(default_factory=dict)
    speakers: dict[int, _Speaker] = field(default_factory=dict)


class RecordingBridge:
    """A `signaling.hub.CafeObserver`: opens a recorder tap per speaker, closes it when the
    speaker stops, and hands the café to the final transcript when it ends."""

    def __init__(self, app: web.Application, transcripts: Transcripts,
                 media: MediaRouter | None) -> None:
        self.app = app
        self.transcripts = transcripts
        self.media = media
        self._cafes: dict[int, _CafeTaps] = {}

    async def cafe_opened(self, cafe_id: int) -> None:
        await self.transcripts.cafe_opened(cafe_id)

    async def publishers_changed(self, cafe_id: int, publishers: dict[int, str]) -> None:
        state = self._cafes.get(cafe_id)
        if state is None:
            if not publishers or self.media is None:
                return
            state = await self._start(cafe_id)
        state.names = dict(publishers)
        for participant_id in [p for p in state.speakers if p not in publishers]:
            speaker = state.speakers.pop(participant_id)
            await self.transcripts.close_tap(speaker.tap)
            log.info("speaker stopped cafe=%s participant=%s", cafe_id, participant_id)

    async def cafe_closed(self, cafe_id: int) -> None:
        state = self._cafes.pop(cafe_id, None)
        if state is not None:
            state.remove()
            for speaker in state.speakers.values():
                await self.transcripts.close_tap(speaker.tap)
        queued = await self.transcripts.cafe_ended(cafe_id)
        log.info("café handed to the final transcript cafe=%s recordings=%d", cafe_id,
                 len(queued))

    async def _start(self, cafe_id: int) -> _CafeTaps:
        assert self.media is not None
        cafe = await self.app[CAFES].get_by_id(cafe_id)
        # After a restart mid-café the café opened long ago: place audio by the wall clock.
        opened = cafe.opened_at or self.app[CLOCK].now()
        offset = max(0.0, (self.app[CLOCK].now() - opened).total_seconds())
        await self.transcripts.cafe_opened(cafe_id)
        state = _CafeTaps(reference=time.monotonic(), offset=offset, remove=None)
        state.remove = self.media.add_audio_tap(cafe_id, lambda chunk: self._on_chunk(state,
                                                                                     chunk))
        self._cafes[cafe_id] = state
        log.info("recording cafe=%s from=%.1fs", cafe_id, offset)
        return state

    def _on_chunk(self, state: _CafeTaps, chunk: AudioChunk) -> None:
        speaker = state.speakers.get(chunk.participant_id)
        if speaker is None:
            name = state.names.get(chunk.participant_id, f"#{chunk.participant_id}")
            tap = self.transcripts.open_tap(chunk.cafe_id, chunk.participant_id, name)
            speaker = state.speakers[chunk.participant_id] = _Speaker(tap)
            log.info("speaker started cafe=%s participant=%s", chunk.cafe_id,
                     chunk.participant_id)
        pcm = speaker.resampler.resample(chunk.frame)
        if len(pcm):
            speaker.tap.push(pcm, state.offset + chunk.timestamp - state.reference)

    async def aclose(self) -> None:
        for cafe_id, state in list(self._cafes.items()):
            state.remove()
            for speaker in state.speakers.values():
                await self.transcripts.close_tap(speaker.tap)
            del self._cafes[cafe_id]


async def transcripts_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Start the transcripts runtime after signaling (it needs the media router and the
    socket.io server), stop it before."""
    config = app[CONFIG]
    sio: Any = app[SOCKETIO]

    async def emit_caption(message: CaptionMessage) -> None:
        await sio.emit(message.event, message.payload(), room=rooms.cafe_room(message.cafe_id))

    whisper = config.whisper
    runtime = await Transcripts.start(
        app[DATABASE],
        TranscriptsValues(
            data_dir=config.data_dir, redis_url=config.redis_url, model=whisper.model,
            device=whisper.device, compute_type=whisper.compute_type,
            cpu_threads=whisper.cpu_threads, beam_size=whisper.beam_size,
            live_captions=whisper.live_captions),
        emit_caption=emit_caption)
    app[TRANSCRIPTS] = runtime
    bridge = RecordingBridge(app, runtime, app.get(MEDIA))
    app[HUB].observers.append(bridge)
    yield
    app[HUB].observers.remove(bridge)
    await bridge.aclose()
    await runtime.aclose()
