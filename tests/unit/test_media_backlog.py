"""`FrameBacklog`: the bounded queue between a publisher's decoder and its shared encoder."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from aiortc.mediastreams import MediaStreamError

from signaling.media import MediaStats
from signaling.media.backlog import FrameBacklog


@dataclass
class Frame:
    n: int
    key_frame: bool = False


def test_full_backlog_drops_the_oldest_frame_and_counts_it() -> None:
    stats = MediaStats()
    backlog: FrameBacklog[Frame] = FrameBacklog(3, stats)
    for n in range(10):
        backlog.put(Frame(n))
    assert len(backlog) == 3
    assert stats.video_frames_dropped == 7

    async def drain() -> list[int]:
        return [(await backlog.get()).n for _ in range(3)]

    assert asyncio.run(drain()) == [7, 8, 9]


def test_keyframes_are_dropped_last() -> None:
    stats = MediaStats()
    backlog: FrameBacklog[Frame] = FrameBacklog(3, stats)
    backlog.put(Frame(0, key_frame=True))
    for n in range(1, 6):
        backlog.put(Frame(n))
    assert stats.video_frames_dropped == 3

    async def drain() -> list[int]:
        return [(await backlog.get()).n for _ in range(3)]

    assert asyncio.run(drain()) == [0, 4, 5]

    only_keys: FrameBacklog[Frame] = FrameBacklog(2, stats)
    for n in range(4):
        only_keys.put(Frame(n, key_frame=True))
    assert len(only_keys) == 2
    assert stats.video_frames_dropped == 5


def test_get_waits_for_a_frame_and_ends_after_the_backlog_is_drained() -> None:
    async def scenario() -> list[int]:
        backlog: FrameBacklog[Frame] = FrameBacklog(2, MediaStats())
        waiting = asyncio.create_task(backlog.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        backlog.put(Frame(1))
        first = await waiting
        backlog.put(Frame(2))
        backlog.end()
        second = await backlog.get()
        with pytest.raises(MediaStreamError):
            await backlog.get()
        return [first.n, second.n]

    assert asyncio.run(scenario()) == [1, 2]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FrameBacklog(0, MediaStats())
