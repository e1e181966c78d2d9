"""`SpeakerFeed`: one speaker's decoded frames become 16 kHz chunks on the café's timeline,
the same chunks to the recording and the live captions."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from transcripts.feed import CafeTimeline, FeedClock, Speaker, SpeakerFeed
from transcripts.recorder import RecorderService


class Rows:
    """The recordings table of the test (the recorder's `RecordingStore` seam)."""

    def __init__(self) -> None:
        self.opened: list[tuple[int, int | None, str, float]] = []
        self.closed: list[tuple[int, float]] = []
        self.paths: list[str] = []

    async def create_recording(self, cafe_id: int, participant_id: int | None, speaker: str,
                               path: str, offset_seconds: float) -> int:
        self.opened.append((cafe_id, participant_id, speaker, offset_seconds))
        self.paths.append(path)
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


def _timed_frame(i: int, *, pts: bool = True) -> av.AudioFrame:
    frame = _frame(i)
    if pts:  # as aiortc's Opus decoder stamps it: the RTP timestamp, at 48 kHz
        frame.pts = 123_456 + i * 960
        frame.time_base = Fraction(1, 48000)
    return frame


async def _recorded(tmp_path: Path, frames: list[tuple[av.AudioFrame, float]]) -> Rows:
    rows = Rows()
    recorder = RecorderService(rows, tmp_path)
    feed = SpeakerFeed(Speaker(3, 8, "Dr Martin"), CafeTimeline(reference=1000.0, offset=0.0),
                       recording=recorder.open(3, 8, "Dr Martin"))
    for frame, arrival in frames:
        feed.push_frame(frame, arrival)
    await feed.close()
    await recorder.aclose()
    return rows


def _bursts(count: int, burst: int) -> list[float]:
    """Arrival instants of `count` 20 ms frames handed over `burst` at a time, at once, as a
    busy event loop gets them from aiortc's decoder thread."""
    return [1000.0 + (i // burst + 1) * burst * 0.02 for i in range(count)]


@pytest.mark.parametrize("pts", [True, False])
async def test_frames_arriving_in_bursts_are_all_recorded(tmp_path: Path, pts: bool) -> None:
    """Four seconds of tone handed over 10 frames (200 ms) at a time: the recording is four
    seconds long, one part, no hole and nothing dropped as an overlap (it was 0.8 s)."""
    arrivals = _bursts(200, 10)
    rows = await _recorded(tmp_path, [(_timed_frame(i, pts=pts), t)
                                      for i, t in enumerate(arrivals)])
    assert len(rows.closed) == 1
    assert 3.95 <= rows.closed[0][1] <= 4.01, rows.closed
    # the tone throughout: no 20 ms block silent (arrival stamps made 80 % of them silent)
    assert _silent_blocks(rows.paths[0]) == 0


def _silent_blocks(path: str) -> int:
    """20 ms blocks of the recorded part quieter than -40 dBFS, but the last (the codec's
    padding)."""
    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pcm = np.concatenate([out.to_ndarray().reshape(-1)
                              for f in container.decode(stream)
                              for out in resampler.resample(f)])
    blocks = pcm[: len(pcm) // 320 * 320].reshape(-1, 320).astype(np.float64)
    rms = np.sqrt((blocks ** 2).mean(axis=1)) / 32768
    return int((rms[1:-1] < 0.01).sum())


async def test_a_real_pause_stays_a_pause(tmp_path: Path) -> None:
    """The speaker was muted for 1.5 s (no frames sent: the RTP timestamps jump): the
    recording keeps the pause, so later words stay at their moment."""
    frames = [(_timed_frame(i), 1000.0 + i * 0.02) for i in range(50)]
    frames += [(_timed_frame(i), 1000.0 + i * 0.02 + 0.05) for i in range(125, 175)]
    rows = await _recorded(tmp_path, frames)
    assert len(rows.closed) == 1
    assert 3.45 <= rows.closed[0][1] <= 3.51, rows.closed  # 1 s + 1.5 s hole + 1 s


# -- FeedClock, transition by transition -----------------------------------------------------

def test_the_first_chunk_starts_at_its_arrival() -> None:
    assert FeedClock().place(12.5, 0.02, pts=900.0) == 12.5


def test_chunks_follow_each_other_whatever_their_arrival() -> None:
    clock = FeedClock()
    clock.place(10.0, 0.02, pts=0.0)
    assert clock.place(10.0, 0.02, pts=0.02) == pytest.approx(10.02)  # same arrival: a burst
    assert clock.place(10.3, 0.02, pts=0.04) == pytest.approx(10.04)  # late: a stall
    assert clock.place(9.0, 0.02, pts=0.06) == pytest.approx(10.06)  # early: never before


def test_a_hole_in_media_time_is_kept() -> None:
    clock = FeedClock()
    clock.place(10.0, 0.02, pts=5.0)
    assert clock.place(10.02, 0.02, pts=7.02) == pytest.approx(12.02)
    assert clock.place(10.02, 0.02, pts=7.045) == pytest.approx(12.04)  # 5 ms: rounding


def test_a_new_stream_goes_by_arrival() -> None:
    clock = FeedClock(resync=0.5)
    clock.place(10.0, 0.02, pts=5000.0)
    # pts went back (a republished track starts its own RTP clock): arrival within resync
    assert clock.place(10.1, 0.02, pts=3.0) == pytest.approx(10.02)
    # pts jumped past max_hole: arrival, since it is past resync
    assert clock.place(20.0, 0.02, pts=3.0 + 10_000) == 20.0


def test_without_pts_arrival_far_ahead_is_a_pause() -> None:
    clock = FeedClock(resync=0.5)
    clock.place(10.0, 0.02)
    assert clock.place(10.4, 0.02) == pytest.approx(10.02)  # within resync: end to end
    assert clock.place(11.0, 0.02) == 11.0  # past it: a pause in what was sent
    assert clock.place(5.0, 0.02) == pytest.approx(11.02)
