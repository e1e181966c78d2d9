"""One speaker's audio into transcripts: `SpeakerFeed`, the one way in.

The media plane hands over every decoded frame of a speaker (48 kHz, as aiortc decodes
it) with the monotonic instant it left the decoder. A `SpeakerFeed` resamples it once to
the 16 kHz mono int16 Whisper wants (`Pcm16kResampler`), places it on the café's timeline
(`CafeTimeline`: café seconds, the same clock as the final transcript), and fans the chunk
out to the speaker's recording and live caption stream. Both consumers are synchronous
and cheap (`push` queues); `close` ends them when the speaker stops publishing.
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

__all__ = ["CafeTimeline", "Pcm16kResampler", "Speaker", "SpeakerFeed"]

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
        self._closed = False

    def push_frame(self, frame: av.AudioFrame, monotonic: float) -> None:
        """A decoded frame that left the decoder at ``monotonic``."""
        pcm = self._resampler.resample(frame)
        if len(pcm):
            self.push(pcm, self.timeline.cafe_time(monotonic))

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
