"""Audio taps: every published audio frame, decoded once, for the recorder and captions.

A tap is a plain callback called on the event loop's thread for each decoded frame (aiortc
delivers 48 kHz stereo s16 frames of 20 ms), with the speaker's identity. It must return
quickly: hand the work to a queue or a worker. `AudioTap` is such a queue, to read with
``async for``. Resampling for Whisper is the consumer's (`transcripts.feed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import av

logger = logging.getLogger("causerie.media")

__all__ = ["AudioChunk", "AudioTap", "AudioTapCallback", "VideoChunk", "VideoTapCallback"]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One decoded audio frame of one speaker.

    ``timestamp`` is `time.monotonic()` when the frame left the decoder; ``frame`` is the
    `av.AudioFrame` as aiortc decoded it (48 kHz, s16, usually stereo, 960 samples);
    ``speaker`` the name the publisher published under.
    """

    cafe_id: int
    participant_id: int
    timestamp: float
    frame: av.AudioFrame
    speaker: str = ""


AudioTapCallback = Callable[[AudioChunk], None]


@dataclass(frozen=True, slots=True)
class VideoChunk:
    """One decoded picture of the café's camera (the video slot's publisher).

    ``timestamp`` is `time.monotonic()` when it left the decoder; ``frame`` the
    `av.VideoFrame` as aiortc decoded it (yuv420p, the camera's size). Taps must not
    modify it: the same frame goes to the VP8 re-encoder.
    """

    cafe_id: int
    participant_id: int
    timestamp: float
    frame: av.VideoFrame


VideoTapCallback = Callable[[VideoChunk], None]


class AudioTap:
    """A bounded queue of `AudioChunk`, filled by the router, read with ``async for``.

    When the reader falls behind by ``max_chunks`` (10 s of one speaker by default), the
    oldest chunk is dropped and counted in ``dropped``. `close()` ends the iteration.
    """

    def __init__(self, max_chunks: int = 500) -> None:
        self._queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._max = max_chunks
        self._closed = False
        self.dropped = 0
        self.remove: Callable[[], None] = lambda: None

    def __call__(self, chunk: AudioChunk) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self._max:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(chunk)

    def close(self) -> None:
        """Stop receiving; the iteration ends after the chunks already queued."""
        if not self._closed:
            self._closed = True
            self.remove()
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AudioChunk]:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield chunk
