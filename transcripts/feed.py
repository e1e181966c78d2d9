"""One speaker's audio into transcripts: `SpeakerFeed`, the one way in.

The media plane hands over every decoded frame of a speaker (48 kHz, as aiortc decodes
it) with the monotonic instant it left the decoder. A `SpeakerFeed` resamples it once to
the 16 kHz mono int16 Whisper wants (`Pcm16kResampler`), places it on the café's timeline
(`CafeTimeline`: café seconds, the same clock as the final transcript), and fans the chunk
out to the speaker's recording and live caption stream. Both consumers are synchronous
and cheap (`push` queues); `close` ends them when the speaker stops publishing.

Arrival instants are not sample times: aiortc's decoder thread hands frames to the event
loop in bursts whenever the loop is busy (a loaded machine, a large café), several frames
within a millisecond after a silence of 100 ms. Stamped with their arrival, a burst looked
like a hole (filled with silence) then an overlap (the recorder drops what it already has):
the recording lost whole syllables, and Whisper turned the rest into nonsense. `FeedClock`
lays a speaker's frames end to end and keeps a hole only where the media says there is one
(the frames' RTP-derived `pts`) or, without `pts`, where arrival is far ahead of the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from transcripts.captions import CaptionStream
from transcripts.recorder import SpeakerRecording

log = logging.getLogger("causerie.transcripts")

__all__ = ["CafeTimeline", "FeedClock", "Pcm16kResampler", "Speaker", "SpeakerFeed"]

PCM = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who is speaking: the recording's and the captions' speaker."""

    cafe_id: int
    participant_id: int | None
    name: str


@dataclass(frozen=True, slots=True)
class CafeTimeline:
    """Café seconds of a monotonic instant: ``offset + (monotonic - reference)``.

    ``offset`` is how far into the café ``reference`` was (after a restart mid-café the
    café opened long before this process started)."""

    reference: float
    offset: float

    def cafe_time(self, monotonic: float) -> float:
        return self.offset + monotonic - self.reference


@dataclass(slots=True)
class FeedClock:
    """Where each chunk of one speaker's audio starts on the café timeline (pure).

    The first chunk starts at its arrival. Each next one starts where the previous ended,
    plus the hole its media time shows (`pts` seconds: the sender's clock, which jitter and
    bursts do not touch; a muted stretch or lost packets advance it). Without a usable
    `pts` (none, going backwards: a new stream; or jumping more than `max_hole` ahead), the
    arrival decides, and only when it is more than `resync` ahead of the end: a real
    pause in what was sent. A chunk never starts before the previous one ended, so
    nothing is dropped as an overlap."""

    resync: float = 0.5
    max_hole: float = 600.0
    _end: float | None = None  # café time after the last sample placed
    _pts_end: float | None = None  # media time after the last sample placed

    def place(self, arrival: float, duration: float, pts: float | None = None) -> float:
        """The café time of a chunk of ``duration`` seconds that arrived at ``arrival``
        (café seconds), its first sample at media time ``pts`` (seconds) if known."""
        end, pts_end = self._end, self._pts_end
        if end is None:
            start = arrival
        elif pts is not None and pts_end is not None and 0 <= pts - pts_end <= self.max_hole:
            hole = pts - pts_end
            start = end + (hole if hole > 0.01 else 0.0)  # sub-frame rounding is no hole
        else:
            start = arrival if arrival - end > self.resync else end
        self._end = start + duration
        self._pts_end = None if pts is None else pts + duration
        return start


class Pcm16kResampler:
    """Resample one speaker's frames to 16 kHz mono int16 (keep one per speaker)."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)

    def resample(self, frame: av.AudioFrame) -> PCM:
        parts = [out.to_ndarray().reshape(-1) for out in self._resampler.resample(frame)]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(parts).astype(np.int16, copy=False)


class SpeakerFeed:
    """One speaker's 16 kHz chunks with café timestamps, to the recording and captions."""

    def __init__(self, speaker: Speaker, timeline: CafeTimeline, *,
                 recording: SpeakerRecording | None = None,
                 captions: CaptionStream | None = None) -> None:
        self.speaker = speaker
        self.timeline = timeline
        self.recording = recording
        self.captions = captions
        self._resampler = Pcm16kResampler()
        self.clock = FeedClock()
        self._closed = False

    def push_frame(self, frame: av.AudioFrame, monotonic: float) -> None:
        """A decoded frame that left the decoder at ``monotonic``."""
        pcm = self._resampler.resample(frame)
        if not len(pcm):
            return
        pts = (float(frame.pts * frame.time_base)
               if frame.pts is not None and frame.time_base is not None else None)
        start = self.clock.place(self.timeline.cafe_time(monotonic), len(pcm) / 16000, pts)
        self.push(pcm, start)

    def push(self, pcm: PCM, cafe_time: float) -> None:
        """16 kHz mono samples, the first one at ``cafe_time`` café seconds."""
        if self._closed:
            return
        if self.recording is not None:
            self.recording.push(pcm, cafe_time)
        if self.captions is not None:
            self.captions.push(pcm, cafe_time)

    async def close(self) -> None:
        """The speaker stopped: flush the captions, close the recording's part."""
        if self._closed:
            return
        self._closed = True
        if self.captions is not None:
            self.captions.close()
        if self.recording is not None:
            await self.recording.service.close_recording(self.recording)
