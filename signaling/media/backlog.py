"""`FrameBacklog`: the bounded queue between a publisher's decoder and its shared encoder."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from aiortc.mediastreams import MediaStreamError

from .stats import MediaStats

__all__ = ["VIDEO_BACKLOG", "FrameBacklog"]

VIDEO_BACKLOG = 10  # decoded frames waiting for the shared encoder (1/3 s at 30 fps)
T = TypeVar("T")


class FrameBacklog(Generic[T]):
    """The decoded frames of one publisher waiting for its encoder, at most ``limit``.

    aiortc's receiving track queues decoded frames without bound; the router drains it into
    this backlog as frames arrive, so an encoder that falls behind (a busy core) costs
    dropped frames and not memory plus ever-growing latency. When full, `put` drops the
    oldest frame that is not a keyframe (the oldest frame when all are), counting it in
    ``stats.video_frames_dropped``. A decoded frame is a whole picture to the re-encoder,
    so any drop leaves the outgoing stream decodable.
    """

    def __init__(self, limit: int, stats: MediaStats) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._stats = stats
        self._frames: deque[T] = deque()
        self._ready = asyncio.Event()
        self._ended = False

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: T) -> None:
        frames = self._frames
        if len(frames) >= self.limit:
            for i, queued in enumerate(frames):
                if not getattr(queued, "key_frame", False):
                    del frames[i]
                    break
            else:
                frames.popleft()
            self._stats.video_frames_dropped += 1
        frames.append(frame)
        self._ready.set()

    def end(self) -> None:
        """No more frames: `get` raises `MediaStreamError` once the backlog is empty."""
        self._ended = True
        self._ready.set()

    async def get(self) -> T:
        while not self._frames:
            if self._ended:
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()
