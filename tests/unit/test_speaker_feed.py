"""`SpeakerFeed`: one speaker's decoded frames become 16 kHz chunks on the café's timeline,
the same chunks to the recording and the live captions."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from transcripts.feed import CafeTimeline, Speaker, SpeakerFeed
from transcripts.recorder import RecorderService


class Rows:
    """The recordings table of the test (the recorder's `RecordingStore` seam)."""

    def __init__(self) -> None:
        self.opened: list[tuple[int, int | None, str, float]] = []
        self.closed: list[tuple[int, float]] = []

    async def create_recording(self, cafe_id: int, participant_id: int | None, speaker: str,
                               path: str, offset_seconds: float) -> int:
        self.opened.append((cafe_id, participant_id, speaker, offset_seconds))
        return len(self.opened)

    async def close_recording(self, recording_id: int, duration_seconds: float) -> None:
        self.closed.append((recording_id, duration_seconds))


class Captions:
    """Stands for a `CaptionStream`: what it was pushed, and whether it was flushed."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, float]] = []
        self.closed = False

    def push(self, pcm: npt.NDArray[np.int16], timestamp: float) -> None:
        assert pcm.dtype == np.int16 and pcm.ndim == 1
        self.chunks.append((len(pcm), timestamp))

    def close(self) -> None:
        self.closed = True


def _frame(i: int) -> av.AudioFrame:
    t = (np.arange(960) + i * 960) / 48000
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]).T.reshape(1, -1).copy(),
                                       format="s16", layout="stereo")
    frame.sample_rate = 48000
    return frame


async def test_frames_reach_recording_and_captions_in_cafe_time(tmp_path: Path) -> None:
    rows = Rows()
    recorder = RecorderService(rows, tmp_path)
    captions = Captions()
    speaker = Speaker(cafe_id=3, participant_id=8, name="Dr Martin")
    # This process started 600 s into the café; monotonic 1000.0 is that instant.
    feed = SpeakerFeed(speaker, CafeTimeline(reference=1000.0, offset=600.0),
                       recording=recorder.open(3, 8, "Dr Martin"),
                       captions=captions)  # type: ignore[arg-type]
    for i in range(100):  # two seconds of 20 ms frames
        feed.push_frame(_frame(i), 1000.0 + i * 0.02)
    await feed.close()
    await feed.close()  # idempotent
    feed.push_frame(_frame(100), 1002.0)  # after close: ignored
    await recorder.aclose()

    assert captions.closed
    samples = sum(n for n, _ in captions.chunks)
    assert 31_000 <= samples <= 32_000  # two seconds at 16 kHz, minus the resampler's delay
    assert 600.0 <= captions.chunks[0][1] < 600.1 and captions.chunks[-1][1] < 602.0
    assert rows.opened == [(3, 8, "Dr Martin", rows.opened[0][3])]
    assert 600.0 <= rows.opened[0][3] < 600.1
    assert len(rows.closed) == 1 and 1.8 < rows.closed[0][1] <= 2.1
