"""The recording of a real aiortc publisher through the real app while the server's event
loop is busy (`transcripts.feed.FeedClock`): a loaded machine hands decoded audio frames to
the loop in bursts; the recorded part must still hold all of it, with no hole. Stamped with
arrival instants (before 2026-12-02), a burst became silence then dropped overlap: the
speech went to Whisper in shreds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import av
import numpy as np
from aiortc import RTCPeerConnection
from media_support import publish_tone
from signaling_fixtures import Live, invite, make_cafe

from server.keys import CONFIG
from sessions.roles import Role


async def busy_loop(until: float, every: float = 0.25, block: float = 0.15) -> None:
    """What a busy server does to its loop: `block` seconds of work every `every`."""
    while time.monotonic() < until:
        await asyncio.sleep(every - block)
        time.sleep(block)  # noqa: ASYNC251 (the point: the loop is held, no frame handed over)


def silent_blocks(path: Path) -> tuple[float, int, int]:
    """The part's seconds, its 20 ms blocks and those under -40 dBFS (but the first and
    last few: the codec's start and padding)."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pcm = np.concatenate([out.to_ndarray().reshape(-1)
                              for frame in container.decode(audio=0)
                              for out in resampler.resample(frame)])
    blocks = pcm[: len(pcm) // 320 * 320].reshape(-1, 320).astype(np.float64)
    rms = np.sqrt((blocks ** 2).mean(axis=1)) / 32768
    return len(pcm) / 16000, len(rms), int((rms[5:-5] < 0.01).sum())


async def test_a_busy_loop_does_not_tear_the_recording(live: Live,
                                                       pcs: list[RTCPeerConnection]) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    expert = await live.peer()
    await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
    assert (await publish_tone(expert, pcs))["ok"] is True
    folder = Path(live.app[CONFIG].data_dir) / "recordings" / f"cafe-{cafe.id}"
    deadline = time.monotonic() + 15
    while not list(folder.glob("*.ogg")):  # the first frames arrived: a part is open
        assert time.monotonic() < deadline, "no recording started"
        await asyncio.sleep(0.1)
    await busy_loop(time.monotonic() + 4.0)
    assert (await expert.call("media.unpublish", {}))["ok"] is True
    await asyncio.sleep(1.0)  # the part is closed and written
    parts = sorted(folder.glob("*.ogg"))
    assert len(parts) == 1, parts
    seconds, blocks, silent = silent_blocks(parts[0])
    assert seconds >= 3.5, seconds  # the 4 s of the busy loop, less what the sender lost
    # a tone throughout: nothing silent inside (with arrival stamps: a third to half)
    assert silent <= blocks * 0.02, (silent, blocks)
